"""The figure of the data-scale sweep, in the style of the paper's Fig. 3/4: accuracy against pre-training size.

One panel per evaluation (fine-tuning at a fixed label budget, linear few-shot, and the
pre-training task itself), one line per model: the mean over seeds, a band from the worst to the
best seed. Returns a pyplot-free :class:`matplotlib.figure.Figure` (see :mod:`vit_edu.viz.render`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from vit_edu.viz.render import new_figure

MODEL_STYLE = {"vit": ("ViT", "tab:blue", "o"), "cnn": ("CNN (same size)", "tab:grey", "s")}
PANELS = (  # (evaluation, title, chance: None = the downstream task's)
    ("finetune_accuracy", "fine-tuned, 10 labels per class", None),
    ("fewshot_10", "linear 10-shot (ridge, frozen features)", None),
    ("pretrain_test_accuracy", "pre-training task (12 glyphs)", 1 / 12),
)


def _size_label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def plot_crossover(summary: Mapping[str, Sequence[dict[str, Any]]], chance: float = 0.1,
                   live: Sequence[dict[str, Any]] = (), panels: Sequence[tuple] = PANELS) -> Figure:
    """Accuracy (%) against pre-training images, one panel per evaluation and one line per model.

    Args:
        summary: ``{evaluation: rows}``, each list the :func:`vit_edu.training.results.summarize` of
            the sweep's rows by model and size (fields model, size, mean, min, max).
        chance: the downstream task's chance accuracy (a dotted line).
        live: rows of :func:`vit_edu.training.crossover.run_point` run in the notebook (black crosses).
        panels: (evaluation, title, chance or None) of each panel.
    """
    missing = [name for name, _, _ in panels if name not in summary]
    if missing:
        raise ValueError(f"summary lacks the evaluations {missing}; it has {sorted(summary)}.")
    figure = new_figure(3.6 * len(panels), 4.0)
    axes = np.atleast_1d(figure.subplots(1, len(panels), sharex=True))
    sizes = sorted({row["size"] for rows in summary.values() for row in rows})
    for ax, (name, title, panel_chance) in zip(axes, panels):
        for model, (label, colour, marker) in MODEL_STYLE.items():
            rows = sorted((row for row in summary[name] if row["model"] == model), key=lambda row: row["size"])
            if not rows:
                continue
            x = np.array([row["size"] for row in rows])
            ax.fill_between(x, [100 * row["min"] for row in rows], [100 * row["max"] for row in rows], color=colour,
                            alpha=0.2, linewidth=0)
            ax.plot(x, [100 * row["mean"] for row in rows], color=colour, marker=marker, label=label)
        for index, row in enumerate(live):
            if name in row:
                ax.plot(row["size"], 100 * row[name], "kx", markersize=9, markeredgewidth=2,
                        label="re-run in this notebook" if index == 0 else None)
        ax.axhline(100 * (chance if panel_chance is None else panel_chance), color="black", linestyle=":",
                   linewidth=1, label="chance")
        ax.set_xscale("log")
        ax.set_xticks(sizes, [_size_label(size) for size in sizes])
        ax.minorticks_off()
        ax.set_ylim(0, 100)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("pre-training images", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)", fontsize=10)
    axes[0].legend(fontsize=9, loc="upper left")
    figure.tight_layout()
    return figure
