"""Figures for the inductive-bias lesson: images, feature maps and receptive-field masks side by side, and
accuracy against training-set size (the data-efficiency sweep).

:func:`image_panels_figure` draws a grid of titled panels, each an image (C, H, W) or a map (H, W):
a shifted image next to the feature maps before and after the shift, an image next to its shuffled
patches, or the input pixels that can change one output cell. It returns a pyplot-free
:class:`matplotlib.figure.Figure` (``display(fig)`` in a notebook).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from vit_edu.checks import check_int, check_number
from vit_edu.training.data_efficiency import FRACTIONS, MODEL_NAMES
from vit_edu.viz.render import new_figure

MAP_STYLES = ("viridis", "signed", "mask")


def _picture(title: str, picture: torch.Tensor) -> np.ndarray:
    if not isinstance(picture, torch.Tensor) or picture.ndim not in (2, 3):
        got = tuple(picture.shape) if isinstance(picture, torch.Tensor) else type(picture).__name__
        raise ValueError(f"panel {title!r} must be an image (C, H, W) or a map (H, W) tensor, got {got}.")
    if picture.ndim == 3:
        if picture.shape[0] not in (1, 3):
            raise ValueError(f"panel {title!r}: an image needs 1 or 3 channels first, got {tuple(picture.shape)}.")
        array = picture.detach().float().clamp(0, 1).permute(1, 2, 0).numpy()
        return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array
    return picture.detach().float().numpy()


def image_panels_figure(panels: Sequence[tuple[str, torch.Tensor]], columns: int | None = None,
                        signed: Collection[str] = (), signed_scale: float | None = None, masks: bool = False,
                        title: str = "", cell: float = 1.8) -> Figure:
    """Titled panels in a grid, row by row: images in colour, maps with a colour scale.

    Args:
        panels: ``(title, picture)`` pairs; a picture is an image (C, H, W) with C = 1 or 3 and values in
            [0, 1] (clamped), or a map (H, W).
        columns: panels per row (default: all in one row).
        signed: titles of maps drawn with a diverging scale centred at 0 (red above, blue below), e.g.
            a difference that should vanish.
        signed_scale: the top of that scale, from ``-signed_scale`` to ``signed_scale`` (default: each
            map's largest absolute value). Give the range of the maps it is compared with, so that
            "zero everywhere" reads as zero.
        masks: draw every map as a mask: black where it is > 0, white elsewhere.
        title: a title over the whole figure.
        cell: inches per panel (at the course's resolution, ``vit_edu.viz.render.MIN_DPI``).
    """
    if isinstance(panels, (str, bytes)) or not isinstance(panels, Sequence) or not panels:
        raise ValueError("panels must be a non-empty list of (title, picture) pairs.")
    if not all(isinstance(p, (tuple, list)) and len(p) == 2 and isinstance(p[0], str) for p in panels):
        raise ValueError("every panel must be a (title, picture) pair with a str title.")
    titles = [name for name, _ in panels]
    unknown = sorted(set(signed) - set(titles))
    if unknown:
        raise ValueError(f"signed names panels {unknown} that are not among the titles {titles}.")
    if signed_scale is not None:
        check_number(signed_scale, "signed_scale", minimum=0.0, open_minimum=True)
    columns = len(panels) if columns is None else check_int(columns, "columns")
    pictures = [_picture(name, picture) for name, picture in panels]
    rows = math.ceil(len(panels) / columns)
    figure = new_figure(cell * columns, cell * rows + (0.3 if title else 0.0))
    axes = list(figure.subplots(rows, columns, squeeze=False).flat)
    for ax, name, picture in zip(axes, titles, pictures):
        if picture.ndim == 3:
            ax.imshow(picture, interpolation="nearest")
        elif name in signed:
            top = signed_scale if signed_scale is not None else max(float(np.abs(picture).max()), 1e-12)
            ax.imshow(picture, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
        elif masks:
            ax.imshow((picture > 0).astype(float), cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(picture, cmap="viridis", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(panels):]:  # the rest of the last row
        ax.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def plot_data_efficiency(table: dict[str, Any], task: str, ax=None):
    """Test accuracy vs share of the training set: mean over seeds (line), every seed (dots), per model.

    Args:
        table: the committed table (``rows`` and ``summary`` as written by the benchmark script).
        task: which task to draw.
        ax: a matplotlib Axes (a new pyplot-free figure's Axes if ``None``).

    Returns:
        The Axes.
    """
    if ax is None:
        figure = new_figure(4.2, 3.2)
        figure.set_layout_engine("constrained")
        ax = figure.add_subplot()
    colours = {"cnn": "tab:blue", "hybrid": "tab:green", "vit": "tab:orange"}
    labels = {"cnn": "CNN", "hybrid": "hybrid", "vit": "ViT"}
    for model in MODEL_NAMES:
        summary = [s for s in table["summary"] if (s["task"], s["model"]) == (task, model)]
        if not summary:
            raise ValueError(f"the table has no rows for task={task!r}, model={model!r}; re-run "
                             "benchmarks/data_efficiency.py for it.")
        rows = [r for r in table["rows"] if (r["task"], r["model"]) == (task, model)]
        points = [(r["fraction"], r["test_accuracy"]) for r in rows]
        ax.plot([s["fraction"] for s in summary], [s["mean"] for s in summary], "-o", color=colours[model],
                label=f"{labels[model]} (mean of {summary[0]['seeds']} seed{'s' if summary[0]['seeds'] > 1 else ''})")
        ax.scatter(*zip(*points), s=12, color=colours[model], alpha=0.4)
    ax.set_xscale("log")
    ax.set_xticks(list(FRACTIONS), [f"{f:.0%}" for f in FRACTIONS])
    ax.minorticks_off()
    ax.set_xlabel("share of the training set")
    ax.set_ylabel("test accuracy")
    ax.set_title(task)
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(alpha=0.3)
    return ax
