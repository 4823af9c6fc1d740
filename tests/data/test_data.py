"""Offline data: the digits split, the synthetic shapes (geometry, masks, clutter), the scene renderer, the photos."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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
from vit_edu.data.render import BLOB_OPACITY, BLOB_RADIUS, Background, distractor_colours, render_background
from vit_edu.data.scenes import make_glyph_shapes, paste_digits

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


# ----------------------------------------------------------------------------- the scene renderer


def _background(seed: int, n: int, coloured: bool, num_blobs: int = 4, num_lines: int = 3) -> Background:
    rng = np.random.default_rng(seed)
    return Background(rng.random((n, 5, 5)), rng.random(n), rng.random((num_blobs, 2, n)),
                      rng.uniform(*BLOB_RADIUS, (num_blobs, n)), rng.uniform(*BLOB_OPACITY, (num_blobs, n)),
                      distractor_colours(rng, num_blobs, n, coloured), rng.random((num_lines, 2, 2, n)),
                      distractor_colours(rng, num_lines, n, coloured))


def test_background_is_upsampled_texture_plus_noise_with_the_course_constants():
    clean = _background(0, 6, coloured=False, num_blobs=0, num_lines=0)  # no distractors: texture and noise only
    noise = np.random.default_rng(1).random((6, 40, 40), dtype=np.float32)
    reference = F.interpolate(torch.from_numpy(clean.coarse)[:, None], size=(40, 40), mode="bilinear",
                              align_corners=True)[:, 0].numpy()  # (6, 40, 40)
    reference = 0.35 * reference + 0.3 * clean.brightness[:, None, None] + 0.16 + 0.08 * noise
    rendered = render_background(clean, noise)
    assert rendered.shape == (6, 1, 40, 40) and rendered.dtype == np.float32
    np.testing.assert_allclose(rendered[:, 0], reference, atol=1e-6)


@pytest.mark.parametrize("size", [32, 48, 64])
def test_blob_radius_and_line_width_are_fractions_of_the_image_side(size):
    """Ink = clip(reach - distance, 0, 1) with the reach in pixels = (fraction of the side) * S."""
    flat = Background(np.ones((1, 5, 5)), np.zeros(1), np.full((1, 2, 1), 0.5), np.full((1, 1), 3 / 32),
                      np.ones((1, 1)), np.zeros((1, 1, 1)), np.array([0.25, 0.1, 0.25, 0.9]).reshape(1, 2, 2, 1),
                      np.zeros((1, 1, 1)))  # black blob of radius 3/32 in the centre, black line along y = S / 4
    image = render_background(flat, np.zeros((1, size, size), dtype=np.float32))[0, 0]
    ink = 1 - image / (0.35 + 0.16)  # the flat texture is 0.51; black paint: coverage = 1 - value / 0.51
    centres = np.arange(size) + 0.5
    to_blob = np.hypot(centres[:, None] - size / 2, centres[None, :] - size / 2)
    blob = np.clip(3 / 32 * size - to_blob, 0, 1)  # 3 px at 32 px, 4.5 px at 48 px
    line = np.clip(1.2 / 32 * size - np.abs(centres - size / 4), 0, 1)[:, None]  # reaches 1.2 px at 32 px
    expected = 1 - (1 - blob) * (1 - line)  # the line is painted over the blob
    columns = slice(size // 5, size - size // 5)  # away from the line's ends
    np.testing.assert_allclose(ink[:, columns], expected[:, columns], atol=1e-5)


def test_renderer_draws_the_same_numbers_alike_at_32_and_48_px():
    for coloured in (False, True):
        numbers, other = _background(2, 200, coloured), _background(3, 200, coloured)
        small = render_background(numbers, np.zeros((200, 32, 32), dtype=np.float32))
        large = render_background(numbers, np.zeros((200, 48, 48), dtype=np.float32))
        shrunk = F.interpolate(torch.from_numpy(large), size=(32, 32), mode="area").numpy()
        # only the one-pixel anti-aliased edges differ (mean about 0.01 over seeds); other numbers differ ~15x more
        assert np.abs(shrunk - small).mean() < 0.015
        different = render_background(other, np.zeros((200, 32, 32), dtype=np.float32))
        assert np.abs(different - small).mean() > 10 * np.abs(shrunk - small).mean()


def test_render_background_rejects_inconsistent_numbers():
    numbers = _background(0, 4, coloured=True)
    with pytest.raises(ValueError, match="noise"):
        render_background(numbers, np.zeros((4, 32, 16), dtype=np.float32))
    with pytest.raises(ValueError, match="blob_radius"):
        render_background(numbers._replace(blob_radius=numbers.blob_radius[:, :2]), np.zeros((4, 32, 32)))
    with pytest.raises(ValueError, match="line_colour"):
        render_background(numbers._replace(line_colour=numbers.line_colour[..., :1]), np.zeros((4, 32, 32)))
    with pytest.raises(TypeError, match="Background"):
        render_background(tuple(numbers), np.zeros((4, 32, 32)))


def test_both_generators_hand_the_renderer_image_relative_clutter(monkeypatch):
    """Blob radii are fractions of the side at every size, and the transfer lesson's scenes pass the same numbers at any
    size, so blob and line widths in pixels grow with S in both generators."""
    from vit_edu.data import scenes, shapes

    calls = []

    def spy(background, noise, rows=slice(None)):
        calls.append((background, noise.shape[-1]))
        return render_background(background, noise, rows)

    monkeypatch.setattr(shapes, "render_background", spy)
    monkeypatch.setattr(scenes, "render_background", spy)
    glyphs = torch.rand(40, 1, 8, 8)
    for size in (32, 48):
        make_shapes(40, image_size=size, seed=1, clutter="colour")
        scenes.make_glyph_shapes(40, image_size=size, seed=1)
        scenes.paste_digits(glyphs, image_size=size, seed=1)
    assert len(calls) == 6 and [size for _, size in calls] == [32] * 3 + [48] * 3
    for background, _ in calls:
        assert BLOB_RADIUS[0] <= background.blob_radius.min() and background.blob_radius.max() <= BLOB_RADIUS[1]
        assert 0 <= background.line_ends.min() and background.line_ends.max() <= 1
    for at_32, at_48 in zip(calls[1:3], calls[4:6]):  # glyphs, digits: the same scene at 32 and 48 px
        assert all(np.array_equal(a, b) for a, b in zip(at_32[0], at_48[0]))
    # and the pixels: coloured distractors cover about the same share of the image at 32 and 48 px
    def coloured_share(size):
        data = make_shapes(300, image_size=size, seed=5, clutter="colour")
        far = ~torch.nn.functional.max_pool2d(data.masks[:, None].float(), 3, 1, 1)[:, 0].bool()
        return ((_saturation(data.images) > 0.2) & far).float().sum() / far.float().sum()

    # about 1.15 over seeds (the 1 px edge ramp is a larger share of a stroke at 32 px); about 0.85 if the
    # blob radii were pixels at 32 px, so the blobs did not grow with S
    assert 1.0 < coloured_share(48) / coloured_share(32) < 1.35


def _first_images(name: str) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(images, labels, masks) of the first 64 images of one generator with seed 0 (None: it has none)."""
    if name == "shapes grey 32":
        return make_shapes(64, 32, seed=0)
    if name == "shapes colour 48":
        return make_shapes(64, 48, seed=0, clutter="colour")
    if name == "glyphs 48":
        return (*make_glyph_shapes(64, 48, seed=0), None)
    return paste_digits(load_digits_split(0).train_images[:64], 32, seed=0), None, None


@pytest.mark.parametrize(
    ("name", "image_sum", "mask_sum", "first_labels"),
    [("shapes grey 32", 101641.4328, 3759, [2, 3, 1, 2, 1, 1, 1, 1, 0, 0, 2, 2]),
     ("shapes colour 48", 224072.0192, 8048, [2, 3, 3, 1, 3, 3, 2, 0, 3, 0, 2, 3]),
     ("glyphs 48", 229206.5884, None, [4, 6, 11, 10, 3, 6, 6, 11, 10, 10, 8, 2]),
     ("digits 32", 102310.3394, None, None)],
)
def test_a_seed_still_renders_the_data_the_committed_models_were_trained_on(name, image_sum, mask_sum, first_labels):
    """Image sums (float rounding moves them by ~1e-3), masks and labels as the generators first drew them."""
    images, labels, masks = _first_images(name)
    assert images.double().sum().item() == pytest.approx(image_sum, abs=0.02)
    if mask_sum is not None:
        assert int(masks.sum()) == mask_sum
    if first_labels is not None:
        assert labels[:12].tolist() == first_labels


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
