"""The data of the transfer lesson: a large pre-training task and a small downstream task with new labels.

Both draw one coloured object, large (45-60 % of the image side), rotated and placed at random,
on a textured grey background with grey blobs and lines, rendered by :mod:`vit_edu.data.render`
as the shapes of :mod:`vit_edu.data.shapes` are (this module draws the numbers and the objects):

- **pre-training** (:func:`make_glyph_shapes`): twelve shape classes (:data:`PRETRAIN_CLASSES`):
  filled shapes, outlines and strokes, at any rotation; as many images as we like;
- **downstream** (:func:`downstream_data`): sklearn's 8 x 8 handwritten digits, scaled up,
  tilted a little, coloured and pasted in the same way: ten classes pre-training never saw.
  The train/test glyphs come from the fixed split of :func:`vit_edu.data.load_digits_split`,
  so test digits are handwriting the model never saw.

Every scene is drawn from numbers in image-relative units, so the same ``seed`` renders the same
scene at 32 px or at 48 px (only the pixel noise differs): the higher-resolution fine-tuning
of the transfer lesson uses this.

Shapes: images (n, 3, S, S) float32 in [0, 1]; labels (n,) int64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from vit_edu.checks import TORCH_MAX_SEED, check_int, check_number, check_seed
from vit_edu.data.digits import load_digits_split
from vit_edu.data.render import (
    BLOB_OPACITY,
    BLOB_RADIUS,
    COARSE_GRID,
    DISTRACTOR_GREY,
    OBJECT_SATURATION,
    OBJECT_VALUE,
    Background,
    box_distance,
    chunks,
    composite,
    edge_alpha,
    hsv_colours,
    render_background,
    triangle_distance,
)

PRETRAIN_CLASSES: tuple[str, ...] = ("disc", "square", "triangle", "plus", "ring", "frame", "hollow triangle",
                                     "bar", "L", "T", "half disc", "crescent")

# Object hues, degrees (red to yellow). A ViT's patch embedding is linear in RGB, so no single direction
# separates "coloured" from "grey" for every hue; with warm hues R - B does (see vit_edu.analysis.probes).
HUE_RANGE: tuple[float, float] = (0.0, 60.0)

__all__ = ["HUE_RANGE", "PRETRAIN_CLASSES", "TransferData", "downstream_data", "label_subset", "make_glyph_shapes",
           "paste_digits"]


class TransferData(NamedTuple):
    """Train/test tensors: images (n, 3, S, S) float32 in [0, 1], labels (n,) int64."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


# Signed distances (< 0 inside) in object units: the object fills about [-1, 1]^2.
_SDF: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "disc": lambda u, v: np.hypot(u, v) - 0.85,
    "square": lambda u, v: box_distance(u, v, 0.72, 0.72),
    "triangle": lambda u, v: triangle_distance(u, v, 0.48),
    "plus": lambda u, v: np.minimum(box_distance(u, v, 0.95, 0.28), box_distance(u, v, 0.28, 0.95)),
    "ring": lambda u, v: np.abs(np.hypot(u, v) - 0.68) - 0.2,
    "frame": lambda u, v: np.abs(box_distance(u, v, 0.6, 0.6)) - 0.18,
    "hollow triangle": lambda u, v: np.abs(triangle_distance(u, v, 0.4)) - 0.14,
    "bar": lambda u, v: box_distance(u, v, 0.95, 0.24),
    "L": lambda u, v: np.minimum(box_distance(u + 0.55, v, 0.24, 0.95), box_distance(u, v - 0.71, 0.79, 0.24)),
    "T": lambda u, v: np.minimum(box_distance(u, v + 0.71, 0.95, 0.24), box_distance(u, v, 0.24, 0.95)),
    "half disc": lambda u, v: np.maximum(np.hypot(u, v + 0.4) - 0.95, -(v + 0.4)),
    "crescent": lambda u, v: np.maximum(np.hypot(u, v) - 0.9, 0.72 - np.hypot(u - 0.45, v)),
}


class _Scene(NamedTuple):
    """The random numbers of n scenes except the pixel noise and the labels, image-relative, float32."""

    background: Background  # grey distractors
    side: np.ndarray  # (n,) object side / image side
    centre: np.ndarray  # (n, 2) as (y, x)
    angle: np.ndarray  # (n,) radians
    colour: np.ndarray  # (n, 3) RGB


def _scene(rng: np.random.Generator, n: int, num_blobs: int, num_lines: int, max_angle: float,
           hue_range: tuple[float, float]) -> _Scene:
    """All random numbers of a batch except the labels and the pixel noise, in image-relative units.

    The order of the draws is part of the data: a seed keeps giving the scenes the transfer lesson's models
    were trained on only while it stays the same.
    """
    def draw(*shape: int, within: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
        return rng.uniform(*within, shape).astype(np.float32)

    side = draw(n, within=(0.45, 0.6))
    coarse, brightness = draw(n, COARSE_GRID, COARSE_GRID), draw(n)
    blob_centre, blob_radius = draw(num_blobs, 2, n), draw(num_blobs, n, within=BLOB_RADIUS)
    blob_opacity, blob_grey = draw(num_blobs, n, within=BLOB_OPACITY), draw(num_blobs, n, 1, within=DISTRACTOR_GREY)
    line_ends, line_grey = draw(num_lines, 2, 2, n), draw(num_lines, n, 1, within=DISTRACTOR_GREY)
    background = Background(coarse, brightness, blob_centre, blob_radius, blob_opacity, blob_grey, line_ends, line_grey)
    centre = draw(n, 2) * (1 - side[:, None]) + side[:, None] / 2  # the object lies fully inside the image
    angle = draw(n, within=(-max_angle, max_angle))
    colour = hsv_colours(rng, n, OBJECT_SATURATION, OBJECT_VALUE, hue_range).astype(np.float32)
    return _Scene(background, side, centre, angle, colour)


def _object_grid(scene: _Scene, rows: slice, S: int) -> torch.Tensor:
    """Each output pixel's position in object units ([-1, 1]^2 = the object's box): (m, S, S, 2) as (u, v)."""
    angle, side = torch.from_numpy(scene.angle[rows]), torch.from_numpy(scene.side[rows])
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (m, 2, 2)
    rotation = rotation / side[:, None, None]
    centre = torch.from_numpy(scene.centre[rows])  # (m, 2) as (y, x)
    shift = -(rotation @ (2 * centre.flip(-1) - 1)[:, :, None])  # (m, 2, 1); centre as (x, y)
    return F.affine_grid(torch.cat([rotation, shift], dim=2), [len(rotation), 1, S, S], align_corners=False)


def _check_size(image_size: int) -> None:
    check_int(image_size, "image_size", minimum=16, hint=" (pixels)")


def _render(scene: _Scene, noise: np.ndarray, ink: Callable[[slice], np.ndarray]) -> torch.Tensor:
    """Paint each object's ink (coverage (m, S, S) of the images ``rows``) over its background: (n, 3, S, S)."""
    n, S = noise.shape[0], noise.shape[-1]
    images = np.empty((n, 3, S, S), dtype=np.float32)
    for rows in chunks(n, S):
        images[rows] = composite(render_background(scene.background, noise, rows), ink(rows), scene.colour[rows])
    return torch.from_numpy(images)


def make_glyph_shapes(n: int, image_size: int = 32, seed: int = 0, max_angle: float = np.pi,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images of one of the twelve :data:`PRETRAIN_CLASSES`, rotated by up to ``max_angle``, in grey clutter.

    Returns:
        (images (n, 3, S, S), labels (n,)).
    """
    check_int(n, "n", hint=" (number of images)")
    _check_size(image_size)
    seed = check_seed(seed)
    check_number(max_angle, "max_angle", minimum=0.0, hint="; it is in radians, np.pi allows any rotation")
    rng = np.random.default_rng(seed)
    scene = _scene(rng, n, 4, 3, max_angle, HUE_RANGE)
    labels = rng.integers(0, len(PRETRAIN_CLASSES), n)
    noise = rng.random((n, image_size, image_size), dtype=np.float32)

    def ink(rows: slice) -> np.ndarray:
        grid = _object_grid(scene, rows, image_size).numpy()  # (m, S, S, 2)
        distance = np.empty(grid.shape[:3], dtype=np.float32)
        for label, name in enumerate(PRETRAIN_CLASSES):
            chosen = labels[rows] == label
            distance[chosen] = _SDF[name](grid[chosen][..., 0], grid[chosen][..., 1])
        return edge_alpha(distance * scene.side[rows, None, None] * image_size / 2)  # object units -> pixels

    return _render(scene, noise, ink), torch.from_numpy(labels.astype(np.int64))


def paste_digits(glyphs: torch.Tensor, image_size: int = 32, seed: int = 0) -> torch.Tensor:
    """Paste each grey glyph (n, 1, h, w) in [0, 1] (1 = ink), scaled, tilted and coloured, into grey clutter.

    Returns:
        (n, 3, S, S) float32 in [0, 1]; the same ``seed`` gives the same scenes at any ``image_size``.
    """
    if not isinstance(glyphs, torch.Tensor) or glyphs.ndim != 4 or glyphs.shape[1] != 1:
        shape = tuple(glyphs.shape) if isinstance(glyphs, torch.Tensor) else type(glyphs).__name__
        raise ValueError(f"glyphs must be a (n, 1, h, w) tensor of grey digits, got {shape}.")
    _check_size(image_size)
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    scene = _scene(rng, len(glyphs), 4, 3, 0.3, HUE_RANGE)
    noise = rng.random((len(glyphs), image_size, image_size), dtype=np.float32)

    def ink(rows: slice) -> np.ndarray:
        grid = _object_grid(scene, rows, image_size)  # (m, S, S, 2)
        pasted = F.grid_sample(glyphs[rows].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return pasted[:, 0].clamp(0, 1).numpy()  # (m, S, S)

    return _render(scene, noise, ink)


def downstream_data(image_size: int = 32, data_seed: int = 0, test_copies: int = 2) -> TransferData:
    """Digits in clutter: every training digit of the fixed split once, every test digit ``test_copies`` times.

    Train: the 1347 training glyphs of ``load_digits_split(seed=0)`` on backgrounds of seed
    ``2 * data_seed``; test: the 450 test glyphs on backgrounds of seed ``2 * data_seed + 1``,
    ``test_copies`` different scenes each (more test images, less noise in the accuracy).
    """
    check_int(test_copies, "test_copies")
    _check_size(image_size)
    data_seed = check_seed(data_seed, "data_seed")
    split = load_digits_split(seed=0)
    test_glyphs = split.test_images.repeat(test_copies, 1, 1, 1)  # (copies n, 1, 8, 8)
    return TransferData(
        paste_digits(split.train_images, image_size, seed=2 * data_seed), split.train_labels,
        paste_digits(test_glyphs, image_size, seed=2 * data_seed + 1), split.test_labels.repeat(test_copies),
    )


def label_subset(labels: torch.Tensor, per_class: int | None, seed: int = 0) -> torch.Tensor:
    """Sorted indices of ``per_class`` labelled images of every class (``None``: all), nested across budgets.

    For one ``seed`` each class's images are shuffled once and the first ``per_class`` are
    taken, so the 5 images of a class are among its 10, which are among its 20, ...

    Raises:
        ValueError: if a class has fewer than ``per_class`` images.
    """
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point():
        shape = f"{labels.dtype} tensor of shape {tuple(labels.shape)}" if isinstance(labels, torch.Tensor) \
            else type(labels).__name__
        raise TypeError(f"labels must be a 1-D integer tensor of class indices, got a {shape}.")
    if per_class is None:
        return torch.arange(len(labels))
    check_int(per_class, "per_class", hint=" or None (all images)")
    seed = check_seed(seed, maximum=TORCH_MAX_SEED)
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        if len(members) < per_class:
            raise ValueError(f"class {label} has only {len(members)} images, fewer than per_class={per_class}.")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.sort(torch.cat(chosen)).values
