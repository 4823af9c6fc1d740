"""Scenes with TWO labelled shapes of different classes, for multi-label training and class-specific maps.

Each image holds two objects of different classes from :data:`~vit_edu.data.shapes.SHAPE_CLASSES`
(circle, square, triangle, cross), drawn with the same geometry as :func:`~vit_edu.data.shapes.make_shapes`
and on the same cluttered background (:mod:`vit_edu.data.render`: textured grey, blobs, lines), upright.
The target is multi-hot: both classes are positive. Each object has its own mask, so a map that
explains "circle" can be scored against the circle and against the other object.

Placement never lets the objects overlap, by construction rather than by rejection: a random axis
(x or y) separates the two objects' bounding boxes by at least ``min_gap`` pixels; the free room
along that axis is split at random into the space before, between and after them, and along the
other axis each object is placed independently. So the objects may sit side by side, one above
the other, or diagonally apart.

Shapes: images (n, 3, S, S) float32 in [0, 1]; targets (n, K) float32 multi-hot; classes (n, 2)
int64; masks (n, 2, S, S) bool, one per object (object 0 first).
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
    chunks,
    composite,
    distractor_colours,
    edge_alpha,
    hsv_colours,
    paint,
    pixel_centres,
    render_background,
)
from vit_edu.data.shapes import CLUTTER_CHOICES, SHAPE_CLASSES, object_distance

__all__ = ["BOX_EXTENTS", "TwoObjectScenes", "make_two_object_scenes"]

# Bounding box of each upright shape around its centre, in units of its size (circle radius):
# (half-width in x, extent upwards, extent downwards). The triangle has one corner up (circumradius
# 1.24) and its base 0.62 (the inradius) below the centre, with half-base sqrt(3) * 0.62.
BOX_EXTENTS: dict[str, tuple[float, float, float]] = {
    "circle": (1.0, 1.0, 1.0),
    "square": (0.85, 0.85, 0.85),
    "triangle": (3**0.5 * 0.62, 1.24, 0.62),
    "cross": (1.1, 1.1, 1.1),
}
_BORDER = 1.0  # pixels kept free between a box and the image edge
_LARGEST_BOX = max(max(2 * x, up + down) for x, up, down in BOX_EXTENTS.values())  # in units of size


class TwoObjectScenes(NamedTuple):
    """images (n, 3, S, S) float32 in [0, 1]; targets (n, K) float32 multi-hot; classes (n, 2) int64 (distinct
    per image); masks (n, 2, S, S) bool (object 0, object 1; disjoint)."""

    images: torch.Tensor
    targets: torch.Tensor
    classes: torch.Tensor
    masks: torch.Tensor


def _pair(value: object, name: str, example: str) -> tuple[float, float]:
    """A (low, high) pair of finite numbers."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a (low, high) pair of numbers ({example}), got {value!r}.")
    return check_number(value[0], f"{name}[0]"), check_number(value[1], f"{name}[1]")


def _place(rng: np.random.Generator, boxes: np.ndarray, S: int, min_gap: float) -> np.ndarray:
    """Centres (n, 2, 2) as (object, (y, x)) in pixels for boxes that never overlap.

    Args:
        boxes: (n, 2, 3) per object (half-width, up, down) in pixels.
    """
    n = len(boxes)
    half_x, up, down = boxes[..., 0], boxes[..., 1], boxes[..., 2]  # (n, 2) each
    axis = rng.integers(0, 2, n)  # 0: separated along y, 1: along x
    first = rng.integers(0, 2, n)  # which object comes first along that axis
    cuts = np.sort(rng.random((n, 2)), axis=1)  # split the free room: before, between, after
    free = rng.random((n, 2))  # the other axis, per object
    room = S - 2 * _BORDER
    length = np.stack([up + down, 2 * half_x], axis=-1)  # (n, 2 objects, 2 axes) box lengths along y, x
    start_of_centre = np.stack([up, half_x], axis=-1)  # distance from a box's start to its centre
    rows = np.arange(n)
    along = length[rows, :, axis]  # (n, 2) lengths along the separating axis
    slack = room - along.sum(axis=1) - min_gap  # (n,) >= 0, checked by the caller
    lead, follow = first, 1 - first
    starts = np.empty((n, 2))
    starts[rows, lead] = _BORDER + cuts[:, 0] * slack
    starts[rows, follow] = starts[rows, lead] + along[rows, lead] + min_gap + (cuts[:, 1] - cuts[:, 0]) * slack
    centres = np.empty((n, 2, 2))
    for obj in range(2):
        centres[rows, obj, axis] = starts[:, obj] + start_of_centre[rows, obj, axis]
        other = 1 - axis
        span = room - length[rows, obj, other]  # >= 0: a box fits the image
        centres[rows, obj, other] = _BORDER + free[:, obj] * span + start_of_centre[rows, obj, other]
    return centres


def make_two_object_scenes(
    n: int, image_size: int = 32, seed: int = 0, clutter: str = "grey", num_blobs: int = 4, num_lines: int = 3,
    object_size: tuple[float, float] = (4.0, 5.5), hue_range: tuple[float, float] = (0.0, 60.0),
    min_gap: float = 2.0,
) -> TwoObjectScenes:
    """Generate ``n`` images with two shapes of different classes among distractors.

    Args:
        n: number of images.
        image_size: S, the side in pixels (>= 16). Object sizes scale with S.
        seed: the same seed always gives the same scenes (for one ``image_size``).
        clutter: ``"grey"`` (grey distractors, coloured objects) or ``"colour"`` (coloured distractors).
        num_blobs, num_lines: distractors per image (>= 1 each).
        object_size: range of each object's size (circle radius) in pixels at S = 32, scaled with S.
            Two of the largest boxes must fit side by side with ``min_gap`` between them.
        hue_range: object hues in degrees (see :func:`vit_edu.data.shapes.make_shapes`); the default, warm
            hues, is the shapes course model's.
        min_gap: pixels between the two objects' bounding boxes (>= 2, so their anti-aliased edges,
            which reach up to a pixel beyond the mask, never touch).

    Returns:
        :class:`TwoObjectScenes`: ``classes[i]`` are two different indices into ``SHAPE_CLASSES``,
        ``targets[i]`` is 1 at both and 0 elsewhere, ``masks[i, j]`` marks object j's pixels.
    """
    check_int(n, "n", hint=" (number of images)")
    S = check_int(image_size, "image_size", minimum=16, hint=" (pixels)")
    seed = check_seed(seed)
    check_choice(clutter, "clutter", CLUTTER_CHOICES)
    check_int(num_blobs, "num_blobs", hint=" (distractors are always present)")
    check_int(num_lines, "num_lines", hint=" (distractors are always present)")
    min_gap = check_number(min_gap, "min_gap", minimum=2.0, hint=" pixels (anti-aliased edges reach 1 px out)")
    low, high = _pair(object_size, "object_size", "radii in pixels at S = 32, e.g. (4.0, 5.5)")
    if not 1.0 <= low <= high:
        raise ValueError(f"object_size must be a (min, max) range of radii >= 1 (pixels at S = 32), got {object_size}.")
    largest = _LARGEST_BOX * high * S / 32.0
    if 2 * largest + min_gap > S - 2 * _BORDER:
        fits = (S - 2 * _BORDER - min_gap) / (2 * _LARGEST_BOX) * 32.0 / S
        raise ValueError(f"object_size {tuple(object_size)} is too large for two objects in {S}x{S} images with "
                         f"min_gap={min_gap:g}: the largest radius must be <= {fits:.2f} (pixels at S = 32).")
    hue_low, hue_high = _pair(hue_range, "hue_range", "degrees, e.g. (0, 60)")
    if not 0.0 <= hue_low <= hue_high <= 360.0:
        raise ValueError(f"hue_range must be (low, high) degrees with 0 <= low <= high <= 360, got {hue_range!r}.")

    rng = np.random.default_rng(seed)
    coloured = clutter == "colour"
    coarse, brightness = rng.random((n, COARSE_GRID, COARSE_GRID)), rng.random(n)
    noise = rng.random((n, S, S), dtype=np.float32)
    blob_centre, blob_radius = rng.random((num_blobs, 2, n)), rng.uniform(*BLOB_RADIUS, (num_blobs, n))
    blob_opacity = rng.uniform(*BLOB_OPACITY, (num_blobs, n))
    blob_colour = distractor_colours(rng, num_blobs, n, coloured)
    line_ends, line_colour = rng.random((num_lines, 2, 2, n)), distractor_colours(rng, num_lines, n, coloured)
    background = Background(coarse, brightness, blob_centre, blob_radius, blob_opacity, blob_colour, line_ends,
                            line_colour)
    num_classes = len(SHAPE_CLASSES)
    first = rng.integers(0, num_classes, n)
    classes = np.stack([first, (first + rng.integers(1, num_classes, n)) % num_classes], axis=1)  # (n, 2), distinct
    sizes = rng.uniform(low, high, (n, 2)) * (S / 32.0)  # (n, 2) pixels
    extents = np.array([BOX_EXTENTS[name] for name in SHAPE_CLASSES])  # (K, 3)
    centres = _place(rng, extents[classes] * sizes[..., None], S, min_gap)  # (n, 2, (y, x))
    colours = hsv_colours(rng, 2 * n, OBJECT_SATURATION, OBJECT_VALUE, (hue_low, hue_high)).reshape(n, 2, 3)

    images = np.empty((n, 3, S, S), dtype=np.float32)
    masks = np.empty((n, 2, S, S), dtype=bool)
    yy, xx = pixel_centres(S)  # (S, S) each
    for rows in chunks(n, S):
        alphas = []
        for obj in range(2):
            cy, cx = (centres[rows, obj, i, None, None].astype(np.float32) for i in (0, 1))  # (m, 1, 1) each
            u, v = xx - cx, yy - cy  # (m, S, S) each
            size = sizes[rows, obj, None, None].astype(np.float32)
            labels = classes[rows, obj]
            distance = np.empty(u.shape, dtype=np.float32)
            for label in range(num_classes):
                chosen = labels == label
                distance[chosen] = object_distance(label, u[chosen], v[chosen], size[chosen])
            alphas.append(edge_alpha(distance))
            masks[rows, obj] = distance <= 0.0
        canvas = composite(render_background(background, noise, rows), alphas[0], colours[rows, 0])  # (m, 3, S, S)
        paint(canvas, alphas[1], colours[rows, 1])
        images[rows] = np.clip(canvas, 0.0, 1.0)
    targets = np.zeros((n, num_classes), dtype=np.float32)
    np.put_along_axis(targets, classes, 1.0, axis=1)
    return TwoObjectScenes(torch.from_numpy(images), torch.from_numpy(targets),
                           torch.from_numpy(classes.astype(np.int64)), torch.from_numpy(masks))
