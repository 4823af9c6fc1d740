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
Everything is vectorised over the batch: 8k images of 32x32 take about a second.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
CLUTTER_CHOICES = ("grey", "colour")


class Shapes(NamedTuple):
    """images (n, 3, S, S) float32 in [0, 1]; labels (n,) int64; masks (n, S, S) bool."""

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor


def _upsample(coarse: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of (n, c, c) to (n, size, size) as two small matrix products."""
    c = coarse.shape[-1]
    pos = np.linspace(0, c - 1, size)
    lower = np.minimum(pos.astype(int), c - 2)
    frac = pos - lower
    interp = np.zeros((size, c))
    interp[np.arange(size), lower] = 1 - frac
    interp[np.arange(size), lower + 1] = frac
    return interp @ coarse @ interp.T  # (n, size, size)


def _hsv_colours(rng: np.random.Generator, n: int, saturation: tuple, value: tuple,
                 hue_range: tuple[float, float] = (0.0, 360.0)) -> np.ndarray:
    """(n, 3) RGB colours with a hue uniform in ``hue_range`` (degrees) and saturation/value in the given ranges."""
    hue = rng.uniform(hue_range[0] / 60.0, hue_range[1] / 60.0, n)  # in sixths of the colour wheel
    sat, val = rng.uniform(*saturation, n), rng.uniform(*value, n)
    k = (np.array([5.0, 3.0, 1.0]) + hue[:, None]) % 6.0  # (n, 3)
    return val[:, None] - val[:, None] * sat[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _object_distance(label: int, u: np.ndarray, v: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, < 0 inside) of shape type ``label`` in rotated coordinates u, v."""
    if label == 0:  # circle of radius `size`
        return np.hypot(u, v) - size
    if label == 1:  # square of half-side 0.85 size (about the circle's area)
        return np.maximum(np.abs(u), np.abs(v)) - 0.85 * size
    if label == 2:  # equilateral triangle, inradius 0.62 size (circumradius 1.24 size)
        sides = [u * np.cos(a) + v * np.sin(a) for a in np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
        return np.maximum(np.maximum(sides[0], sides[1]), sides[2]) - 0.62 * size
    arm, half_width = 1.1 * size, 0.38 * size  # cross: two bars
    return np.minimum(np.maximum(np.abs(u) - arm, np.abs(v) - half_width),
                      np.maximum(np.abs(u) - half_width, np.abs(v) - arm))


def _paint(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Alpha-blend colours (n, C) into canvas (n, C, S, S) with alpha (n, S, S), in place."""
    canvas *= 1.0 - alpha[:, None]
    canvas += alpha[:, None] * colour[:, :, None, None]


def _draw_parameters(rng: np.random.Generator, n: int, S: int, clutter: str, num_blobs: int, num_lines: int,
                     object_size: tuple[float, float], rotate: bool, hue_range: tuple[float, float]):
    """All random numbers of a batch, drawn up front so rendering can go in cache-sized chunks."""
    scale = S / 32.0
    channels = 1 if clutter == "grey" else 3

    def distractor_colours(k: int) -> np.ndarray:  # (k, n, C)
        if clutter == "grey":
            return rng.uniform(0.05, 0.95, (k, n, 1))
        return _hsv_colours(rng, k * n, (0.5, 1.0), (0.4, 1.0)).reshape(k, n, 3)

    p = dict(
        coarse=rng.random((n, 5, 5)), brightness=rng.random((n, 1, 1)),
        noise=rng.random((n, S, S), dtype=np.float32),
        blob_centre=rng.uniform(0, S, (num_blobs, 2, n, 1, 1)),
        blob_radius=rng.uniform(1.5, 4.0, (num_blobs, n, 1, 1)) * scale,
        blob_opacity=rng.uniform(0.6, 1.0, (num_blobs, n, 1, 1)), blob_colour=distractor_colours(num_blobs),
        line_ends=rng.uniform(0, S, (num_lines, 2, 2, n, 1, 1)), line_colour=distractor_colours(num_lines),
        label=rng.integers(0, len(SHAPE_CLASSES), n), size=rng.uniform(*object_size, (n, 1, 1)) * scale,
        position=rng.random((2, n, 1, 1)), theta=rng.uniform(0, 2 * np.pi, (n, 1, 1)) * rotate,
        colour=_hsv_colours(rng, n, (0.7, 1.0), (0.6, 1.0), hue_range),
    )
    p["channels"] = channels
    return p


def _render(p: dict, rows: slice, S: int) -> tuple[np.ndarray, np.ndarray]:
    """Render images ``rows`` of the drawn parameters: (m, 3, S, S) float32 and masks (m, S, S)."""
    f32 = np.float32
    yy, xx = (np.mgrid[0:S, 0:S] + 0.5).astype(f32)  # pixel centres, each (S, S)
    scale = f32(S / 32.0)
    # Textured grey background: a smooth low-frequency field plus pixel noise.
    texture = _upsample(p["coarse"][rows], S) * 0.35 + p["brightness"][rows] * 0.3 + 0.16  # (m, S, S)
    texture = texture.astype(f32) + p["noise"][rows] * f32(0.08)
    canvas = np.repeat(texture[:, None], p["channels"], axis=1)  # (m, C, S, S)
    for k in range(p["blob_radius"].shape[0]):  # soft blobs
        cy, cx = p["blob_centre"][k, :, rows].astype(f32)
        disc = np.clip(p["blob_radius"][k, rows].astype(f32) - np.hypot(yy - cy, xx - cx), 0.0, 1.0)
        _paint(canvas, disc * p["blob_opacity"][k, rows].astype(f32), p["blob_colour"][k, rows].astype(f32))
    for k in range(p["line_colour"].shape[0]):  # thin line segments
        (y0, x0), (y1, x1) = p["line_ends"][k, :, :, rows].astype(f32)
        dy, dx = y1 - y0, x1 - x0
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx + f32(1e-6)), 0.0, 1.0)
        dist = np.hypot(yy - y0 - t * dy, xx - x0 - t * dx)
        _paint(canvas, np.clip(f32(1.2) * scale - dist, 0.0, 1.0), p["line_colour"][k, rows].astype(f32))
    if canvas.shape[1] == 1:
        canvas = np.repeat(canvas, 3, axis=1)  # (m, 3, S, S)
    # The object: type = label, random size, position (fully inside), rotation and colour.
    size = p["size"][rows].astype(f32)
    margin = f32(1.6) * size + 1.0
    cy, cx = margin + p["position"][:, rows].astype(f32) * (S - 2 * margin)
    cos, sin = np.cos(p["theta"][rows]).astype(f32), np.sin(p["theta"][rows]).astype(f32)
    u, v = (xx - cx) * cos + (yy - cy) * sin, (yy - cy) * cos - (xx - cx) * sin  # (m, S, S) each
    labels = p["label"][rows]
    distance = np.empty(u.shape, dtype=f32)
    for label in range(len(SHAPE_CLASSES)):
        chosen = labels == label
        distance[chosen] = _object_distance(label, u[chosen], v[chosen], size[chosen])
    _paint(canvas, np.clip(0.5 - distance, 0.0, 1.0), p["colour"][rows].astype(f32))
    return np.clip(canvas, 0.0, 1.0), distance <= 0.0


def make_shapes(
    n: int, image_size: int = 32, seed: int = 0, clutter: str = "grey",
    num_blobs: int = 4, num_lines: int = 3, object_size: tuple[float, float] = (3.5, 5.5), rotate: bool = True,
    hue_range: tuple[float, float] = (0.0, 360.0),
) -> Shapes:
    """Generate ``n`` images of one labelled shape among distractors.

    Args:
        n: number of images.
        image_size: S, the side in pixels (>= 16). Object sizes scale with S.
        seed: the same seed always gives the same images.
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
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive int (number of images), got {n!r}.")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"image_size must be an int >= 16 (pixels), got {image_size!r}.")
    if clutter not in CLUTTER_CHOICES:
        raise ValueError(f"clutter must be one of {CLUTTER_CHOICES}, got {clutter!r}.")
    if num_blobs < 1 or num_lines < 1:
        raise ValueError(f"num_blobs and num_lines must be >= 1 (distractors are always present), "
                         f"got {num_blobs} and {num_lines}.")
    S = image_size
    if not 1.0 <= object_size[0] <= object_size[1] <= 8.0:
        raise ValueError(f"object_size must be a (min, max) range of radii in [1, 8] (pixels at S = 32), "
                         f"got {object_size}.")
    if not (len(hue_range) == 2 and 0.0 <= hue_range[0] <= hue_range[1] <= 360.0):
        raise ValueError(f"hue_range must be (low, high) degrees with 0 <= low <= high <= 360, got {hue_range!r}.")
    params = _draw_parameters(np.random.default_rng(seed), n, S, clutter, num_blobs, num_lines, object_size, rotate,
                              tuple(float(h) for h in hue_range))
    images = np.empty((n, 3, S, S), dtype=np.float32)
    masks = np.empty((n, S, S), dtype=bool)
    chunk = max(1, 2**18 // (S * S))  # about 1 MB per float32 plane: stays in cache
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        images[rows], masks[rows] = _render(params, rows, S)
    return Shapes(torch.from_numpy(images), torch.from_numpy(params["label"].astype(np.int64)),
                  torch.from_numpy(masks))


def patch_coverage(masks: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Fraction of the P x P patches of each mask that contain any object pixel: (n, S, S) -> (n,)."""
    n, height, width = masks.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"patch_size {patch_size} must divide the mask size {height}x{width}.")
    grid = masks.reshape(n, height // patch_size, patch_size, width // patch_size, patch_size)
    return grid.any(dim=4).any(dim=2).float().mean(dim=(1, 2))  # (n,)
