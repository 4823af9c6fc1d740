"""The handwritten digits of scikit-learn (1797 grey 8x8 images, 10 classes), shipped inside its
wheel, with a fixed stratified train/test split. Images are float32 in [0, 1], shape (n, 1, 8, 8).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

DIGIT_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))


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
