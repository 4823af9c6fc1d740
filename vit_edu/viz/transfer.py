"""Figures for the transfer lesson: example images of both tasks, accuracy against labelled images per
class, and E_pos before/after resampling.

All return a pyplot-free :class:`matplotlib.figure.Figure` (see :mod:`vit_edu.viz.render`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from vit_edu.analysis.positions import position_similarity, similarity_mosaic
from vit_edu.viz.render import new_figure

METHOD_STYLE = {  # (method, image size) -> label, colour, line style
    ("finetune", 32): ("ViT fine-tuned (32 px)", "tab:blue", "-"),
    ("finetune", 48): ("ViT fine-tuned at 48 px", "tab:blue", "--"),
    ("linear_probe", 32): ("linear probe on frozen features", "tab:green", "-"),
    ("scratch", 32): ("ViT from scratch", "tab:red", "-"),
    ("cnn", 32): ("small CNN from scratch", "tab:grey", "-"),
}


def plot_task_examples(rows: Sequence[tuple[torch.Tensor, Sequence[str]]], count: int = 8,
                       title: str = "pre-training (glyph shapes) and downstream (digits in clutter, 32 and 48 px)"
                       ) -> Figure:
    """A grid of example images: one row per entry of ``rows``, the first ``count`` images, each with its caption.

    Args:
        rows: ``(images (B, 3, H, W) in [0, 1], captions)`` per row, with at least ``count`` of each;
            e.g. pre-training glyphs with their class names, then downstream digits at 32 and at 48 px.
        count: images per row.
        title: the figure's title.

    Returns:
        a figure with ``len(rows) * count`` axes, row by row.
    """
    if not rows:
        raise ValueError("rows must hold at least one (images, captions) pair.")
    for index, (images, captions) in enumerate(rows):
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"rows[{index}] images must be a (B, 3, H, W) tensor, got {shape}.")
        if len(images) < count or len(captions) < count:
            raise ValueError(f"rows[{index}] has {len(images)} images and {len(captions)} captions; "
                             f"count={count} needs at least that many of each.")
    figure = new_figure(8.0, 1.13 * len(rows))
    axes = figure.subplots(len(rows), count, squeeze=False)
    for row_axes, (images, captions) in zip(axes, rows):
        for ax, image, caption in zip(row_axes, images[:count], captions[:count]):
            ax.imshow(image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_title(str(caption), fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def _x_position(per_class: int | None, all_per_class: float) -> float:
    return all_per_class if per_class is None else float(per_class)


def plot_label_budget(summary: Sequence[dict[str, Any]], all_per_class: float = 134.7,
                      live: Sequence[dict[str, Any]] = (), chance: float = 0.1) -> Figure:
    """Test accuracy (mean over seeds, bar = min..max) against labelled images per class, one line per method.

    Args:
        summary: rows of :func:`vit_edu.training.results.summarize` by ``transfer.SUMMARY_BY``
            (method, image_size, per_class, mean, min, max).
        all_per_class: where to draw the budget ``None`` ("all"): the mean number of images per class.
        live: rows of :func:`vit_edu.training.transfer.run_transfer` run in the notebook, drawn as black crosses.
        chance: accuracy of guessing, drawn as a dotted line.
    """
    figure = new_figure(6.4, 3.8)
    ax = figure.subplots()
    for (method, size), (label, colour, style) in METHOD_STYLE.items():
        cells = [row for row in summary if row["method"] == method and row["image_size"] == size]
        if not cells:
            continue
        x = np.array([_x_position(row["per_class"], all_per_class) for row in cells])
        mean = 100 * np.array([row["mean"] for row in cells])
        spread = 100 * np.array([[row["mean"] - row["min"] for row in cells],
                                 [row["max"] - row["mean"] for row in cells]])  # (2, budgets)
        ax.errorbar(x, mean, yerr=spread, color=colour, linestyle=style, marker="o", markersize=4, capsize=3,
                    label=label)
    for index, row in enumerate(live):
        ax.plot(_x_position(row["per_class"], all_per_class), 100 * row["test_accuracy"], "kx", markersize=8,
                label="re-run in this notebook" if index == 0 else None)
    ax.axhline(100 * chance, color="black", linestyle=":", linewidth=1, label="chance")
    ax.set_xscale("log")
    ticks = [5, 10, 20, 50, all_per_class]
    ax.set_xticks(ticks, [str(t) for t in ticks[:-1]] + [f"all\n(~{all_per_class:.0f})"])
    ax.minorticks_off()
    ax.set(xlabel="labelled images per class", ylabel="test accuracy (%)", ylim=(0, 100),
           title="digits in clutter: pre-trained vs from scratch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    figure.tight_layout()
    return figure


def plot_resampled_similarity(pos_embed: torch.Tensor, grid_size: tuple[int, int], resampled: torch.Tensor,
                              new_grid_size: tuple[int, int]) -> Figure:
    """Fig. 7 (centre) of the paper for E_pos before and after 2-D resampling: tile (r, c) = cos(E_rc, E_ij)."""
    figure = new_figure(8.0, 4.0)
    axes = figure.subplots(1, 2)
    for ax, embeddings, grid in ((axes[0], pos_embed, grid_size), (axes[1], resampled, new_grid_size)):
        mosaic = similarity_mosaic(position_similarity(embeddings, grid))
        image = ax.imshow(mosaic, cmap="viridis", vmin=-1, vmax=1)
        ax.set_title(f"{grid[0]} x {grid[1]} patches ({grid[0] * grid[1]} + class token)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="cosine similarity")
    return figure
