"""Synthetic "find the shape" images with ground-truth masks, generated with numpy.

Each image holds exactly one object whose *type* is the label (circle, square, triangle, cross)
at a random position, size, rotation and colour, on a textured background with distractor blobs
and lines that are always present. The object mask marks the object's pixels, so attention
maps can be scored against it.

Two levels of clutter:
- ``"grey"``: grey textured background and grey distractors around one coloured object: colour
  tells *where* the object is, shape tells *what* it is. A tiny ViT learns this in about a minute.
- ``"colour"``: distractors in full colour, so the object must be found by its shape alone;
  much harder for a tiny ViT (the point of the ViT-vs-CNN lesson).

Shapes are drawn from signed distance functions (negative inside), which gives anti-aliased
edges (alpha = clip(0.5 - d, 0, 1)) and the mask (d <= 0) from the same numbers.
This module draws the random numbers and the four shapes; the background, the distractors, the
colours and the compositing come from :mod:`vit_edu.data.render`, shared with the scenes of
the transfer lesson (:mod:`vit_edu.data.scenes`).
Everything is vectorised over the batch: 8k images of 32x32 take about a second.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from vit_edu.checks import check_choice, check_int, check_number, check_seed
from vit_edu.data.render import (
    BLOB_OPACITY,
    BLOB_RADIUS,
    COARSE_GRID,
    OBJECT_SATURATION,
    OBJECT_VALUE,
    Background,
    box_distance,
    chunks,
    composite,
    distractor_colours,
    edge_alpha,
    hsv_colours,
    pixel_centres,
    render_background,
    triangle_distance,
)

SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
CLUTTER_CHOICES = ("grey", "colour")


class Shapes(NamedTuple):
    """images (n, 3, S, S) float32 in [0, 1]; labels (n,) int64; masks (n, S, S) bool."""

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor


def object_distance(label: int, u: np.ndarray, v: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, < 0 inside) of shape type ``label`` in rotated coordinates u, v."""
    if label == 0:  # circle of radius `size`
        return np.hypot(u, v) - size
    if label == 1:  # square of half-side 0.85 size (about the circle's area)
        return box_distance(u, v, 0.85 * size, 0.85 * size)
    if label == 2:  # equilateral triangle, inradius 0.62 size (circumradius 1.24 size)
        return triangle_distance(u, v, 0.62 * size)
    arm, half_width = 1.1 * size, 0.38 * size  # cross: two bars
    return np.minimum(box_distance(u, v, arm, half_width), box_distance(u, v, half_width, arm))


class _Objects(NamedTuple):
    """The object of each image, in pixels: its outline decides the mask, so it is not image-relative."""

    label: np.ndarray  # (n,) index into SHAPE_CLASSES
    size: np.ndarray  # (n, 1, 1) circle radius in pixels
    position: np.ndarray  # (2, n, 1, 1) as (y, x) in [0, 1]: a fraction of the room left by the margin
    theta: np.ndarray  # (n, 1, 1) rotation, radians
    colour: np.ndarray  # (n, 3) RGB


def _draw_parameters(rng: np.random.Generator, n: int, S: int, clutter: str, num_blobs: int, num_lines: int,
                     object_size: tuple[float, float], rotate: bool, hue_range: tuple[float, float],
                     ) -> tuple[Background, np.ndarray, _Objects]:
    """All random numbers of a batch, drawn up front so rendering can go in chunks.

    The order of the draws is part of the data: a seed keeps giving the images the course's models
    were trained on only while it stays the same.
    """
    coloured = clutter == "colour"
    coarse, brightness = rng.random((n, COARSE_GRID, COARSE_GRID)), rng.random(n)
    noise = rng.random((n, S, S), dtype=np.float32)
    blob_centre = rng.random((num_blobs, 2, n))
    blob_radius = rng.uniform(*BLOB_RADIUS, (num_blobs, n))
    blob_opacity = rng.uniform(*BLOB_OPACITY, (num_blobs, n))
    blob_colour = distractor_colours(rng, num_blobs, n, coloured)
    line_ends = rng.random((num_lines, 2, 2, n))
    line_colour = distractor_colours(rng, num_lines, n, coloured)
    background = Background(coarse, brightness, blob_centre, blob_radius, blob_opacity, blob_colour, line_ends,
                            line_colour)
    label = rng.integers(0, len(SHAPE_CLASSES), n)
    size = rng.uniform(*object_size, (n, 1, 1)) * (S / 32.0)  # pixels
    position, theta = rng.random((2, n, 1, 1)), rng.uniform(0, 2 * np.pi, (n, 1, 1)) * rotate
    colour = hsv_colours(rng, n, OBJECT_SATURATION, OBJECT_VALUE, hue_range)
    return background, noise, _Objects(label, size, position, theta, colour)


def _object_alpha_and_mask(objects: _Objects, rows: slice, S: int) -> tuple[np.ndarray, np.ndarray]:
    """The objects of images ``rows``: anti-aliased coverage (m, S, S) float32 and mask (m, S, S) bool."""
    f32 = np.float32
    yy, xx = pixel_centres(S)  # (S, S) each
    size = objects.size[rows].astype(f32)
    margin = f32(1.6) * size + 1.0  # the object lies fully inside the image
    cy, cx = margin + objects.position[:, rows].astype(f32) * (S - 2 * margin)
    cos, sin = np.cos(objects.theta[rows]).astype(f32), np.sin(objects.theta[rows]).astype(f32)
    u, v = (xx - cx) * cos + (yy - cy) * sin, (yy - cy) * cos - (xx - cx) * sin  # (m, S, S) each
    labels = objects.label[rows]
    distance = np.empty(u.shape, dtype=f32)
    for label in range(len(SHAPE_CLASSES)):
        chosen = labels == label
        distance[chosen] = object_distance(label, u[chosen], v[chosen], size[chosen])
    return edge_alpha(distance), distance <= 0.0


def _pair(value: object, name: str, example: str) -> tuple[float, float]:
    """A (low, high) pair of finite numbers."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a (low, high) pair of numbers ({example}), got {value!r}.")
    return check_number(value[0], f"{name}[0]"), check_number(value[1], f"{name}[1]")


def make_shapes(
    n: int, image_size: int = 32, seed: int = 0, clutter: str = "grey",
    num_blobs: int = 4, num_lines: int = 3, object_size: tuple[float, float] = (3.5, 5.5), rotate: bool = True,
    hue_range: tuple[float, float] = (0.0, 360.0),
) -> Shapes:
    """Generate ``n`` images of one labelled shape among distractors.

    Args:
        n: number of images.
        image_size: S, the side in pixels (>= 16). Object sizes scale with S.
        seed: the same seed always gives the same images at one ``image_size`` (the pixel noise is
            drawn before the clutter, so another size gives other scenes).
        clutter: ``"grey"`` (grey distractors, coloured object) or ``"colour"`` (coloured distractors).
        num_blobs, num_lines: distractors per image (>= 1 each).
        object_size: range of the object's size (circle radius) in pixels for S = 32 (scaled with S).
        rotate: rotate squares, triangles and crosses by a random angle (else upright).
        hue_range: the object's hue is uniform in this range of degrees on the colour wheel (0 red,
            60 yellow, 120 green, 240 blue); ``(0, 360)`` is any hue, ``(0, 60)`` red to yellow.
            A ViT's patch embedding is linear in RGB, so it cannot tell "coloured" from "grey" for
            every hue at once; see the course recipe in :mod:`vit_edu.training.recipes` for what that costs.

    Returns:
        :class:`Shapes` with labels in ``range(len(SHAPE_CLASSES))``.
    """
    check_int(n, "n", hint=" (number of images)")
    check_int(image_size, "image_size", minimum=16, hint=" (pixels)")
    seed = check_seed(seed)
    check_choice(clutter, "clutter", CLUTTER_CHOICES)
    check_int(num_blobs, "num_blobs", hint=" (distractors are always present)")
    check_int(num_lines, "num_lines", hint=" (distractors are always present)")
    if not isinstance(rotate, (bool, np.bool_)):
        raise TypeError(f"rotate must be True or False, got {rotate!r}.")
    S = image_size
    low, high = _pair(object_size, "object_size", "radii in pixels at S = 32, e.g. (3.5, 5.5)")
    if not 1.0 <= low <= high <= 8.0:
        raise ValueError(f"object_size must be a (min, max) range of radii in [1, 8] (pixels at S = 32), "
                         f"got {object_size}.")
    low, high = _pair(hue_range, "hue_range", "degrees, e.g. (0, 60)")
    if not 0.0 <= low <= high <= 360.0:
        raise ValueError(f"hue_range must be (low, high) degrees with 0 <= low <= high <= 360, got {hue_range!r}.")
    background, noise, objects = _draw_parameters(np.random.default_rng(seed), n, S, clutter, num_blobs, num_lines,
                                                  object_size, rotate, tuple(float(h) for h in hue_range))
    images = np.empty((n, 3, S, S), dtype=np.float32)
    masks = np.empty((n, S, S), dtype=bool)
    for rows in chunks(n, S):
        alpha, masks[rows] = _object_alpha_and_mask(objects, rows, S)
        images[rows] = composite(render_background(background, noise, rows), alpha, objects.colour[rows])
    return Shapes(torch.from_numpy(images), torch.from_numpy(objects.label.astype(np.int64)), torch.from_numpy(masks))


def patch_coverage(masks: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Fraction of the P x P patches of each mask that contain any object pixel: (n, S, S) -> (n,)."""
    if not isinstance(masks, torch.Tensor) or masks.ndim != 3:
        shape = tuple(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise ValueError(f"masks must be a (n, S, S) tensor (e.g. Shapes.masks), got {shape}.")
    check_int(patch_size, "patch_size", hint=" (pixels)")
    n, height, width = masks.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"patch_size {patch_size} must divide the mask size {height}x{width}.")
    grid = masks.reshape(n, height // patch_size, patch_size, width // patch_size, patch_size)
    return grid.any(dim=4).any(dim=2).float().mean(dim=(1, 2))  # (n,)
