"""Figures for the patching lesson: the sample photos, an image cut into a numbered sequence of
patches, and images whose patches were shuffled.

Every function returns a pyplot-free :class:`matplotlib.figure.Figure` (see :mod:`vit_edu.viz.render`);
in a notebook, ``display(figure)`` shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from vit_edu.checks import check_int
from vit_edu.patches import patchify, unpatchify
from vit_edu.viz.render import new_figure

FONT_SIZE = 9


def as_picture(name: str, image: Any) -> np.ndarray:
    """An (H, W), (H, W, 1) or (H, W, 3) image in [0, 1] -> float32 (H, W, C)."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ValueError(f"{name} must have shape (H, W), (H, W, 1) or (H, W, 3), got {np.shape(image)}.")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(f"{name} must hold values in [0, 1]; divide uint8 images by 255.")
    return array


def _show(ax, picture: np.ndarray) -> None:
    """Draw an (H, W, C) picture: grey for C = 1, colour for C = 3."""
    if picture.shape[2] == 1:
        ax.imshow(picture[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(picture, interpolation="nearest")


def _check_divisible(picture: np.ndarray, patch_size: int) -> None:
    height, width = picture.shape[:2]
    if height % patch_size or width % patch_size:
        raise ValueError(f"the image is {height} x {width}, not a multiple of patch_size {patch_size}; crop or "
                         "resize it first (the patch explorer shows how).")


def sample_images_figure(images: Mapping[str, Any], size: float = 1.3) -> Figure:
    """The images side by side, each titled with its name and its H x W x C.

    Args:
        images: name -> (H, W, C) array in [0, 1] (C = 1 is drawn in grey).
        size: width of one panel in inches.

    Returns:
        a figure with one axes per image.
    """
    if not images:
        raise ValueError("images must hold at least one name -> image entry.")
    pictures = {name: as_picture(f"images[{name!r}]", image) for name, image in images.items()}
    figure = new_figure(size * len(pictures), size + 0.45)
    axes = np.atleast_1d(figure.subplots(1, len(pictures), squeeze=False)).ravel()
    for ax, (name, picture) in zip(axes, pictures.items()):
        _show(ax, picture)
        height, width, channels = picture.shape
        ax.set_title(f"{name}\n{height} x {width} x {channels}", fontsize=FONT_SIZE)
        ax.set_axis_off()
    figure.tight_layout()
    return figure


def patch_sequence_figure(image: Any, patch_size: int, first: int = 10) -> Figure:
    """The image with its patch grid and token numbers (left), and the first tokens of the sequence
    (right): each as a P x P picture (top) and as a row of x_p, its P^2 C numbers (bottom).

    Args:
        image: (H, W, C) array in [0, 1]; H and W multiples of ``patch_size``.
        patch_size: P.
        first: how many tokens the right side shows (at most N).

    Returns:
        a figure with 2 + ``first`` axes: the grid, the matrix of the first rows of x_p, then one
        axes per token (titled with its index).
    """
    picture = as_picture("image", image)
    check_int(patch_size, "patch_size")
    check_int(first, "first")
    _check_divisible(picture, patch_size)
    height, width, channels = picture.shape
    rows, cols = height // patch_size, width // patch_size
    tokens = patchify(torch.from_numpy(picture).permute(2, 0, 1)[None], patch_size)[0]  # (N, P^2 C)
    first = min(first, rows * cols)

    figure = new_figure(8.5, 3.9)
    outer = figure.add_gridspec(1, 2, width_ratios=[1.0, 1.3], left=0.02, right=0.98, top=0.9, bottom=0.14,
                                wspace=0.08)
    ax_grid = figure.add_subplot(outer[0])
    right = outer[1].subgridspec(2, first, height_ratios=[1.0, 2.2], hspace=0.35, wspace=0.15)
    ax_matrix = figure.add_subplot(right[1, :])

    _show(ax_grid, picture)
    for line in range(1, rows):
        ax_grid.axhline(line * patch_size - 0.5, color="white", linewidth=1)
    for line in range(1, cols):
        ax_grid.axvline(line * patch_size - 0.5, color="white", linewidth=1)
    for index in range(rows * cols):
        row, col = divmod(index, cols)
        ax_grid.text(col * patch_size + 2, row * patch_size + 2, str(index), color="white", fontsize=FONT_SIZE,
                     va="top", bbox={"facecolor": "black", "alpha": 0.5, "pad": 0.5, "linewidth": 0})
    ax_grid.set_title(f"P = {patch_size}: N = {rows} x {cols} = {rows * cols} patches", fontsize=FONT_SIZE)
    ax_grid.set_axis_off()

    ax_matrix.imshow(tokens[:first].numpy(), aspect="auto", cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax_matrix.set_yticks(range(first))
    ax_matrix.tick_params(labelsize=FONT_SIZE)
    ax_matrix.set_ylabel("token", fontsize=FONT_SIZE)
    ax_matrix.set_xlabel(f"the same tokens as rows of $x_p$: {tokens.shape[1]} = {patch_size} x {patch_size} x "
                         f"{channels} numbers each", fontsize=FONT_SIZE)
    for slot in range(first):
        ax = figure.add_subplot(right[0, slot])
        _show(ax, tokens[slot].reshape(patch_size, patch_size, channels).numpy())  # un-flatten (p1 p2 c)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(slot), fontsize=FONT_SIZE)
    return figure


def shuffle_image_patches(image: Any, patch_size: int, seed: int = 0) -> np.ndarray:
    """Cut ``image`` into P x P patches, put them back in a random order; (H, W, C) -> (H, W, C).

    The same patches, the same numbers, another order: what a model without position information
    cannot tell apart from the original.
    """
    picture = as_picture("image", image)
    check_int(patch_size, "patch_size")
    _check_divisible(picture, patch_size)
    height, width, channels = picture.shape
    tokens = patchify(torch.from_numpy(picture).permute(2, 0, 1)[None], patch_size)  # (1, N, P^2 C)
    order = torch.randperm(tokens.shape[1], generator=torch.Generator().manual_seed(seed))
    shuffled = unpatchify(tokens[:, order], patch_size, (height // patch_size, width // patch_size), channels)
    return shuffled[0].permute(1, 2, 0).numpy()  # (H, W, C)


def shuffled_patches_figure(image: Any, patch_sizes: Sequence[int], seed: int = 0, size: float = 1.5) -> Figure:
    """The image, then the image with its patches shuffled, once per patch size.

    Args:
        image: (H, W, C) array in [0, 1]; H and W multiples of every patch size.
        patch_sizes: the values of P to try.
        seed: the seed of the random order (the same for every P).
        size: width of one panel in inches.

    Returns:
        a figure with ``1 + len(patch_sizes)`` axes, titled "original" and "P = ..., N = ...".
    """
    picture = as_picture("image", image)
    if not patch_sizes:
        raise ValueError("patch_sizes must hold at least one patch size.")
    panels = [("original", picture)]
    for patch_size in patch_sizes:
        shuffled = shuffle_image_patches(picture, patch_size, seed)
        count = (picture.shape[0] // patch_size) * (picture.shape[1] // patch_size)
        panels.append((f"P = {patch_size}, N = {count}\nshuffled", shuffled))
    figure = new_figure(size * len(panels), size + 0.5)
    axes = np.atleast_1d(figure.subplots(1, len(panels), squeeze=False)).ravel()
    for ax, (title, shown) in zip(axes, panels):
        _show(ax, shown)
        ax.set_title(title, fontsize=FONT_SIZE)
        ax.set_axis_off()
    figure.tight_layout()
    return figure
