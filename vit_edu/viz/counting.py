"""Figures of the parameter-counting lesson: where the parameters go, how the count scales, what
the image size costs.

- :func:`parameter_shares_figure`: one stacked bar per model, the share of each group of parameters;
- :func:`parameter_scaling_figure`: one panel per hyper-parameter, the count as it changes;
- :func:`resolution_cost_figure`: FLOPs and parameters against the image size, and the share of the
  FLOPs that attention's T^2 products take.

All return a pyplot-free :class:`matplotlib.figure.Figure`; the lesson computes the numbers (with
``vit_edu.counting``) and hands them over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from vit_edu.viz.render import new_figure

GROUP_COLOURS = {"embeddings": "#8172b2", "attention": "#4c72b0", "mlp": "#55a868", "layer_norms": "#ccb974",
                 "head": "#c44e52"}
BASELINE_COLOUR = "#c44e52"
TEXT_SIZE = 10


def _same_length(name: str, xs: Sequence, ys: Sequence) -> None:
    if len(xs) != len(ys) or len(xs) == 0:
        raise ValueError(f"{name}: x and y values must be non-empty and of the same length, got {len(xs)} and "
                         f"{len(ys)}.")


def parameter_shares_figure(shares: Mapping[str, Mapping[str, float]],
                            colours: Mapping[str, str] = GROUP_COLOURS) -> Figure:
    """One horizontal bar per model: the share (0-1) of its parameters in each group, stacked to 100 %.

    Args:
        shares: ``{model name: {group: share}}``; every model has the groups of ``colours``.
        colours: ``{group: colour}``, in the order the bars are stacked.
    """
    names = list(shares)
    if not names:
        raise ValueError("shares is empty: give {model name: {group: share}}.")
    for name in names:
        missing = [group for group in colours if group not in shares[name]]
        if missing:
            raise ValueError(f"shares[{name!r}] has no {missing}; it needs every group of {list(colours)}.")
    figure = new_figure(6.5, 0.9 + 0.32 * len(names))
    ax = figure.subplots()
    left = np.zeros(len(names))
    for group, colour in colours.items():
        widths = np.array([100 * shares[name][group] for name in names])
        ax.barh(names, widths, left=left, color=colour, label=group.replace("_", " "))
        left += widths
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the parameters (%)", fontsize=TEXT_SIZE)
    ax.legend(ncol=len(colours), fontsize=9, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    figure.tight_layout()
    return figure


def parameter_scaling_figure(series: Mapping[str, tuple[Sequence[float], Sequence[int]]], baseline: int, *,
                             guides: Mapping[str, tuple[Sequence[float], Sequence[float], str]] | None = None,
                             log2: Sequence[str] = (), title: str = "") -> Figure:
    """One panel per changed hyper-parameter: the parameter count (millions) against its value.

    Args:
        series: ``{x label: (values of the hyper-parameter, parameter counts)}``, one panel each.
        baseline: the count of the unchanged model, drawn as a dotted red line in every panel.
        guides: ``{x label: (xs, counts, label)}``: a dashed grey curve to compare with (e.g. 12 L D^2).
        log2: the x labels whose axis is logarithmic (base 2), e.g. the patch size.
        title: the figure's title.
    """
    if not series:
        raise ValueError("series is empty: give {x label: (values, counts)}.")
    guides = dict(guides or {})
    unknown = [label for label in [*guides, *log2] if label not in series]
    if unknown:
        raise ValueError(f"guides and log2 name panels that series does not have: {unknown}.")
    for label, (xs, counts) in series.items():  # every check before anything is drawn
        _same_length(label, xs, counts)
    for label, (gx, gy, _) in guides.items():
        _same_length(f"guide of {label}", gx, gy)
    figure = new_figure(2.2 * len(series), 2.7)
    axes = np.atleast_1d(figure.subplots(1, len(series)))
    for ax, (label, (xs, counts)) in zip(axes, series.items()):
        millions = np.asarray(counts, dtype=float) / 1e6
        ax.plot(xs, millions, "o-", ms=3)
        ax.axhline(baseline / 1e6, color=BASELINE_COLOUR, lw=0.8, ls=":")
        if label in guides:
            gx, gy, glabel = guides[label]
            ax.plot(gx, np.asarray(gy, dtype=float) / 1e6, "--", color="grey", label=glabel)
            ax.legend(fontsize=9)
        if label in log2:
            ax.set_xscale("log", base=2)
        ax.set_xlabel(label, fontsize=TEXT_SIZE)
        ax.set_ylim(0, 1.1 * max(millions.max(), baseline / 1e6))  # from zero, so that small changes look small
    axes[0].set_ylabel("parameters (millions)", fontsize=TEXT_SIZE)
    if title:
        figure.suptitle(title, fontsize=TEXT_SIZE)
    figure.tight_layout()
    return figure


def resolution_cost_figure(sizes: Sequence[int], flops_ratio: Sequence[float], parameters_ratio: Sequence[float],
                           quadratic_share: Sequence[float], *, model: str = "B/16",
                           marks: Sequence[int] = (224, 384)) -> Figure:
    """Left: FLOPs and parameters relative to a reference size (log scale); right: % of FLOPs in q k^T and A v.

    Args:
        sizes: image sizes in pixels.
        flops_ratio, parameters_ratio: FLOPs and parameters at each size, divided by those at the reference size.
        quadratic_share: the share (0-1) of the FLOPs in attention's T^2 products at each size.
        model: the model's name, for the axis labels.
        marks: sizes to mark with a dotted vertical line (the first is the reference size).
    """
    for name, values in (("flops_ratio", flops_ratio), ("parameters_ratio", parameters_ratio),
                         ("quadratic_share", quadratic_share)):
        _same_length(name, sizes, values)
    figure = new_figure(8.0, 2.8)
    ax_ratio, ax_share = figure.subplots(1, 2)
    ax_ratio.plot(sizes, flops_ratio, label="FLOPs")
    ax_ratio.plot(sizes, parameters_ratio, label="parameters")
    ax_ratio.set_yscale("log")
    ax_ratio.set_ylabel(f"relative to {marks[0]} px" if marks else "relative", fontsize=TEXT_SIZE)
    ax_ratio.legend(fontsize=9)
    ax_share.plot(sizes, 100 * np.asarray(quadratic_share, dtype=float))
    ax_share.set_ylabel("% of FLOPs in q k^T and A v", fontsize=TEXT_SIZE)
    for ax in (ax_ratio, ax_share):
        ax.set_xlabel(f"image size (px), {model}", fontsize=TEXT_SIZE)
        for mark in marks:
            ax.axvline(mark, color="grey", lw=0.8, ls=":")
    figure.tight_layout()
    return figure
