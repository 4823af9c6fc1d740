"""Figure for the patching lesson: principal components of patch-embedding filters (paper Fig. 7 left).

Returns a pyplot-free :class:`matplotlib.figure.Figure` (see :mod:`vit_edu.viz.render`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from vit_edu.analysis.embedding_filters import FilterComponents
from vit_edu.checks import check_int
from vit_edu.viz.render import new_figure

CURVE_COLOURS = ("tab:blue", "tab:grey", "tab:orange", "tab:green", "tab:red", "tab:purple")


def component_image(component: torch.Tensor) -> np.ndarray:
    """One component (C, P_h, P_w) as a picture scaled to its own range [min, max] -> [0, 1].

    Components have no natural brightness (their sign and length are conventions), so each is shown
    with its smallest value black and its largest white (per colour channel jointly for C = 3).

    Returns:
        (P_h, P_w, 3) for C = 3 (RGB), (P_h, P_w) for C = 1 (grey); a constant component is 0.5 everywhere.
    """
    if not isinstance(component, torch.Tensor) or component.ndim != 3 or component.shape[0] not in (1, 3):
        shape = tuple(component.shape) if isinstance(component, torch.Tensor) else type(component).__name__
        raise ValueError(f"component must be a tensor of shape (C, P_h, P_w) with C = 1 or 3, got {shape}.")
    array = component.detach().to(torch.float64).permute(1, 2, 0).numpy()  # (P_h, P_w, C)
    low, high = array.min(), array.max()
    scaled = np.full_like(array, 0.5) if high - low <= 0 else (array - low) / (high - low)
    return scaled[:, :, 0] if scaled.shape[2] == 1 else scaled


def plot_filter_components(results: Mapping[str, FilterComponents], num_shown: int = 16, columns: int = 4,
                           title: str = "principal components of the patch-embedding filters") -> Figure:
    """Fig. 7 (left) of the paper for several sets of filters side by side, and their variance curves.

    One panel per entry of ``results``: its first ``num_shown`` components in a grid of ``columns``
    columns, each tile titled with the share of variance it explains. A last panel draws, for every
    entry, the cumulative share explained by the first k components against k: filters with
    structure put most of their variance into a few components; independent random filters spread
    it over all of them.

    Args:
        results: label -> :class:`~vit_edu.analysis.embedding_filters.FilterComponents` (e.g.
            "trained", "at initialisation"), each with at least ``num_shown`` components.
        num_shown: components drawn per entry.
        columns: tiles per row of a panel.

    Returns:
        a figure with ``len(results) * num_shown + 1`` axes.
    """
    if not results:
        raise ValueError("results must hold at least one label -> FilterComponents entry.")
    check_int(num_shown, "num_shown")
    check_int(columns, "columns")
    for label, result in results.items():
        if not isinstance(result, FilterComponents):
            raise TypeError(f"results[{label!r}] must be a FilterComponents (from patch_embedding_components), "
                            f"got {type(result).__name__}.")
        if result.components.shape[0] < num_shown:
            raise ValueError(f"results[{label!r}] has {result.components.shape[0]} components but num_shown is "
                             f"{num_shown}; compute more (k=None gives all) or show fewer.")
    rows = -(-num_shown // columns)
    panels = len(results)
    figure = new_figure(2.3 * panels + 3.0, 0.62 * rows + 1.3)
    parts = figure.subfigures(1, panels + 1, width_ratios=[1.0] * panels + [1.3], wspace=0.02)
    for part, (label, result) in zip(parts[:panels], results.items()):
        axes = part.subplots(rows, columns, squeeze=False).ravel()
        for ax in axes[num_shown:]:
            ax.remove()  # the unused end of the last row
        for index, ax in enumerate(axes[:num_shown]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(component_image(result.components[index]), cmap="gray", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
            ax.set_title(f"{100 * float(result.explained_variance_ratio[index]):.0f}%", fontsize=9, pad=2)
        part.suptitle(label, fontsize=9, y=0.86)
        part.subplots_adjust(left=0.03, right=0.97, bottom=0.03, top=0.75, wspace=0.15, hspace=0.45)
    ax = parts[-1].subplots()
    for (label, result), colour in zip(results.items(), CURVE_COLOURS * (panels // len(CURVE_COLOURS) + 1)):
        cumulative = 100 * result.explained_variance_ratio.detach().cpu().double().cumsum(0).numpy()
        ax.plot(np.arange(1, len(cumulative) + 1), cumulative, marker="o", markersize=2.5, color=colour, label=label)
    ax.set(xlabel="number of components k", ylabel="variance explained (%)", ylim=(0, 102),
           title="first k components explain")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower right")
    parts[-1].subplots_adjust(left=0.2, right=0.97, bottom=0.3, top=0.78)
    figure.suptitle(title, fontsize=10, y=0.99)
    return figure
