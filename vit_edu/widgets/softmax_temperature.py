"""Softmax temperature explorer: why attention divides q k^T by sqrt(d) (Vaswani et al. 2017, §3.2.1).

softmax(s / tau)_j = exp(s_j / tau) / sum_i exp(s_i / tau). Dividing the scores by a temperature
tau > 1 flattens the weights (entropy -> log T); tau -> 0 picks the largest score (entropy -> 0).
For q, k with independent unit-variance entries, q . k has variance d, so raw dot products get
larger with the head width d and the softmax saturates: one weight near 1, gradients near 0.
Scaling by 1/sqrt(d) is the temperature tau = sqrt(d) that brings the variance back to 1.

- :func:`dot_product_statistics` measures this for several d;
- :class:`SoftmaxTemperatureState` holds one query's scores; ``set_temperature`` returns the
  weights and their entropy;
- :func:`softmax_temperature_figure` (static) and :func:`softmax_temperature_widget` (slider)
  draw the weights with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vit_edu.language import tr
from vit_edu.viz.render import figure_to_png, new_figure


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a positive number, got {temperature!r}.")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive finite number (e.g. 1.0 or 8.0), got {temperature}.")
    return float(temperature)


def _check_scores(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.size and not np.isfinite(values).all():
        raise ValueError("scores must be finite numbers, got NaN or infinity; a softmax of them is undefined.")
    return values


def softmax_with_temperature(scores: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(scores / temperature) over the last axis, computed stably in float64.

    The maximum is subtracted *before* dividing: (s - max) / tau <= 0, so exp never overflows, and a
    tiny tau sends the other scores to -inf (weight 0) instead of making inf - inf = NaN.
    """
    scores = _check_scores(scores)
    temperature = _check_temperature(temperature)
    with np.errstate(over="ignore"):  # a gap (or gap / tau) beyond float64 is -inf: weight exactly 0
        shifted = scores - scores.max(axis=-1, keepdims=True)  # <= 0, the maximum exactly 0
        exp = np.exp(shifted / temperature)
    return exp / exp.sum(axis=-1, keepdims=True)


def entropy(weights: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats over the last axis: 0 for one-hot, log T for uniform weights."""
    weights = np.asarray(weights, dtype=np.float64)
    logs = np.log(np.where(weights > 0, weights, 1.0))
    return -(weights * logs).sum(axis=-1) + 0.0  # + 0.0 turns a one-hot's -0.0 into 0.0


def example_scores(head_dim: int = 64, num_keys: int = 8, seed: int = 2) -> np.ndarray:
    """Raw (unscaled) scores q . k_j of one random query against ``num_keys`` random keys, width d."""
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(head_dim, generator=generator, dtype=torch.float64)  # (d,)
    keys = torch.randn(num_keys, head_dim, generator=generator, dtype=torch.float64)  # (T, d)
    return (keys @ query).numpy()  # (T,)


@dataclass(frozen=True)
class DotProductStats:
    """Statistics of q . k for one head width d (averaged over random queries)."""

    head_dim: int
    variance_raw: float  # var(q . k), about d
    variance_scaled: float  # var(q . k / sqrt(d)), about 1
    max_weight_raw: float  # mean largest softmax weight without scaling
    max_weight_scaled: float  # ... with 1/sqrt(d)
    entropy_raw: float  # mean entropy (nats) without scaling
    entropy_scaled: float
    jacobian_norm_raw: float  # mean Frobenius norm of d softmax / d scores: small = vanishing gradients
    jacobian_norm_scaled: float


def _jacobian_norm(weights: torch.Tensor) -> torch.Tensor:
    """||diag(p) - p p^T||_F for each row p of (..., T) weights."""
    jacobian = torch.diag_embed(weights) - weights.unsqueeze(-1) * weights.unsqueeze(-2)  # (..., T, T)
    return jacobian.flatten(-2).norm(dim=-1)  # (...)


def dot_product_statistics(
    head_dims: Sequence[int] = (4, 16, 64, 256, 1024), num_queries: int = 500, seq_len: int = 16, seed: int = 0
) -> list[DotProductStats]:
    """Sample q, k with N(0, 1) entries and measure the raw and 1/sqrt(d)-scaled scores.

    Args:
        head_dims: widths d to try.
        num_queries: random queries per d (each against its own ``seq_len`` random keys).
        seq_len: T, keys per query.
        seed: seed of the samples.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for head_dim in head_dims:
        q = torch.randn(num_queries, 1, head_dim, generator=generator)  # (Q, 1, d)
        k = torch.randn(num_queries, seq_len, head_dim, generator=generator)  # (Q, T, d)
        raw = (q @ k.transpose(-2, -1)).squeeze(1).double()  # (Q, T)
        scaled = raw / math.sqrt(head_dim)  # (Q, T)
        stats = {}
        for name, scores in (("raw", raw), ("scaled", scaled)):
            weights = scores.softmax(dim=-1)  # (Q, T)
            stats[f"variance_{name}"] = scores.var().item()
            stats[f"max_weight_{name}"] = weights.max(dim=-1).values.mean().item()
            stats[f"entropy_{name}"] = float(entropy(weights.numpy()).mean())
            stats[f"jacobian_norm_{name}"] = _jacobian_norm(weights).mean().item()
        rows.append(DotProductStats(head_dim=head_dim, **stats))
    return rows


class SoftmaxTemperatureState:
    """One query's scores and a temperature; the widget's whole state.

    Args:
        scores: raw scores (T,), e.g. :func:`example_scores`.
        temperature: initial tau (sqrt(d) is what attention uses).
        labels: names of the keys for the x axis (default ``k1 .. kT``).
    """

    def __init__(self, scores: Sequence[float], temperature: float = 1.0, labels: Sequence[str] | None = None):
        scores = _check_scores(scores)
        if scores.ndim != 1 or scores.size < 2:
            raise ValueError(f"scores must be a 1-D array of at least 2 values, got shape {scores.shape}.")
        if labels is not None and len(labels) != scores.size:
            raise ValueError(f"labels has {len(labels)} names but there are {scores.size} scores.")
        self.scores = scores
        self.labels = list(labels) if labels is not None else [f"k{i + 1}" for i in range(scores.size)]
        self.max_entropy = math.log(scores.size)
        self.set_temperature(temperature)

    def set_temperature(self, temperature: float) -> tuple[np.ndarray, float]:
        """Set tau; returns ``(weights (T,), entropy in nats)``."""
        self.temperature = _check_temperature(temperature)
        self.weights = softmax_with_temperature(self.scores, self.temperature)
        self.entropy = float(entropy(self.weights))
        return self.weights, self.entropy

    def label(self) -> str:
        """One line describing the current state."""
        return tr("tau = {tau:.2f}: largest weight {weight:.2f}, entropy {entropy:.2f} of max {most:.2f} nats",
                  tau=self.temperature, weight=self.weights.max(), entropy=self.entropy, most=self.max_entropy)

    def title(self) -> str:
        """A two-line title for a plot of the current weights."""
        return f"tau = {self.temperature:.2f}\nlargest weight {self.weights.max():.2f}, entropy {self.entropy:.2f} nats"


def _draw(axes, state: SoftmaxTemperatureState):
    bars = axes.bar(range(state.scores.size), state.weights, color="tab:blue")
    axes.set_xticks(range(state.scores.size), state.labels)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("attention weight")
    title = axes.set_title(state.title(), fontsize=9)
    return bars, title


def _update(bars, title, state: SoftmaxTemperatureState) -> None:
    for bar, weight in zip(bars, state.weights):
        bar.set_height(weight)
    title.set_text(state.title())


def softmax_temperature_figure(scores: Sequence[float], temperatures: Sequence[float] = (1.0, 8.0, 32.0)):
    """Static figure: the weights of ``scores`` at several temperatures, side by side."""
    figure = new_figure(3.2 * len(temperatures), 3.0)
    for index, temperature in enumerate(temperatures):
        axes = figure.add_subplot(1, len(temperatures), index + 1)
        _draw(axes, SoftmaxTemperatureState(scores, temperature))
    figure.tight_layout()
    return figure


def softmax_temperature_widget(scores: Sequence[float], temperature: float = 1.0):
    """A log-scale temperature slider redrawing the weights (needs ipywidgets)."""
    import ipywidgets as widgets

    from vit_edu.widgets.picture import picture as picture_widget
    from vit_edu.widgets.picture import show

    state = SoftmaxTemperatureState(scores, temperature)
    figure = new_figure(5.0, 3.0)
    bars, title = _draw(figure.add_subplot(1, 1, 1), state)
    figure.tight_layout()
    image = picture_widget(figure_to_png(figure))
    slider = widgets.FloatLogSlider(value=state.temperature, base=10, min=-1.5, max=2, step=0.05,
                                    description="tau", continuous_update=True)

    def on_change(change) -> None:
        state.set_temperature(change["new"])
        _update(bars, title, state)
        show(image, figure_to_png(figure))

    slider.observe(on_change, names="value")
    return widgets.VBox([slider, image])
