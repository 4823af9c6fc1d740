"""The data of lesson 10: a large pre-training task and a small downstream task with new labels.

Both draw one coloured object, large (45-60 % of the image side), rotated and placed at random,
on a textured grey background with grey blobs and lines, as :mod:`vit_edu.data.shapes` does:

- **pre-training** (:func:`make_glyph_shapes`): twelve shape classes (:data:`PRETRAIN_CLASSES`):
  filled shapes, outlines and strokes, at any rotation; as many images as we like;
- **downstream** (:func:`downstream_data`): sklearn's 8 x 8 handwritten digits, scaled up,
  tilted a little, coloured and pasted in the same way: ten classes pre-training never saw.
  The train/test glyphs come from the fixed split of :func:`vit_edu.data.load_digits_split`,
  so test digits are handwriting the model never saw.

Every scene is drawn from numbers in image-relative units, so the same ``seed`` renders the same
scene at 32 px or at 48 px (only the pixel noise differs): the higher-resolution fine-tuning
of lesson 10 uses this.

Shapes: images (n, 3, S, S) float32 in [0, 1]; labels (n,) int64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from vit_edu.data.digits import load_digits_split
from vit_edu.data.shapes import _hsv_colours

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


def _box(u: torch.Tensor, v: torch.Tensor, half_u: float, half_v: float) -> torch.Tensor:
    return torch.maximum(u.abs() - half_u, v.abs() - half_v)


def _triangle(u: torch.Tensor, v: torch.Tensor, inradius: float) -> torch.Tensor:
    sides = [u * np.cos(a) + v * np.sin(a) for a in np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
    return torch.maximum(torch.maximum(sides[0], sides[1]), sides[2]) - inradius


# Signed distances (< 0 inside) in object units: the object fills about [-1, 1]^2.
_SDF: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "disc": lambda u, v: torch.hypot(u, v) - 0.85,
    "square": lambda u, v: _box(u, v, 0.72, 0.72),
    "triangle": lambda u, v: _triangle(u, v, 0.48),
    "plus": lambda u, v: torch.minimum(_box(u, v, 0.95, 0.28), _box(u, v, 0.28, 0.95)),
    "ring": lambda u, v: (torch.hypot(u, v) - 0.68).abs() - 0.2,
    "frame": lambda u, v: _box(u, v, 0.6, 0.6).abs() - 0.18,
    "hollow triangle": lambda u, v: _triangle(u, v, 0.4).abs() - 0.14,
    "bar": lambda u, v: _box(u, v, 0.95, 0.24),
    "L": lambda u, v: torch.minimum(_box(u + 0.55, v, 0.24, 0.95), _box(u, v - 0.71, 0.79, 0.24)),
    "T": lambda u, v: torch.minimum(_box(u, v + 0.71, 0.95, 0.24), _box(u, v, 0.24, 0.95)),
    "half disc": lambda u, v: torch.maximum(torch.hypot(u, v + 0.4) - 0.95, -(v + 0.4)),
    "crescent": lambda u, v: torch.maximum(torch.hypot(u, v) - 0.9, 0.72 - torch.hypot(u - 0.45, v)),
}


def _scene(rng: np.random.Generator, n: int, num_blobs: int, num_lines: int, max_angle: float,
           hue_range: tuple[float, float]) -> dict:
    """All random numbers of a batch except the pixel noise, in image-relative units."""
    def draw(*shape, low=0.0, high=1.0):
        return torch.from_numpy(rng.uniform(low, high, shape).astype(np.float32))

    side = draw(n, low=0.45, high=0.6)  # object side / image side
    return dict(
        coarse=draw(n, 1, 5, 5), brightness=draw(n, 1, 1, 1),
        blob_centre=draw(num_blobs, 2, n, 1, 1), blob_radius=draw(num_blobs, n, 1, 1, low=1.5 / 32, high=4 / 32),
        blob_opacity=draw(num_blobs, n, 1, 1, low=0.6), blob_grey=draw(num_blobs, n, 1, 1, low=0.05, high=0.95),
        line_ends=draw(num_lines, 2, 2, n, 1, 1), line_grey=draw(num_lines, n, 1, 1, low=0.05, high=0.95),
        side=side, centre=draw(n, 2) * (1 - side[:, None]) + side[:, None] / 2,
        angle=draw(n, low=-max_angle, high=max_angle),
        colour=torch.from_numpy(_hsv_colours(rng, n, (0.7, 1.0), (0.6, 1.0), hue_range).astype(np.float32)),  # (n, 3)
    )


def _background(scene: dict, noise: torch.Tensor) -> torch.Tensor:
    """Grey texture, soft grey discs and thin grey lines: (n, 1, S, S)."""
    S = noise.shape[-1]
    canvas = F.interpolate(scene["coarse"], size=(S, S), mode="bilinear", align_corners=True) * 0.35
    canvas = canvas + scene["brightness"] * 0.3 + 0.16 + noise * 0.08  # (n, 1, S, S)
    yy, xx = (torch.stack(torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")).float() + 0.5) / S
    for k in range(scene["blob_grey"].shape[0]):  # about one pixel of anti-aliasing at any S
        cy, cx = scene["blob_centre"][k]
        disc = ((scene["blob_radius"][k] - torch.hypot(yy - cy, xx - cx)) * S).clamp(0, 1)  # (n, S, S)
        alpha = (disc * scene["blob_opacity"][k])[:, None]  # (n, 1, S, S)
        canvas = canvas * (1 - alpha) + alpha * scene["blob_grey"][k][:, None]
    for k in range(scene["line_grey"].shape[0]):  # 1.2 px wide at 32 px
        (y0, x0), (y1, x1) = scene["line_ends"][k]
        dy, dx = y1 - y0, x1 - x0
        t = (((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx + 1e-6)).clamp(0, 1)
        distance = torch.hypot(yy - y0 - t * dy, xx - x0 - t * dx) * S  # pixels
        alpha = (1.2 * S / 32 - distance).clamp(0, 1)[:, None]  # (n, 1, S, S)
        canvas = canvas * (1 - alpha) + alpha * scene["line_grey"][k][:, None]
    return canvas


def _object_grid(scene: dict, S: int) -> torch.Tensor:
    """Each output pixel's position in object units ([-1, 1]^2 = the object's box): (n, S, S, 2) as (u, v)."""
    cos, sin = torch.cos(scene["angle"]), torch.sin(scene["angle"])
    rotation = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (n, 2, 2)
    rotation = rotation / scene["side"][:, None, None]
    shift = -(rotation @ (2 * scene["centre"].flip(-1) - 1)[:, :, None])  # (n, 2, 1); centre as (x, y)
    return F.affine_grid(torch.cat([rotation, shift], dim=2), [len(rotation), 1, S, S], align_corners=False)


def _check_size(image_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"image_size must be an int >= 16 (pixels), got {image_size!r}.")


def _compose(scene: dict, noise: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
    """Paint the object's ink (n, 1, S, S) in its colour over the grey background: (n, 3, S, S)."""
    images = _background(scene, noise) * (1 - ink) + ink * scene["colour"][:, :, None, None]
    return images.clamp(0, 1).contiguous()


def make_glyph_shapes(n: int, image_size: int = 32, seed: int = 0, max_angle: float = np.pi,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images of one of the twelve :data:`PRETRAIN_CLASSES`, rotated by up to ``max_angle``, in grey clutter.

    Returns:
        (images (n, 3, S, S), labels (n,)).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive int (number of images), got {n!r}.")
    _check_size(image_size)
    rng = np.random.default_rng(seed)
    scene = _scene(rng, n, 4, 3, max_angle, HUE_RANGE)
    labels = torch.from_numpy(rng.integers(0, len(PRETRAIN_CLASSES), n))
    noise = torch.from_numpy(rng.random((n, 1, image_size, image_size), dtype=np.float32))
    grid = _object_grid(scene, image_size)  # (n, S, S, 2)
    distance = torch.empty(grid.shape[:3])
    for label, name in enumerate(PRETRAIN_CLASSES):
        chosen = labels == label
        distance[chosen] = _SDF[name](grid[chosen][..., 0], grid[chosen][..., 1])
    pixels = distance * scene["side"][:, None, None] * image_size / 2  # object units -> pixels
    ink = (0.5 - pixels).clamp(0, 1)[:, None]  # (n, 1, S, S), anti-aliased edge
    return _compose(scene, noise, ink), labels.long()


def paste_digits(glyphs: torch.Tensor, image_size: int = 32, seed: int = 0) -> torch.Tensor:
    """Paste each grey glyph (n, 1, h, w) in [0, 1] (1 = ink), scaled, tilted and coloured, into grey clutter.

    Returns:
        (n, 3, S, S) float32 in [0, 1]; the same ``seed`` gives the same scenes at any ``image_size``.
    """
    if not isinstance(glyphs, torch.Tensor) or glyphs.ndim != 4 or glyphs.shape[1] != 1:
        shape = tuple(glyphs.shape) if isinstance(glyphs, torch.Tensor) else type(glyphs).__name__
        raise ValueError(f"glyphs must be a (n, 1, h, w) tensor of grey digits, got {shape}.")
    _check_size(image_size)
    rng = np.random.default_rng(seed)
    scene = _scene(rng, len(glyphs), 4, 3, 0.3, HUE_RANGE)
    noise = torch.from_numpy(rng.random((len(glyphs), 1, image_size, image_size), dtype=np.float32))
    grid = _object_grid(scene, image_size)  # (n, S, S, 2)
    ink = F.grid_sample(glyphs.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _compose(scene, noise, ink.clamp(0, 1))


def downstream_data(image_size: int = 32, data_seed: int = 0, test_copies: int = 2) -> TransferData:
    """Digits in clutter: every training digit of the fixed split once, every test digit ``test_copies`` times.

    Train: the 1347 training glyphs of ``load_digits_split(seed=0)`` on backgrounds of seed
    ``2 * data_seed``; test: the 450 test glyphs on backgrounds of seed ``2 * data_seed + 1``,
    ``test_copies`` different scenes each (more test images, less noise in the accuracy).
    """
    if isinstance(test_copies, bool) or not isinstance(test_copies, int) or test_copies < 1:
        raise ValueError(f"test_copies must be a positive int, got {test_copies!r}.")
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
    if per_class is None:
        return torch.arange(len(labels))
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive int or None (all images), got {per_class!r}.")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        if len(members) < per_class:
            raise ValueError(f"class {label} has only {len(members)} images, fewer than per_class={per_class}.")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.sort(torch.cat(chosen)).values
