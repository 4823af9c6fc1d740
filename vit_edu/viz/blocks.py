"""Figures of the encoder lesson: the pre-norm and the post-norm block side by side, and GELU.

:func:`block_diagram_figure` draws an encoder block as a flow chart read from the bottom up, once
as ViT arranges it (pre-norm, Eq. 2-3: the LayerNorm sits inside each branch, the residual path
carries no LayerNorm) and once as the original Transformer did (post-norm: a LayerNorm after each
residual sum). The residual (identity) path is red. :func:`gelu_figure` compares the exact GELU,
its tanh approximation and ReLU, and shows the difference of the two GELUs.

Both return a pyplot-free :class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vit_edu.viz.render import new_figure

RESIDUAL_COLOUR = "#c44e52"
BOX_COLOUR = "#dde6f3"
TEXT_SIZE = 10
STEP = 0.6  # vertical distance between two steps of a block

# (title, steps from the bottom up, residual skips as (from step, to the "+" step))
BLOCKS = {
    "pre": ("pre-norm (ViT, Eq. 2-3)", ("$z_{\\ell-1}$", "LN", "MSA", "+", "LN", "MLP", "+", "$z_\\ell$"),
            ((0, 3), (3, 6))),
    "post": ("post-norm (Transformer, 2017)", ("$z_{\\ell-1}$", "MSA", "+", "LN", "MLP", "+", "LN", "$z_\\ell$"),
             ((0, 2), (3, 5))),
}


def _draw_block(ax: Axes, title: str, steps: Sequence[str], skips: Sequence[tuple[int, int]]) -> None:
    """One block as a vertical chain of boxes; each skip is a red line from a step to a "+" step."""
    heights = [STEP * i for i in range(len(steps))]
    for i, label in enumerate(steps):
        if label == "+":
            style = dict(boxstyle="circle,pad=0.15", fc="white")
        elif label.startswith("$"):
            style = dict(boxstyle="square,pad=0.1", fc="none", ec="none")
        else:
            style = dict(boxstyle="round", fc=BOX_COLOUR)
        ax.text(0.5, heights[i], label, ha="center", va="center", fontsize=TEXT_SIZE, bbox=style, zorder=3)
        if i:
            ax.annotate("", (0.5, heights[i] - 0.17), (0.5, heights[i - 1] + 0.17), arrowprops=dict(arrowstyle="->"))
    for start, end in skips:
        ax.plot([0.5, 0.12, 0.12], [heights[start] + 0.3, heights[start] + 0.3, heights[end]], color=RESIDUAL_COLOUR,
                lw=1.2, label="residual")
        ax.annotate("", (0.43, heights[end]), (0.12, heights[end]), arrowprops=dict(arrowstyle="->",
                                                                                   color=RESIDUAL_COLOUR))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.4, STEP * len(steps) - 0.2)
    ax.set_title(title, fontsize=TEXT_SIZE)
    ax.axis("off")


def block_diagram_figure(kinds: Sequence[str] = ("pre", "post")) -> Figure:
    """The encoder block arranged pre-norm (ViT) and post-norm (the 2017 Transformer), side by side.

    Args:
        kinds: which arrangements to draw, in order, among ``"pre"`` and ``"post"``.
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds or any(kind not in BLOCKS for kind in kinds):
        raise ValueError(f"kinds must name block arrangements among {tuple(BLOCKS)}, got {kinds!r}.")
    figure = new_figure(3.2 * len(kinds), 3.6)
    axes = np.atleast_1d(figure.subplots(1, len(kinds)))
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.08, top=0.92)
    for ax, kind in zip(axes, kinds):
        _draw_block(ax, *BLOCKS[kind])
    figure.text(0.5, 0.01, "red: the residual (identity) path", ha="center", color=RESIDUAL_COLOUR,
                fontsize=TEXT_SIZE - 1)
    return figure


def gelu_figure(x: torch.Tensor, exact: torch.Tensor, approximate: torch.Tensor, every: int = 500) -> Figure:
    """Left: ReLU, the exact GELU and its tanh approximation; right: exact minus approximation.

    Args:
        x: the points (1-D), e.g. ``torch.linspace(-6, 6, 120_001)``.
        exact, approximate: the exact GELU and the tanh approximation at ``x``.
        every: plot every ``every``-th point (the curves are smooth).
    """
    x, exact, approximate = (torch.as_tensor(t).detach().double().cpu().ravel() for t in (x, exact, approximate))
    if not len(x) == len(exact) == len(approximate) or len(x) < 2:
        raise ValueError(f"x, exact and approximate must be 1-D of the same length >= 2, got {len(x)}, "
                         f"{len(exact)} and {len(approximate)}.")
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive int, got {every!r}.")
    xs, exact, approximate = x[::every].numpy(), exact[::every].numpy(), approximate[::every].numpy()
    figure = new_figure(7.5, 2.8)
    ax_act, ax_gap = figure.subplots(1, 2)
    ax_act.plot(xs, np.maximum(xs, 0), color="grey", lw=1, label="ReLU")
    ax_act.plot(xs, exact, lw=2, label="GELU (exact)")
    ax_act.plot(xs, approximate, "--", lw=1, label="GELU (tanh approx.)")
    ax_act.set(xlim=(-4, 4), ylim=(-0.5, 4), xlabel="x")
    ax_act.legend(fontsize=9)
    ax_act.set_title("activation", fontsize=TEXT_SIZE)
    ax_gap.plot(xs, exact - approximate)
    ax_gap.set_xlabel("x")
    ax_gap.set_title("exact minus tanh approximation", fontsize=TEXT_SIZE)
    ax_gap.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    figure.tight_layout()
    return figure
