"""Offline data: the digits split, the synthetic shapes (geometry, masks, clutter) and the photos."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vit_edu.data import (
    DIGIT_CLASSES,
    PHOTO_NAMES,
    SHAPE_CLASSES,
    load_digits_split,
    load_photo,
    make_shapes,
    patch_coverage,
    photo_path,
    sample_photos,
)

# ----------------------------------------------------------------------------- digits


def test_digits_split_is_the_sklearn_dataset_scaled_and_partitioned():
    from sklearn.datasets import load_digits

    reference = load_digits()
    split = load_digits_split(seed=0, test_fraction=0.25)
    assert split.train_images.shape[1:] == (1, 8, 8) and split.train_images.dtype == torch.float32
    assert split.train_labels.dtype == torch.int64
    assert len(split.train_images) + len(split.test_images) == len(reference.images) == 1797
    assert len(split.test_images) == 450  # ceil(0.25 * 1797)
    both = torch.cat([split.train_images, split.test_images]).numpy()
    assert both.min() == 0.0 and both.max() == 1.0
    # together the two parts are exactly the original images (x 16 = the original 0..16 counts), with labels
    ours = sorted(zip((both[:, 0] * 16).round().astype(int).reshape(1797, -1).tolist(),
                      torch.cat([split.train_labels, split.test_labels]).tolist()))
    theirs = sorted(zip(reference.images.astype(int).reshape(1797, -1).tolist(), reference.target.tolist()))
    assert ours == theirs
    assert len(DIGIT_CLASSES) == 10


def test_digits_split_is_fixed_by_the_seed_and_stratified():
    first, again, other = load_digits_split(seed=0), load_digits_split(seed=0), load_digits_split(seed=1)
    assert torch.equal(first.test_images, again.test_images) and torch.equal(first.test_labels, again.test_labels)
    assert not torch.equal(first.test_images, other.test_images)
    counts = torch.bincount(first.test_labels, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 47  # ~45 of each digit in 450


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, "a"])
def test_digits_split_rejects_bad_test_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split(test_fraction=bad)


# ----------------------------------------------------------------------------- shapes


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(800, image_size=32, seed=3)


def test_make_shapes_types_ranges_and_determinism(shapes):
    assert shapes.images.shape == (800, 3, 32, 32) and shapes.images.dtype == torch.float32
    assert shapes.labels.shape == (800,) and shapes.labels.dtype == torch.int64
    assert shapes.masks.shape == (800, 32, 32) and shapes.masks.dtype == torch.bool
    assert 0.0 <= shapes.images.min() and shapes.images.max() <= 1.0
    assert set(shapes.labels.tolist()) == set(range(len(SHAPE_CLASSES))) and len(SHAPE_CLASSES) >= 4
    assert (torch.bincount(shapes.labels) > 150).all()  # roughly balanced
    assert shapes.masks.flatten(1).any(dim=1).all()  # every image has its object
    again = make_shapes(800, image_size=32, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(shapes, again))
    assert not torch.equal(make_shapes(50, seed=4).images, make_shapes(50, seed=5).images)


def _region_statistics(mask: np.ndarray) -> tuple[float, float]:
    """(area / area of the circle through the farthest pixel, solidity = area / convex-hull area)."""
    from skimage.measure import regionprops

    rows, cols = np.nonzero(mask)
    radius = np.hypot(rows - rows.mean(), cols - cols.mean()).max() + 0.5
    return len(rows) / (np.pi * radius**2), regionprops(mask.astype(int))[0].solidity


def test_each_label_is_drawn_as_its_shape(shapes):
    """Independent geometry: a disc fills its circumcircle (1), a square 2/pi, a triangle 3 sqrt(3) / (4 pi);
    a cross is the only non-convex shape (low solidity)."""
    stats = np.array([_region_statistics(mask) for mask in shapes.masks.numpy()])
    labels = shapes.labels.numpy()
    fill = {name: np.median(stats[labels == k, 0]) for k, name in enumerate(SHAPE_CLASSES)}
    solidity = {name: np.median(stats[labels == k, 1]) for k, name in enumerate(SHAPE_CLASSES)}
    assert fill["circle"] > 0.75
    assert abs(fill["square"] - 2 / np.pi) < 0.06
    assert abs(fill["triangle"] - 3 * np.sqrt(3) / (4 * np.pi)) < 0.06
    assert solidity["cross"] < 0.8 and min(solidity[n] for n in ("circle", "square", "triangle")) > 0.84


def test_upright_squares_fill_their_bounding_box():
    shapes = make_shapes(200, seed=2, rotate=False, object_size=(4.0, 6.0))
    squares = shapes.masks[shapes.labels == SHAPE_CLASSES.index("square")]
    for mask in squares:
        rows, cols = torch.nonzero(mask, as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert mask.sum() == box  # axis-aligned: the mask is its own bounding box


def test_object_covers_at_most_a_fifth_of_the_patches(shapes):
    coverage = patch_coverage(shapes.masks, patch_size=4)  # 8 x 8 = 64 patches, the lessons' grid
    assert 0.05 < coverage.mean().item() <= 0.20
    # reference for patch_coverage on a hand-made mask: one pixel in patch (0, 0), a 5x5 block over 4 patches
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 0, 0] = True
    mask[0, 3:6, 3:6] = True
    assert patch_coverage(mask, 4).item() == pytest.approx(4 / 4)
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 5:7, 5:7] = True
    assert patch_coverage(mask, 2).item() == pytest.approx(4 / 16)


def _saturation(images: torch.Tensor) -> torch.Tensor:
    return images.max(dim=1).values - images.min(dim=1).values  # (n, H, W)


def test_grey_clutter_is_grey_and_the_mask_marks_the_coloured_object(shapes):
    saturation = _saturation(shapes.images)
    outside = ~shapes.masks
    # erode the mask by one pixel: anti-aliased edges are partly coloured
    inner = shapes.masks.clone()
    for dim, shift in ((1, 1), (1, -1), (2, 1), (2, -1)):
        inner &= torch.roll(shapes.masks, shift, dims=dim)
    assert saturation[inner].median() > 0.4
    # anti-aliasing tints pixels within half a pixel of an edge (up to ~1 px beyond a triangle's sharp tips)
    border = torch.nn.functional.max_pool2d(shapes.masks[:, None].float(), 5, 1, 2)[:, 0].bool()
    assert saturation[outside & ~border].max() < 1e-6  # everything else: grey background and grey clutter


def _inner(masks: torch.Tensor) -> torch.Tensor:
    """Masks eroded by one pixel (anti-aliased edges mix the object's colour with the background)."""
    inner = masks.clone()
    for dim, shift in ((1, 1), (1, -1), (2, 1), (2, -1)):
        inner &= torch.roll(masks, shift, dims=dim)
    return inner


def test_hue_range_red_to_yellow_gives_red_the_largest_and_blue_the_smallest_channel():
    # on the colour wheel, hues 0-60 degrees (red -> yellow) have R = max and B = min of the three channels
    warm = make_shapes(300, seed=8, hue_range=(0.0, 60.0))
    r, g, b = warm.images.permute(1, 0, 2, 3)[:, _inner(warm.masks)]
    assert (r >= g - 1e-6).all() and (g >= b - 1e-6).all() and (r - b).min() > 0.3
    # hues 180-240 (cyan -> blue): B is the largest
    cool = make_shapes(300, seed=8, hue_range=(180.0, 240.0))
    r, g, b = cool.images.permute(1, 0, 2, 3)[:, _inner(cool.masks)]
    assert (b >= g - 1e-6).all() and (g >= r - 1e-6).all()
    # any hue: every channel is the largest somewhere
    anyhue = make_shapes(300, seed=8)
    pixels = anyhue.images.permute(1, 0, 2, 3)[:, _inner(anyhue.masks)]
    assert set(pixels.argmax(dim=0).tolist()) == {0, 1, 2}


def test_distractors_are_always_present_and_coloured_in_colour_mode():
    grey, colour = make_shapes(300, seed=7, clutter="grey"), make_shapes(300, seed=7, clutter="colour")
    far = ~torch.nn.functional.max_pool2d(colour.masks[:, None].float(), 3, 1, 1)[:, 0].bool()
    coloured_clutter = ((_saturation(colour.images) > 0.2) & far).flatten(1).float().sum(dim=1)
    assert (coloured_clutter >= 4).float().mean() > 0.95  # coloured distractor pixels in (almost) every image
    # grey mode: the distractors still change the background: compare with a clutter-free rendering is not
    # possible, so check the blob/line contrast: strong local edges away from the object in every image
    grey_far = ~torch.nn.functional.max_pool2d(grey.masks[:, None].float(), 3, 1, 1)[:, 0].bool()
    values = grey.images[:, 0]
    edges = (values[:, 1:, :] - values[:, :-1, :]).abs() > 0.25
    assert (edges & grey_far[:, 1:, :]).flatten(1).any(dim=1).float().mean() > 0.9


def test_make_shapes_is_fast_enough():
    make_shapes(200)  # warm-up
    start = time.perf_counter()
    make_shapes(2000, seed=1)
    assert time.perf_counter() - start < 5.0  # about 0.25 s on a quiet 2-core machine; generous for load


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [(dict(n=0), "n must"), (dict(n=10, image_size=8), "image_size"), (dict(n=10, clutter="red"), "clutter"),
     (dict(n=10, num_blobs=0), "distractors"), (dict(n=10, object_size=(5.0, 3.0)), "object_size"),
     (dict(n=10, object_size=(2.0, 9.0)), "object_size"), (dict(n=10, hue_range=(60.0, 0.0)), "hue_range"),
     (dict(n=10, hue_range=(0.0, 400.0)), "hue_range")],
)
def test_make_shapes_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(**kwargs)


def test_patch_coverage_rejects_a_patch_size_that_does_not_divide():
    with pytest.raises(ValueError, match="patch_size"):
        patch_coverage(torch.zeros(1, 32, 32, dtype=torch.bool), 5)


# ----------------------------------------------------------------------------- photos


@pytest.mark.parametrize("name", PHOTO_NAMES)
def test_photos_ship_inside_the_scikit_image_wheel(name):
    import skimage.data

    path = photo_path(name)
    assert path.is_file() and path.parent == Path(skimage.data.__file__).parent  # no download cache
    photo = load_photo(name)
    assert photo.ndim == 3 and photo.shape[-1] == 3 and photo.dtype == np.float32
    assert 0.0 <= photo.min() and photo.max() <= 1.0


def test_load_photo_matches_skimage_and_resizes():
    import skimage.data

    reference = skimage.data.astronaut().astype(np.float32) / 255.0
    np.testing.assert_allclose(load_photo("astronaut"), reference, atol=1e-6)
    small = load_photo("chelsea", size=32)  # chelsea is 300 x 451: centre-cropped to 300 x 300 first
    assert small.shape == (32, 32, 3)
    crop = skimage.data.chelsea()[:, 75:375].astype(np.float32) / 255.0
    assert abs(small.mean() - crop.mean()) < 0.01
    batch = sample_photos(size=24)
    assert batch.shape == (len(PHOTO_NAMES), 3, 24, 24) and batch.dtype == torch.float32


def test_photo_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown photo"):
        photo_path("lena")
    with pytest.raises(ValueError, match="size"):
        load_photo("coffee", size=0)
