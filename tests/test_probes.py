"""Linear vs non-linear probes on single patches: why the course's shapes have warm hues."""

import pytest

from vit_edu.course import COURSE_RECIPES
from vit_edu.probes import object_patch_probe
from vit_edu.shapes import make_shapes, patch_coverage

SHAPES_DATA = {k: v for k, v in COURSE_RECIPES["shapes"].data.items() if k not in ("num_train", "num_test", "clutter")}


def test_no_linear_function_of_a_patch_finds_objects_of_every_hue_but_an_mlp_does():
    any_hue = object_patch_probe((0.0, 360.0), object_size=(5.0, 7.0), rotate=False)
    assert any_hue.num_patches > 1000
    assert any_hue.linear < 0.75  # chance is 0.5 (balanced): grey and "coloured" are not linearly separable
    assert any_hue.mlp > 0.95  # but a non-linear function of the same pixels separates them


def test_a_linear_function_finds_objects_whose_hues_lie_in_one_sixth_of_the_wheel():
    warm = object_patch_probe((0.0, 60.0), object_size=(5.0, 7.0), rotate=False)
    assert warm.linear > 0.95


def test_probe_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_images"):
        object_patch_probe(num_images=5)
    with pytest.raises(ValueError, match="patch_size"):
        object_patch_probe(patch_size=5)


def test_course_shapes_keep_the_issue_constraints():
    # issue 5: the object touches <= 20% of the patches on average and distractors are always present
    shapes = make_shapes(1000, seed=11, **SHAPES_DATA)
    coverage = patch_coverage(shapes.masks, COURSE_RECIPES["shapes"].model["patch_size"]).mean().item()
    assert 0.10 < coverage <= 0.20
