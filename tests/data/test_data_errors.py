"""The data helpers check seeds, sizes and options up front, so a mistake reads as the parameter's name and its
fix rather than a numpy, scikit-learn or torch message from deep inside. (tests/data/test_data.py pins the
images that valid inputs produce; these checks must not change them.)"""

import math

import numpy as np
import pytest
import torch

from vit_edu.data import load_digits_split, load_photo, make_shapes, patch_coverage, sample_photos
from vit_edu.data.preprocessing import preprocess_image, unnormalize
from vit_edu.data.scenes import downstream_data, label_subset, make_glyph_shapes, paste_digits

GLYPHS = torch.zeros(2, 1, 8, 8)
LABELS = torch.arange(10).repeat(3)


@pytest.mark.parametrize("call, error, pattern", [
    # seeds: negative, float, bool, beyond scikit-learn's range
    (lambda: load_digits_split(seed=-1), ValueError, r"seed must be an int in 0\.\.2\*\*32 - 1, got -1"),
    (lambda: load_digits_split(seed=2**32), ValueError, r"seed must be an int in 0\.\.2\*\*32 - 1"),
    (lambda: load_digits_split(seed=1.5), TypeError, r"seed must be an int \(a random seed such as 0\), got 1\.5"),
    (lambda: load_digits_split(seed=True), TypeError, r"seed must be an int"),
    (lambda: make_shapes(4, seed=-1), ValueError, r"seed must be an int >= 0, got -1"),
    (lambda: make_shapes(4, seed=1.5), TypeError, r"seed must be an int"),
    (lambda: make_shapes(4, seed=True), TypeError, r"seed must be an int"),
    (lambda: make_glyph_shapes(4, seed=-1), ValueError, r"seed must be an int >= 0"),
    (lambda: paste_digits(GLYPHS, seed=-2), ValueError, r"seed must be an int >= 0"),
    (lambda: downstream_data(data_seed=-1), ValueError, r"data_seed must be an int >= 0"),
    (lambda: label_subset(LABELS, 1, seed=-1), ValueError, r"seed must be an int in 0\.\.2\*\*64 - 1"),
    (lambda: label_subset(LABELS, 1, seed=0.5), TypeError, r"seed must be an int"),
    # sizes and counts
    (lambda: load_digits_split(test_fraction=0.9999), ValueError,
     r"test_fraction=0\.9999 leaves 0 training and 1797 test images.*\[0\.0056, 0\.9944\]"),
    (lambda: load_digits_split(test_fraction=0.001), ValueError, r"leaves 1795 training and 2 test images"),
    (lambda: load_digits_split(test_fraction=True), ValueError, r"test_fraction must be a float in \(0, 1\)"),
    (lambda: make_shapes(2.0), TypeError, r"n must be an int, got 2\.0"),
    (lambda: make_shapes(4, image_size=32.0), TypeError, r"image_size must be an int"),
    (lambda: make_shapes(4, num_blobs=1.5), TypeError, r"num_blobs must be an int"),
    (lambda: make_shapes(4, num_lines=0), ValueError, r"num_lines must be a positive integer \(distractors are"),
    (lambda: make_glyph_shapes(4, image_size=8), ValueError, r"image_size must be >= 16 \(pixels\), got 8"),
    (lambda: make_glyph_shapes(4, max_angle=math.nan), ValueError, r"max_angle must be a finite number >= 0"),
    (lambda: downstream_data(image_size=8), ValueError, r"image_size must be >= 16"),
    (lambda: downstream_data(test_copies=1.0), TypeError, r"test_copies must be an int"),
    (lambda: label_subset(LABELS, 2.0), TypeError, r"per_class must be an int"),
    (lambda: label_subset(LABELS.tolist(), 1), TypeError, r"labels must be a 1-D integer tensor .*got a list"),
    (lambda: label_subset(LABELS.float(), 1), TypeError, r"labels must be a 1-D integer tensor"),
    (lambda: patch_coverage(torch.zeros(1, 32, 32, dtype=torch.bool), 0), ValueError,
     r"patch_size must be a positive integer \(pixels\), got 0"),
    (lambda: patch_coverage(torch.zeros(32, 32, dtype=torch.bool), 4), ValueError, r"masks must be a \(n, S, S\)"),
    # options
    (lambda: make_shapes(4, clutter=None), ValueError, r"clutter must be one of \('grey', 'colour'\)"),
    (lambda: make_shapes(4, rotate="no"), TypeError, r"rotate must be True or False, got 'no'"),
    (lambda: make_shapes(4, object_size=5.0), TypeError, r"object_size must be a \(low, high\) pair of numbers"),
    (lambda: make_shapes(4, object_size=(math.nan, 5.0)), ValueError, r"object_size\[0\] must be a finite number"),
    (lambda: make_shapes(4, hue_range=5), TypeError, r"hue_range must be a \(low, high\) pair"),
    (lambda: make_shapes(4, hue_range=("0", "60")), TypeError, r"hue_range\[0\] must be a number"),
    (lambda: load_photo(3), ValueError, r"unknown photo 3"),
    (lambda: sample_photos(8, names="chelsea"), TypeError, r"names must be a tuple of photo names"),
    (lambda: sample_photos(8, names=()), ValueError, r"names must hold at least one photo name"),
    (lambda: sample_photos(0), ValueError, r"size must be a positive int"),
])
def test_bad_arguments_name_the_parameter(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("image, kwargs, error, pattern", [
    (np.full((8, 8, 3), np.nan), {}, ValueError, r"finite values in \[0, 1\], got NaN or infinity"),
    (np.zeros((0, 8, 3), np.uint8), {}, ValueError, r"image is empty"),
    (np.zeros((8, 8, 3), np.uint16), {}, TypeError, r"dtype uint16 \(a 16-bit image\); pass image / 65535\.0"),
    (np.zeros((8, 8, 3), np.uint8), {"std": (0.5, 0.5, math.nan)}, ValueError, r"mean and std must be 3 numbers"),
    (np.zeros((8, 8, 3), np.uint8), {"mean": (0.5, math.inf, 0.5)}, ValueError, r"mean and std must be 3 numbers"),
    (np.zeros((8, 8, 3), np.uint8), {"mean": "grey"}, TypeError, r"mean and std must be 3 numbers each"),
])
def test_preprocessing_refuses_images_and_statistics_it_cannot_use(image, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        preprocess_image(image, image_size=8, **kwargs)


def test_unnormalize_takes_one_image():
    batch = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"one preprocessed image \(3, S, S\); got \(2, 3, 8, 8\).*tensor\[i\]"):
        unnormalize(batch)
    assert unnormalize(batch[0]).shape == (8, 8, 3)


def test_valid_seed_types_give_the_same_data():
    a = make_shapes(3, seed=np.int64(5))
    b = make_shapes(3, seed=5)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert torch.equal(label_subset(LABELS, 2, seed=np.int64(1)), label_subset(LABELS, 2, seed=1))
