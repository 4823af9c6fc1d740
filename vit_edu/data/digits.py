"""The handwritten digits of scikit-learn (1797 grey 8x8 images, 10 classes), shipped inside its
wheel, with a fixed stratified train/test split. Images are float32 in [0, 1], shape (n, 1, 8, 8).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from vit_edu.checks import SKLEARN_MAX_SEED, check_seed

DIGIT_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
NUM_DIGITS = 1797  # images in sklearn's copy of the UCI digits


class DigitsSplit(NamedTuple):
    """A fixed train/test split of the sklearn digits: images (n, 1, 8, 8) float32 in [0, 1]."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def load_digits_split(seed: int = 0, test_fraction: float = 0.25) -> DigitsSplit:
    """The sklearn digits, scaled from 0..16 to [0, 1], split stratified by class.

    Args:
        seed: seed of the split (the same seed always gives the same split), in 0..2**32 - 1
            (scikit-learn's range).
        test_fraction: share of the 1797 images held out for testing, in (0, 1); both parts must
            hold at least one image of each of the 10 classes.

    Returns:
        :class:`DigitsSplit` with images (n, 1, 8, 8) float32 and labels (n,) int64.
    """
    check_seed(seed, "seed", maximum=SKLEARN_MAX_SEED)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}; 0.25 is the default.")
    # a stratified split needs one image of each class on either side (scikit-learn rounds the test part up)
    num_test = math.ceil(test_fraction * NUM_DIGITS)
    classes = len(DIGIT_CLASSES)
    if not classes <= num_test <= NUM_DIGITS - classes:
        raise ValueError(f"test_fraction={test_fraction} leaves {NUM_DIGITS - num_test} training and {num_test} test "
                         f"images; each part needs at least one image of each of the {classes} classes. Choose a "
                         f"fraction in [{classes / NUM_DIGITS:.4f}, {1 - classes / NUM_DIGITS:.4f}]; 0.25 is the "
                         "default.")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return DigitsSplit(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (x_train, y_train, x_test, y_test)))
