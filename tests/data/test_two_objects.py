"""Two-object scenes: two shapes of different classes, disjoint masks, multi-hot targets, clutter, determinism."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from vit_edu.data import SHAPE_CLASSES
from vit_edu.data.two_objects import BOX_EXTENTS, TwoObjectScenes, make_two_object_scenes

K = len(SHAPE_CLASSES)


@pytest.fixture(scope="module")
def scenes():
    return make_two_object_scenes(400, seed=3)


def test_shapes_dtypes_and_range(scenes):
    assert isinstance(scenes, TwoObjectScenes)
    assert scenes.images.shape == (400, 3, 32, 32) and scenes.images.dtype == torch.float32
    assert scenes.targets.shape == (400, K) and scenes.targets.dtype == torch.float32
    assert scenes.classes.shape == (400, 2) and scenes.classes.dtype == torch.int64
    assert scenes.masks.shape == (400, 2, 32, 32) and scenes.masks.dtype == torch.bool
    assert scenes.images.min() >= 0.0 and scenes.images.max() <= 1.0


def test_two_different_classes_and_targets_mark_exactly_them(scenes):
    classes = scenes.classes
    assert (classes[:, 0] != classes[:, 1]).all()
    assert classes.min() >= 0 and classes.max() < K
    expected = torch.zeros(400, K)
    for i, (a, b) in enumerate(classes.tolist()):
        expected[i, a] = expected[i, b] = 1.0
    assert torch.equal(scenes.targets, expected)
    # every ordered pair of distinct classes occurs (400 scenes, 12 pairs)
    pairs = {tuple(pair) for pair in classes.tolist()}
    assert pairs == {(a, b) for a in range(K) for b in range(K) if a != b}


def test_masks_are_disjoint_nonempty_and_apart(scenes):
    masks = scenes.masks.numpy()
    assert not (masks[:, 0] & masks[:, 1]).any()
    assert masks.reshape(400, 2, -1).sum(axis=2).min() >= 10
    # at least min_gap = 2 pixels apart: dilating one mask by one pixel (8-neighbourhood) never reaches the other
    grow = np.ones((3, 3), dtype=bool)
    for image in masks[:100]:
        assert not (ndimage.binary_dilation(image[0], grow) & image[1]).any()


def test_each_mask_is_one_blob_of_its_class_shape(scenes):
    """Two numbers from each class's geometry, independent of the renderer's code: the share of its bounding box
    that the mask fills, and where its pixels' mean row lies in the box (0 top, 1 bottom): an upright triangle,
    corner up, has its centroid a third of its height above the base, the others in the middle."""
    fill = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5, "cross": (2 * 2.2 * 0.76 - 0.76**2) / 2.2**2}
    centroid = {"circle": 0.5, "square": 0.5, "triangle": 2 / 3, "cross": 0.5}
    measured = {name: [] for name in SHAPE_CLASSES}
    for image_masks, image_classes in zip(scenes.masks.numpy(), scenes.classes.tolist()):
        for mask, label in zip(image_masks, image_classes):
            assert ndimage.label(mask)[1] == 1
            rows, cols = np.nonzero(mask)
            height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
            measured[SHAPE_CLASSES[label]].append((mask.sum() / (height * width),
                                                   (rows.mean() - rows.min() + 0.5) / height))
    for name, values in measured.items():
        mean_fill, mean_centroid = np.mean(values, axis=0)
        assert abs(mean_fill - fill[name]) < 0.08, (name, mean_fill)  # pixelation of 7-10 px shapes
        assert abs(mean_centroid - centroid[name]) < 0.04, (name, mean_centroid)


def test_objects_are_coloured_where_the_mask_is_set_and_the_grey_clutter_elsewhere(scenes):
    """Grey clutter: away from the objects R = G = B exactly; on the masks the object colour shows.

    On a mask pixel the object covers at least half the pixel (alpha >= 0.5) with saturation >= 0.7
    and value >= 0.6, so max - min over the channels is at least 0.5 * 0.7 * 0.6 = 0.21.
    """
    images, masks = scenes.images.numpy(), scenes.masks.numpy()
    chroma = images.max(axis=1) - images.min(axis=1)  # (n, S, S)
    on_objects = masks.any(axis=1)
    assert chroma[on_objects].min() >= 0.21 - 1e-6
    near = np.stack([ndimage.binary_dilation(m, np.ones((5, 5), dtype=bool)) for m in on_objects])
    assert chroma[~near].max() < 1e-6


def test_deterministic_for_a_seed():
    first, again, other = (make_two_object_scenes(20, seed=s) for s in (5, 5, 6))
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert not torch.equal(first.images, other.images)


def test_placement_uses_both_axes_and_keeps_the_border():
    scenes = make_two_object_scenes(300, seed=0)
    centres = np.array([[np.argwhere(m).mean(axis=0) for m in pair] for pair in scenes.masks.numpy()])  # (n, 2, 2)
    apart = np.abs(centres[:, 0] - centres[:, 1])  # (n, 2) as (dy, dx)
    assert (apart[:, 0] > apart[:, 1]).mean() > 0.3 and (apart[:, 1] > apart[:, 0]).mean() > 0.3
    edge = scenes.masks[:, :, [0, -1], :].any() or scenes.masks[:, :, :, [0, -1]].any()
    assert not edge


def test_other_sizes_and_colour_clutter():
    small = make_two_object_scenes(10, image_size=16, seed=1, object_size=(3.0, 5.0))
    assert small.images.shape == (10, 3, 16, 16) and not (small.masks[:, 0] & small.masks[:, 1]).any()
    coloured = make_two_object_scenes(10, seed=1, clutter="colour")
    chroma = coloured.images.max(dim=1).values - coloured.images.min(dim=1).values
    assert (chroma[~coloured.masks.any(dim=1)] > 0.05).any()  # distractors in colour too


def test_box_extents_bound_every_mask():
    """Every mask spans at most its class's box at the largest size, 5.5 px (a circle of radius 5.5: 11 pixels)."""
    scenes = make_two_object_scenes(200, seed=2)
    for image_masks, image_classes in zip(scenes.masks.numpy(), scenes.classes.tolist()):
        for mask, label in zip(image_masks, image_classes):
            half_x, up, down = BOX_EXTENTS[SHAPE_CLASSES[label]]
            rows, cols = np.nonzero(mask)
            assert cols.max() - cols.min() + 1 <= 2 * half_x * 5.5 + 1
            assert rows.max() - rows.min() + 1 <= (up + down) * 5.5 + 1


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"n": 0}, ValueError, "n must be a positive"),
    ({"n": 2.5}, TypeError, "n must be an int"),
    ({"image_size": 8}, ValueError, "image_size"),
    ({"seed": -1}, ValueError, "seed"),
    ({"clutter": "red"}, ValueError, "clutter"),
    ({"num_blobs": 0}, ValueError, "num_blobs"),
    ({"object_size": 4.0}, TypeError, "object_size must be a"),
    ({"object_size": (5.0, 4.0)}, ValueError, "object_size"),
    ({"object_size": (4.0, 7.0)}, ValueError, "too large for two objects.*<= 6.36"),
    ({"image_size": 16, "object_size": (3.0, 6.0)}, ValueError, "too large"),
    ({"min_gap": 1.0}, ValueError, "min_gap"),
    ({"min_gap": float("nan")}, ValueError, "min_gap"),
    ({"hue_range": (30, 400)}, ValueError, "hue_range"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    arguments = {"n": 4, **kwargs}
    with pytest.raises(error, match=match):
        make_two_object_scenes(**arguments)


def test_largest_allowed_objects_still_fit():
    scenes = make_two_object_scenes(50, seed=0, object_size=(6.3, 6.36))
    assert not (scenes.masks[:, 0] & scenes.masks[:, 1]).any()
    border = scenes.masks[:, :, [0, -1], :].any() or scenes.masks[:, :, :, [0, -1]].any()
    assert not border
