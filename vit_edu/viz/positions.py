"""Figure for the position-embedding ablation (paper Appendix D.4, Table 8): accuracy per kind of E_pos.

Returns a pyplot-free :class:`matplotlib.figure.Figure` (see :mod:`vit_edu.viz.render`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from vit_edu.config import POSITION_EMBEDDING_CHOICES
from vit_edu.viz.render import new_figure

POSITION_LABELS = {
    "learned": "learned 1-D\n(the default)",
    "learned_2d": "learned 2-D",
    "sincos_2d": "sine-cosine 2-D\n(fixed)",
    "none": "none",
}
POSITION_COLOURS = {"learned": "tab:blue", "learned_2d": "tab:green", "sincos_2d": "tab:purple", "none": "tab:grey"}


def ablation_accuracies(rows: Sequence[Mapping[str, Any]], value: str = "test_accuracy") -> dict[str, list[float]]:
    """kind -> the ``value`` of each of its runs, kinds in the order of ``POSITION_EMBEDDING_CHOICES``.

    Args:
        rows: one dict per training run with ``position_embedding`` and ``value`` (as in
            ``benchmarks/results/position_ablation.json``).
    """
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence) or not rows:
        raise ValueError("rows must be a non-empty list of dicts, one per run, e.g. the table's 'rows'.")
    found: dict[str, list[float]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or "position_embedding" not in row or value not in row:
            raise ValueError(f"rows[{index}] must be a dict with 'position_embedding' and {value!r}, got {row!r}.")
        kind = row["position_embedding"]
        if kind not in POSITION_EMBEDDING_CHOICES:
            raise ValueError(f"rows[{index}] has position_embedding={kind!r}; expected one of "
                             f"{POSITION_EMBEDDING_CHOICES}.")
        found.setdefault(kind, []).append(float(row[value]))
    return {kind: found[kind] for kind in POSITION_EMBEDDING_CHOICES if kind in found}


def plot_position_ablation(rows: Sequence[Mapping[str, Any]], live: Mapping[str, float] | None = None,
                           chance: float | None = None, title: str | None = None) -> Figure:
    """Test accuracy per kind of position embedding: a bar at the mean over seeds, a dot for each seed.

    Args:
        rows: one dict per run (``position_embedding``, ``test_accuracy``), see :func:`ablation_accuracies`.
        live: optional kind -> accuracy of runs repeated in the notebook, drawn as black crosses.
        chance: accuracy of guessing, drawn as a dotted line.
        title: optional axes title.
    """
    accuracies = ablation_accuracies(rows)
    figure = new_figure(6.4, 3.6)
    ax = figure.subplots()
    for x, (kind, values) in enumerate(accuracies.items()):
        percent = 100 * np.asarray(values)
        ax.bar(x, percent.mean(), width=0.6, color=POSITION_COLOURS[kind], alpha=0.45)
        offsets = np.linspace(-0.15, 0.15, len(percent)) if len(percent) > 1 else np.zeros(1)
        ax.scatter(x + offsets, percent, color=POSITION_COLOURS[kind], edgecolor="black", linewidth=0.5, zorder=3,
                   s=28, label="one seed" if x == 0 else None)
        ax.text(x, 35, f"mean\n{percent.mean():.1f} %", ha="center", va="bottom", fontsize=9)
    for index, (kind, accuracy) in enumerate((live or {}).items()):
        if kind not in accuracies:
            raise ValueError(f"live has {kind!r}, which is not among the table's kinds {list(accuracies)}.")
        ax.plot(list(accuracies).index(kind), 100 * accuracy, "kx", markersize=9, markeredgewidth=2, zorder=4,
                label="re-run in this notebook" if index == 0 else None)
    if chance is not None:
        ax.axhline(100 * chance, color="black", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(range(len(accuracies)), [POSITION_LABELS[kind] for kind in accuracies])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)  # bars start at zero, so their lengths compare
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    ax.set_title(title or "position embeddings, retrained: mean over seeds (bars) and each seed (dots)", fontsize=10)
    figure.tight_layout()
    return figure
