"""The one renderer of the course's synthetic scenes: cluttered backgrounds, object compositing, colours.

Both scene generators draw their own random numbers and their own objects and leave the rest to
this module: :func:`vit_edu.data.shapes.make_shapes` (four shapes, with masks) and
:mod:`vit_edu.data.scenes` (twelve glyph classes for pre-training, pasted digits downstream).

A scene is a textured grey background, soft blobs and thin lines (grey or coloured distractors),
and one object painted on top:

- background = 0.35 * smooth field (a 5 x 5 grid upsampled bilinearly) + 0.3 * brightness + 0.16
  + 0.08 * pixel noise, so grey levels lie in [0.16, 0.89];
- blobs: discs of radius 1.5-4 px at 32 px, each with an opacity and a colour;
- lines: segments whose ink reaches 1.2 px from the centre line at 32 px;
- the object: a signed distance d in pixels (< 0 inside), painted with the anti-aliased coverage
  alpha = clip(0.5 - d, 0, 1); the same numbers give a mask (d <= 0).

Positions and lengths are image-relative (the image side is 1), so the same numbers render the
same scene at 32 px and at 48 px; only the pixel noise is drawn per pixel. Edges are anti-aliased
over one pixel at any size. Rendering goes in cache-sized chunks of images (:func:`chunks`).

Shapes: backgrounds (m, C, S, S) with C = 1 (grey distractors) or 3; images (m, 3, S, S) float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

# Background grey = TEXTURE * smooth field + BRIGHTNESS * brightness + BASE_GREY + NOISE * pixel noise.
TEXTURE, BRIGHTNESS, BASE_GREY, NOISE = 0.35, 0.3, 0.16, 0.08
COARSE_GRID = 5  # the smooth field is a COARSE_GRID x COARSE_GRID grid of uniform values, upsampled
# Draw ranges the generators share; lengths are fractions of the image side (1.5-4 px and 1.2 px at 32 px).
BLOB_RADIUS: tuple[float, float] = (1.5 / 32, 4.0 / 32)
BLOB_OPACITY: tuple[float, float] = (0.6, 1.0)
LINE_WIDTH = 1.2 / 32  # distance from a line's centre at which its ink fades to zero
DISTRACTOR_GREY: tuple[float, float] = (0.05, 0.95)
DISTRACTOR_SATURATION, DISTRACTOR_VALUE = (0.5, 1.0), (0.4, 1.0)
OBJECT_SATURATION, OBJECT_VALUE = (0.7, 1.0), (0.6, 1.0)
CHUNK_PIXELS = 2**18  # about 1 MB per float32 plane of a chunk: stays in cache


class Background(NamedTuple):
    """The random numbers of ``n`` cluttered backgrounds, image-relative (positions are (y, x) in [0, 1]).

    C is 1 for grey distractors, 3 for coloured ones.
    """

    coarse: np.ndarray  # (n, COARSE_GRID, COARSE_GRID) in [0, 1]: the smooth field before upsampling
    brightness: np.ndarray  # (n,) in [0, 1]
    blob_centre: np.ndarray  # (num_blobs, 2, n) as (y, x)
    blob_radius: np.ndarray  # (num_blobs, n)
    blob_opacity: np.ndarray  # (num_blobs, n)
    blob_colour: np.ndarray  # (num_blobs, n, C)
    line_ends: np.ndarray  # (num_lines, 2, 2, n): (start, end) x (y, x)
    line_colour: np.ndarray  # (num_lines, n, C)


def hsv_colours(rng: np.random.Generator, n: int, saturation: tuple[float, float], value: tuple[float, float],
                hue_range: tuple[float, float] = (0.0, 360.0)) -> np.ndarray:
    """(n, 3) RGB colours: hue uniform in ``hue_range`` (degrees), saturation and value uniform in their ranges.

    Draws n hues, then n saturations, then n values from ``rng``.
    """
    hue = rng.uniform(hue_range[0] / 60.0, hue_range[1] / 60.0, n)  # in sixths of the colour wheel
    sat, val = rng.uniform(*saturation, n), rng.uniform(*value, n)
    k = (np.array([5.0, 3.0, 1.0]) + hue[:, None]) % 6.0  # (n, 3)
    return val[:, None] - val[:, None] * sat[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def distractor_colours(rng: np.random.Generator, count: int, n: int, coloured: bool) -> np.ndarray:
    """Colours of ``count`` distractors in each of ``n`` images: (count, n, 1) grey levels or (count, n, 3) RGB."""
    if coloured:
        return hsv_colours(rng, count * n, DISTRACTOR_SATURATION, DISTRACTOR_VALUE).reshape(count, n, 3)
    return rng.uniform(*DISTRACTOR_GREY, (count, n, 1))


def chunks(n: int, image_size: int) -> Iterator[slice]:
    """Slices of ``range(n)`` with about :data:`CHUNK_PIXELS` pixels each: render a chunk while it is in cache."""
    step = max(1, CHUNK_PIXELS // (image_size * image_size))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def pixel_centres(image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) of every pixel centre in pixels (i + 0.5), each (S, S) float32."""
    yy, xx = (np.mgrid[0:image_size, 0:image_size] + 0.5).astype(np.float32)
    return yy, xx


def box_distance(u: np.ndarray, v: np.ndarray, half_u: float | np.ndarray, half_v: float | np.ndarray) -> np.ndarray:
    """Signed distance (< 0 inside, exact outside along the axes) of the box |u| <= half_u, |v| <= half_v."""
    return np.maximum(np.abs(u) - half_u, np.abs(v) - half_v)


def triangle_distance(u: np.ndarray, v: np.ndarray, inradius: float | np.ndarray) -> np.ndarray:
    """Signed distance (< 0 inside) of the equilateral triangle with this inradius, centred, one corner at -v."""
    sides = [u * np.cos(a) + v * np.sin(a) for a in np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
    return np.maximum(np.maximum(sides[0], sides[1]), sides[2]) - inradius


def edge_alpha(distance: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a shape from its signed distance in pixels: 1 inside, 0 outside, a 1 px ramp."""
    return np.clip(0.5 - distance, 0.0, 1.0)


def paint(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Alpha-blend colours (m, C) into canvas (m, C, S, S) with alpha (m, S, S), in place."""
    canvas *= 1.0 - alpha[:, None]
    canvas += alpha[:, None] * colour.astype(canvas.dtype)[:, :, None, None]


def _upsample(coarse: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of (n, c, c) to (n, size, size), corners aligned, as two small matrix products."""
    c = coarse.shape[-1]
    pos = np.linspace(0, c - 1, size)
    lower = np.minimum(pos.astype(int), c - 2)
    frac = pos - lower
    interp = np.zeros((size, c))
    interp[np.arange(size), lower] = 1 - frac
    interp[np.arange(size), lower + 1] = frac
    return interp @ coarse @ interp.T  # (n, size, size)


def _check(background: Background, noise: np.ndarray) -> None:
    if not isinstance(background, Background):
        raise TypeError(f"background must be a vit_edu.data.render.Background, got {type(background).__name__}.")
    if not isinstance(noise, np.ndarray) or noise.ndim != 3 or noise.shape[1] != noise.shape[2]:
        shape = noise.shape if isinstance(noise, np.ndarray) else type(noise).__name__
        raise ValueError(f"noise must be a numpy array (n, S, S) of per-pixel uniforms, got {shape}.")
    n = len(noise)
    expected = {"coarse": (n, COARSE_GRID, COARSE_GRID), "brightness": (n,),
                "blob_centre": (None, 2, n), "blob_radius": (None, n), "blob_opacity": (None, n),
                "blob_colour": (None, n, None), "line_ends": (None, 2, 2, n), "line_colour": (None, n, None)}
    for name, shape in expected.items():
        actual = getattr(background, name).shape
        if len(actual) != len(shape) or any(want not in (None, got) for want, got in zip(shape, actual)):
            raise ValueError(f"background.{name} must have shape {shape} (None: any) for {n} noise images, "
                             f"got {actual}.")
    channels = {background.blob_colour.shape[-1], background.line_colour.shape[-1]}
    if channels not in ({1}, {3}):
        raise ValueError(f"blob_colour and line_colour must both be grey (C = 1) or RGB (C = 3), got C in {channels}.")


def render_background(background: Background, noise: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
    """Render the backgrounds ``rows``: texture and noise, then the blobs, then the lines.

    Args:
        background: the image-relative numbers of n backgrounds.
        noise: (n, S, S) uniform [0, 1) per pixel; its side S is the image size.
        rows: which of the n backgrounds to render.

    Returns:
        (m, C, S, S) float32, C = 1 for grey distractors, 3 for coloured ones.
    """
    _check(background, noise)
    f32 = np.float32
    size = noise.shape[-1]
    yy, xx = pixel_centres(size)  # (S, S) each; lengths below are converted to pixels first
    texture = (_upsample(background.coarse[rows], size) * TEXTURE
               + background.brightness[rows, None, None] * BRIGHTNESS + BASE_GREY)  # (m, S, S)
    texture = texture.astype(f32) + noise[rows] * f32(NOISE)
    canvas = np.repeat(texture[:, None], background.blob_colour.shape[-1], axis=1)  # (m, C, S, S)
    for k in range(len(background.blob_radius)):  # soft discs
        cy, cx = (background.blob_centre[k, :, rows] * size).astype(f32)[:, :, None, None]  # (m, 1, 1) each
        radius = (background.blob_radius[k, rows] * size).astype(f32)[:, None, None]
        disc = np.clip(radius - np.hypot(yy - cy, xx - cx), 0.0, 1.0)  # (m, S, S)
        opacity = background.blob_opacity[k, rows].astype(f32)[:, None, None]
        paint(canvas, disc * opacity, background.blob_colour[k, rows])
    width = f32(LINE_WIDTH * size)
    for k in range(len(background.line_colour)):  # thin segments
        (y0, x0), (y1, x1) = (background.line_ends[k, :, :, rows] * size).astype(f32)[..., None, None]
        dy, dx = y1 - y0, x1 - x0
        # position along the segment of each pixel's nearest point; the tiny term keeps a zero-length segment finite
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx + f32(1e-6)), 0.0, 1.0)
        distance = np.hypot(yy - y0 - t * dy, xx - x0 - t * dx)  # (m, S, S), pixels
        paint(canvas, np.clip(width - distance, 0.0, 1.0), background.line_colour[k, rows])
    return canvas


def composite(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Paint an object of coverage ``alpha`` (m, S, S) in ``colour`` (m, 3) over backgrounds (m, C, S, S).

    Returns:
        (m, 3, S, S) float32 in [0, 1]; ``canvas`` is painted in place when it already has 3 channels.
    """
    if canvas.shape[1] != 3:
        canvas = np.repeat(canvas, 3, axis=1)  # (m, 3, S, S)
    paint(canvas, alpha, colour)
    return np.clip(canvas, 0.0, 1.0, out=canvas)
