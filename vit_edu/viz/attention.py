"""Figures for the attention lessons: attention matrices as heatmaps and what attention costs (self-attention
lesson), and for the
attention-maps lesson attention maps per layer and head, methods side by side, attention distance vs depth
(paper Fig. 7 right), localisation vs depth.

All functions return a pyplot-free :class:`matplotlib.figure.Figure` (``display(fig)`` in a
notebook); maps are (N,) or (B, N) patch maps, upsampled with ``nearest`` so every patch stays a
flat square.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from vit_edu.analysis.attention_cost import AttentionCost
from vit_edu.analysis.attention_maps import upsample_map
from vit_edu.checks import check_number
from vit_edu.viz.render import MIN_TEXT_PT, new_figure


def _rgb(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) -> (H, W, 3) for imshow."""
    array = image.detach().permute(1, 2, 0).numpy()
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def _overlay(axes, image: torch.Tensor, patch_map: torch.Tensor, grid_size: tuple[int, int], alpha: float,
             vmax: float | None = None) -> None:
    """The image, and the map on top in inferno, from 0 to ``vmax`` (default: the map's maximum)."""
    full = upsample_map(patch_map.detach().float(), grid_size, tuple(image.shape[-2:])).numpy()
    top = full.max() if vmax is None else vmax
    axes.imshow(_rgb(image), interpolation="nearest")
    axes.imshow(full / max(top, 1e-12), cmap="inferno", alpha=alpha, vmin=0, vmax=1, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])


def _map_colourbar(figure: Figure, axes, label: str, top: float = 1.0) -> None:
    """One colour bar beside ``axes`` for the overlays' colour map, from 0 to ``top``."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = figure.colorbar(ScalarMappable(Normalize(0, top), cmap="inferno"), ax=axes, shrink=0.8, aspect=30)
    bar.set_label(label)


def head_grid_figure(image: torch.Tensor, maps: torch.Tensor, grid_size: tuple[int, int], alpha: float = 0.7,
                     title: str = "", cell: float = 1.1, shared_scale: bool = True) -> Figure:
    """Class-token maps of every layer (rows) and head (columns), plus the mean over heads.

    Args:
        image: (C, H, W).
        maps: (L, k, N) raw attention of the class token to the patches.
        grid_size: (H/P, W/P).
        shared_scale: one colour scale for all panels (0 to the largest weight), so that a
            diffuse head looks dark; otherwise each panel is scaled to its own maximum.
    """
    vmax = float(maps.max()) if shared_scale else None
    num_layers, heads = maps.shape[:2]
    figure = new_figure(cell * (heads + 2) + 1.2, cell * num_layers + 0.6)
    figure.set_layout_engine("constrained", w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    axes = figure.subplots(num_layers, heads + 2, squeeze=False)
    for layer in range(num_layers):
        axes[layer, 0].imshow(_rgb(image), interpolation="nearest")
        axes[layer, 0].set_xticks([])
        axes[layer, 0].set_yticks([])
        axes[layer, 0].set_ylabel(f"layer {layer}")
        for column, patch_map in enumerate([*maps[layer], maps[layer].mean(dim=0)]):
            _overlay(axes[layer, column + 1], image, patch_map, grid_size, alpha, vmax)
    for column in range(heads + 1):
        axes[0, column + 1].set_title(f"head {column}" if column < heads else "mean", fontsize=MIN_TEXT_PT)
    axes[0, 0].set_title("image", fontsize=MIN_TEXT_PT)
    if title:
        figure.suptitle(title)
    if shared_scale:
        _map_colourbar(figure, axes, "attention weight of the class token", top=vmax)
    else:
        _map_colourbar(figure, axes, "share of the panel's largest weight")
    return figure


def method_comparison_figure(images: torch.Tensor, maps: Mapping[str, torch.Tensor], grid_size: tuple[int, int],
                             row_labels: Sequence[str] | None = None, alpha: float = 0.7, cell: float = 1.25) -> Figure:
    """One row per image: the image, then each method's class-token map (each scaled to its own maximum).

    Args:
        images: (B, C, H, W).
        maps: method name -> (B, N).
        row_labels: a label per image (e.g. the prediction), written left of the image.
    """
    batch = images.shape[0]
    figure = new_figure(cell * (len(maps) + 1) + 1.6, cell * batch + 0.7)
    figure.set_layout_engine("constrained", w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    axes = figure.subplots(batch, len(maps) + 1, squeeze=False)
    for row in range(batch):
        axes[row, 0].imshow(_rgb(images[row]), interpolation="nearest")
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        if row_labels is not None:
            axes[row, 0].set_ylabel(row_labels[row])
        for column, values in enumerate(maps.values()):
            _overlay(axes[row, column + 1], images[row], values[row], grid_size, alpha)
    for column, name in enumerate(["image", *maps]):
        axes[0, column].set_title(name.replace(", ", ",\n"), fontsize=MIN_TEXT_PT)
    _map_colourbar(figure, axes, "share of the map's largest value")
    return figure


def attention_distance_figure(distances: Mapping[str, torch.Tensor], uniform: float | None = None,
                              image_size: int | None = None) -> Figure:
    """Mean attention distance of every head vs depth, one panel per model (paper Fig. 7 right).

    Args:
        distances: model name -> (L, k) distances in pixels.
        uniform: the distance of attention spread evenly over all patches (drawn dashed).
        image_size: S, to label the axis range.
    """
    figure = new_figure(3.3 * len(distances) + 0.6, 2.8)
    figure.set_layout_engine("constrained")
    axes = figure.subplots(1, len(distances), squeeze=False, sharey=True)[0]
    top = max(float(d.max()) for d in distances.values())
    for ax, (name, values) in zip(axes, distances.items()):
        num_layers, heads = values.shape
        for head in range(heads):
            ax.scatter(np.arange(num_layers) + (head - (heads - 1) / 2) * 0.06, values[:, head].numpy(), s=14,
                       label=f"head {head}")
        if uniform is not None:
            ax.axhline(uniform, color="0.4", linestyle="--", linewidth=1, label="uniform attention")
        ax.set_xticks(range(num_layers))
        ax.set_xlabel("network depth (layer)", fontsize=9)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1.1 * max(top, uniform or 0))
        ax.tick_params(labelsize=9)
    axes[0].set_ylabel("mean attention distance (pixels)" + (f", S = {image_size}" if image_size else ""), fontsize=9)
    axes[-1].legend(fontsize=9, loc="lower right")
    return figure


def depth_profile_figure(profile: Mapping[str, torch.Tensor], chance: float) -> Figure:
    """Pointing game and energy-based pointing per layer: raw class-token attention (mean over
    heads, and the best head) and rollout up to that layer, with the chance level."""
    figure = new_figure(6.8, 2.8)
    figure.set_layout_engine("constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for ax, metric in zip(axes, ("pointing", "energy")):
        layers = np.arange(len(profile[f"raw_{metric}"]))
        ax.plot(layers, profile[f"raw_{metric}"].numpy(), "o-", label="attention of layer l (mean of heads)")
        ax.plot(layers, profile[f"head_{metric}"].amax(dim=1).numpy(), "^:", label="best head of layer l")
        ax.plot(layers, profile[f"rollout_{metric}"].numpy(), "s-", label="rollout of layers 0..l")
        ax.axhline(chance, color="0.4", linestyle="--", linewidth=1, label="chance")
        ax.set_xticks(layers)
        ax.set_xlabel("layer l", fontsize=9)
        ax.set_title("pointing game" if metric == "pointing" else "energy-based pointing", fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=9)
    axes[0].legend(fontsize=9, loc="lower right")
    return figure


TARGET_MARKERS = (("o", "tab:cyan"), ("x", "lime"), ("s", "tab:pink"), ("+", "white"))


def _check_labels(labels: Sequence[str] | None, size: int, name: str) -> None:
    if labels is not None and len(labels) != size:
        raise ValueError(f"{name} must have one label per row/column ({size}), got {len(labels)}.")


def attention_heatmaps_figure(weights: torch.Tensor, titles: Sequence[str] | None = None,
                              query_labels: Sequence[str] | None = None, key_labels: Sequence[str] | None = None,
                              targets: Mapping[str, torch.Tensor] | None = None, annotate: bool = False,
                              vmax: float = 1.0, cell: float = 0.3) -> Figure:
    """Attention matrices A (Eq. 6) as heatmaps side by side: one row per query, one column per key.

    Args:
        weights: (k, T, S) one matrix per panel (e.g. per head), or a single (T, S) matrix.
        titles: one title per panel (default ``head 0``, ``head 1``, ...).
        query_labels, key_labels: tick labels of the T rows and S columns (default their positions).
        targets: legend label -> (T,) key index for every query; each panel marks the cell
            (i, target[i]) of every row, to show where a relation would point.
        annotate: write every weight in its cell (for small matrices).
        vmax: top of the shared colour scale, which starts at 0 (weights are in [0, 1]).
        cell: inches per matrix entry.
    """
    if not isinstance(weights, torch.Tensor) or weights.dim() not in (2, 3):
        got = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
        raise ValueError(f"weights must be a (k, T, S) or (T, S) tensor of attention weights, got {got}.")
    check_number(vmax, "vmax", minimum=0.0, open_minimum=True)
    matrices = (weights[None] if weights.dim() == 2 else weights).detach().float()  # (k, T, S)
    panels, rows, columns = matrices.shape
    titles = [f"head {h}" for h in range(panels)] if titles is None else list(titles)
    if len(titles) != panels:
        raise ValueError(f"titles must have one title per panel ({panels}), got {len(titles)}.")
    _check_labels(query_labels, rows, "query_labels")
    _check_labels(key_labels, columns, "key_labels")
    targets = dict(targets or {})
    if len(targets) > len(TARGET_MARKERS):
        raise ValueError(f"targets can mark at most {len(TARGET_MARKERS)} relations, got {len(targets)}.")
    for name, target in targets.items():
        if not isinstance(target, torch.Tensor) or tuple(target.shape) != (rows,):
            raise ValueError(f"targets[{name!r}] must be a ({rows},) tensor of key indices, one per query.")
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= columns):
            raise ValueError(f"targets[{name!r}] must hold key indices in 0..{columns - 1}.")

    width = panels * (cell * columns + 0.9) + 1.0
    figure = new_figure(width, cell * rows + 1.3 + 0.2 * bool(targets))
    figure.set_layout_engine("constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    query_labels = [str(i) for i in range(rows)] if query_labels is None else list(query_labels)
    key_labels = [str(j) for j in range(columns)] if key_labels is None else list(key_labels)
    for ax, matrix, title in zip(axes, matrices, titles):
        image = ax.imshow(matrix.numpy(), cmap="inferno", vmin=0.0, vmax=vmax, interpolation="nearest")
        if annotate:
            for i in range(rows):
                for j in range(columns):
                    value = float(matrix[i, j])
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9,
                            color="black" if value > 0.6 * vmax else "white")
        for (name, target), (marker, colour) in zip(targets.items(), TARGET_MARKERS):
            style = {"facecolors": "none", "edgecolors": colour} if marker in "os" else {"color": colour}
            ax.scatter(target.numpy(), np.arange(rows), marker=marker, s=40, linewidths=1.3, label=name, **style)
        ax.set_xticks(range(columns), key_labels, fontsize=9, rotation=90 if max(map(len, key_labels)) > 3 else 0)
        ax.set_yticks(range(rows), query_labels, fontsize=9)
        ax.set_xlabel("key j (attended to)", fontsize=9)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("query i (attending)", fontsize=9)
    colorbar = figure.colorbar(image, ax=list(axes), shrink=0.8)
    colorbar.set_label("attention weight A[i, j]", fontsize=9)
    colorbar.ax.tick_params(labelsize=9)
    if targets:
        figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=len(targets),
                      fontsize=9, frameon=False)
    return figure


def attention_cost_figure(rows: Sequence[AttentionCost]) -> Figure:
    """Log-log plots against T of what does not depend on the machine: the FLOPs of q k^T and A v
    (the same for both paths) and the bytes each path keeps for backward, with T^2 guide lines.

    The clock is left out on purpose: on a CPU a longer sequence can run faster than a shorter one
    (kernels pick other tile sizes), so measured times zig-zag around the T^2 trend they follow.
    """
    if not rows:
        raise ValueError("rows must hold at least one AttentionCost (from measure_attention_cost).")
    figure = new_figure(9.0, 3.4)
    seq = [row.seq_len for row in rows]
    panels = (
        ("FLOPs of q k^T and A v (millions)", {"both paths: 4 T^2 d": [r.flops / 1e6 for r in rows]}),
        ("memory kept for backward (MB)", {"manual: softmax(q k^T / sqrt(d)) v": [r.manual_saved_bytes / 1e6
                                                                                  for r in rows],
                                           "fused scaled_dot_product_attention": [r.fused_saved_bytes / 1e6
                                                                                  for r in rows]}),
    )
    for index, (label, lines) in enumerate(panels):
        axes = figure.add_subplot(1, 2, index + 1)
        for (name, values), style in zip(lines.items(), ("o-", "s-")):
            axes.loglog(seq, values, style, label=name)
        top = next(iter(lines.values()))
        axes.loglog(seq, [top[-1] * (t / seq[-1]) ** 2 for t in seq], "k--", lw=0.8, label="~ T^2")
        for row, value in zip(rows, top):
            axes.annotate(f"P={row.patch_size}", (row.seq_len, value), fontsize=9, textcoords="offset points",
                          xytext=(-10, 6))
        axes.set_xlabel("sequence length T = N + 1")
        axes.set_ylabel(label)
        axes.legend(fontsize=9)
    figure.tight_layout()
    return figure
