"""Figures for the pretrained-checkpoints lesson: weight layouts (fused qkv, a Flax query kernel, a conv
filter flattened two ways) and a photo prepared by the two preprocessing recipes.

Both return a pyplot-free :class:`matplotlib.figure.Figure` (see :mod:`vit_edu.viz.render`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from einops import rearrange
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vit_edu.data.preprocessing import STYLES, unnormalize
from vit_edu.viz.render import new_figure

CHANNEL_COLOURS = ("tab:red", "tab:green", "tab:blue")
RECIPE_TITLES = {"vit": "'vit': squeezed to {size} x {size}", "imagenet": "'imagenet': {resize}, centre {size}"}


def flattening_orders(patch_size: int = 4, channels: int = 3) -> np.ndarray:
    """The channel index at each position of a (C, P, P) filter flattened two ways: (2, P^2 C).

    Row 0 is ``reshape`` order (c p1 p2): all of channel 0, then channel 1, ...; row 1 is ``patchify``
    order (p1 p2 c): the channels innermost, pixel by pixel.
    """
    channel_of = torch.arange(channels).view(channels, 1, 1).expand(channels, patch_size, patch_size)  # (C, P, P)
    return torch.stack([channel_of.reshape(-1), rearrange(channel_of, "c p1 p2 -> (p1 p2 c)")]).numpy()


def plot_weight_layouts(qkv_weight: torch.Tensor, query_kernel: torch.Tensor, patch_size: int = 4) -> Figure:
    """Three layout rules side by side: timm's fused qkv weight, the JAX query kernel, a conv filter flattened.

    Args:
        qkv_weight: timm's ``attn.qkv.weight`` (3D, D), drawn with lines between the q/k/v blocks (solid)
            and between the heads (dotted).
        query_kernel: the Flax query kernel (D, k, d_h) of the same block, drawn as (D, k d_h) = W_q^T.
        patch_size: P of the small RGB filter whose two flattening orders the third panel shows.

    Returns:
        a figure with three axes; the first two share one colour scale, symmetric around 0.
    """
    fused = isinstance(qkv_weight, torch.Tensor) and qkv_weight.ndim == 2
    if not fused or qkv_weight.shape[0] != 3 * qkv_weight.shape[1]:
        shape = tuple(qkv_weight.shape) if isinstance(qkv_weight, torch.Tensor) else type(qkv_weight).__name__
        raise ValueError(f"qkv_weight must be a fused (3D, D) weight, got {shape}.")
    dim = qkv_weight.shape[1]
    if not isinstance(query_kernel, torch.Tensor) or query_kernel.ndim != 3 or query_kernel.shape[0] != dim:
        shape = tuple(query_kernel.shape) if isinstance(query_kernel, torch.Tensor) else type(query_kernel).__name__
        raise ValueError(f"query_kernel must be a Flax kernel (D, k, d_h) with D = {dim}, got {shape}.")
    heads, head_dim = query_kernel.shape[1:]
    qkv = qkv_weight.detach().cpu().double().numpy()
    kernel = query_kernel.detach().cpu().double().reshape(dim, heads * head_dim).numpy()
    limit = float(np.abs(qkv).max())

    figure = new_figure(11.0, 3.8)
    axes = figure.subplots(1, 3, gridspec_kw=dict(width_ratios=[1, 1, 2.2]))
    ax = axes[0]
    ax.imshow(qkv, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    for row in range(head_dim, 3 * dim, head_dim):
        block = row % dim == 0
        ax.axhline(row - 0.5, color="k", lw=1.5 if block else 0.4, ls="-" if block else ":")
    for index, name in enumerate(("$W_q$", "$W_k$", "$W_v$")):
        ax.text(dim + 1, dim * index + dim / 2, name, va="center", fontsize=11, clip_on=False)
    ax.set_title("timm: attn.qkv.weight  (3D, D)", fontsize=10)
    ax.set_xlabel("input feature", fontsize=9)
    ax.set_ylabel(f"output feature (3 x {heads} heads)", fontsize=9)

    ax = axes[1]
    ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    for column in range(head_dim, dim, head_dim):
        ax.axvline(column - 0.5, color="k", lw=0.8, ls=":")
    ax.set_title("JAX: query/kernel (D, k, d_h)\nshown as (D, k d_h) = $W_q^T$", fontsize=10)
    ax.set_xlabel(" | ".join(f"head {h}" for h in range(heads)), fontsize=9)
    ax.set_ylabel("input feature", fontsize=9)

    ax = axes[2]
    orders = flattening_orders(patch_size, len(CHANNEL_COLOURS))
    ax.imshow(orders, cmap=ListedColormap(list(CHANNEL_COLOURS)), vmin=0, vmax=len(CHANNEL_COLOURS) - 1,
              aspect="auto", interpolation="nearest")
    ax.set_yticks([0, 1], ["reshape: (c p1 p2)", "patchify: (p1 p2 c)"], fontsize=9)
    ax.set_xlabel(f"position in the flattened filter (P^2 C = {orders.shape[1]})", fontsize=9)
    ax.set_title(f"a {patch_size} x {patch_size} RGB conv filter flattened two ways\n(colour = channel)", fontsize=10)
    figure.tight_layout()
    return figure


def plot_preprocessing(photo: np.ndarray, prepared: Mapping[str, torch.Tensor]) -> Figure:
    """A photo and what each preprocessing recipe makes of it (outlined on the photo: the 'imagenet' crop).

    Args:
        photo: the original (H, W, 3) image.
        prepared: recipe name (a key of ``vit_edu.data.preprocessing.STYLES``) -> the (3, S, S) tensor
            ``preprocess_image(photo, style=name)`` gave; each is shown un-normalised.

    Returns:
        a figure with ``1 + len(prepared)`` axes.
    """
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo must be an (H, W, 3) image, got shape {photo.shape}.")
    unknown = sorted(set(prepared) - set(STYLES))
    if not prepared or unknown:
        raise ValueError(f"prepared must map recipe names {sorted(STYLES)} to tensors, got {sorted(prepared)}.")
    height, width = photo.shape[:2]
    figure = new_figure(10.0, 3.1)
    axes = figure.subplots(1, 1 + len(prepared), gridspec_kw=dict(width_ratios=[1.5] + [1] * len(prepared)))
    axes[0].imshow(photo)
    title = f"photo {height} x {width}"
    for style, tensor in prepared.items():
        resize = STYLES[style]["resize_size"]
        if resize is not None:  # the central square the recipe keeps, in the photo's own pixels
            side = tensor.shape[-1] / resize * min(height, width)
            axes[0].add_patch(Rectangle(((width - side) / 2, (height - side) / 2), side, side, fill=False,
                                        edgecolor="yellow", linewidth=2))
            title += f" (yellow: the '{style}' crop)"
    axes[0].set_title(title, fontsize=10)
    for ax, (style, tensor) in zip(axes[1:], prepared.items()):
        ax.imshow(unnormalize(tensor, style))
        size = tensor.shape[-1]
        ax.set_title(RECIPE_TITLES.get(style, style).format(size=size, resize=STYLES[style]["resize_size"]),
                     fontsize=10)
    for ax in axes:
        ax.axis("off")
    figure.tight_layout()
    return figure
