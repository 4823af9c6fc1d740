"""Offline data for the course: handwritten digits, synthetic shapes with masks, sample photos.

Everything here works without a network connection:

- digits: ``sklearn.datasets.load_digits`` (1797 grey 8x8 images, 10 classes), shipped inside
  scikit-learn, with a fixed stratified train/test split;
- shapes: generated on the fly (see :mod:`vit_edu.shapes`), with a ground-truth object mask
  per image, so attention maps can be scored;
- photos: a few ``skimage.data`` images whose files are inside the scikit-image wheel (no
  first-use download), for qualitative attention maps.

All images are float32 in [0, 1], channels first: (n, C, H, W).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .shapes import SHAPE_CLASSES, Shapes, make_shapes, patch_coverage

DIGIT_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
# Colour photos whose files ship in the scikit-image wheel (checked in ``photo_path``).
PHOTO_NAMES: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket")
_PHOTO_FILES = {"astronaut": "astronaut.png", "chelsea": "chelsea.png", "coffee": "coffee.png",
                "rocket": "rocket.jpg", "camera": "camera.png"}

__all__ = [
    "DIGIT_CLASSES", "PHOTO_NAMES", "SHAPE_CLASSES", "DigitsSplit", "Shapes", "load_digits_split",
    "load_photo", "make_shapes", "patch_coverage", "photo_path", "sample_photos",
]


class DigitsSplit(NamedTuple):
    """A fixed train/test split of the sklearn digits: images (n, 1, 8, 8) float32 in [0, 1]."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def load_digits_split(seed: int = 0, test_fraction: float = 0.25) -> DigitsSplit:
    """The sklearn digits, scaled from 0..16 to [0, 1], split stratified by class.

    Args:
        seed: seed of the split (the same seed always gives the same split).
        test_fraction: share of the 1797 images held out for testing, in (0, 1).

    Returns:
        :class:`DigitsSplit` with images (n, 1, 8, 8) float32 and labels (n,) int64.
    """
    if not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}; 0.25 is the default.")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return DigitsSplit(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (x_train, y_train, x_test, y_test)))


def photo_path(name: str) -> Path:
    """The file of a sample photo inside scikit-image's installed data directory.

    Raises:
        ValueError: unknown name.
        FileNotFoundError: the file is not in the installed wheel (it would need a download).
    """
    if name not in _PHOTO_FILES:
        raise ValueError(f"unknown photo {name!r}; choose one of {sorted(_PHOTO_FILES)}.")
    import skimage.data

    path = Path(skimage.data.__file__).parent / _PHOTO_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is not installed; vit_edu only uses photos shipped in the scikit-image wheel "
            "(no downloads). Reinstall scikit-image or pick another photo."
        )
    return path


def load_photo(name: str, size: int | None = None) -> np.ndarray:
    """One photo as an (H, W, 3) float32 array in [0, 1]; grey photos are repeated to RGB.

    Args:
        name: one of ``PHOTO_NAMES`` (or ``"camera"``).
        size: if given, centre-crop to a square and resize (with anti-aliasing) to size x size.
    """
    from skimage.io import imread
    from skimage.transform import resize

    image = imread(photo_path(name)).astype(np.float32) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)  # (H, W, 3)
    image = image[..., :3]
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive int (pixels) or None, got {size!r}.")
        height, width = image.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top:top + side, left:left + side]  # (side, side, 3)
        image = resize(image, (size, size), anti_aliasing=True, order=1).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def sample_photos(size: int = 32, names: tuple[str, ...] = PHOTO_NAMES) -> torch.Tensor:
    """A batch of square photos (len(names), 3, size, size) float32 in [0, 1], in ``names`` order."""
    photos = np.stack([load_photo(name, size) for name in names])  # (n, S, S, 3)
    return torch.from_numpy(photos).permute(0, 3, 1, 2).contiguous()  # (n, 3, S, S)
