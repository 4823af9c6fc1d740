"""Linear vs non-linear probes on single patches: why the course's shapes have warm hues."""

import pytest
import torch

from vit_edu.analysis.probes import object_patch_probe
from vit_edu.data.shapes import make_shapes, patch_coverage
from vit_edu.training.recipes import COURSE_RECIPES

SHAPES_DATA = {k: v for k, v in COURSE_RECIPES["shapes"].data.items() if k not in ("num_train", "num_test", "clutter")}


@pytest.mark.slow
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


def test_course_shapes_keep_the_task_constraints():
    # the task's design: the object touches <= 20% of the patches on average and distractors are always present
    shapes = make_shapes(1000, seed=11, **SHAPES_DATA)
    coverage = patch_coverage(shapes.masks, COURSE_RECIPES["shapes"].model["patch_size"]).mean().item()
    assert 0.10 < coverage <= 0.20


def test_first_layer_view_of_uniform_attention_and_identical_tokens():
    from vit_edu import ViT
    from vit_edu.analysis.probes import first_layer_view

    model = ViT(image_size=16, patch_size=4, num_classes=2, dim=16, depth=1, heads=2, mlp_dim=8, seed=0)
    with torch.no_grad():
        model.pos_embed.zero_()
        model.blocks[0].attn.qkv.weight.zero_()  # q = k = 0: every score equal, attention uniform
    flat = torch.full((3, 3, 16, 16), 0.3)  # every patch identical -> every token identical
    view = first_layer_view(model, flat)
    assert abs(view.token_similarity - 1.0) < 1e-5 and abs(view.attention_from_uniform) < 1e-6
    with pytest.raises(TypeError, match="ViT"):
        first_layer_view(torch.nn.Linear(2, 2), flat)


def test_first_layer_view_of_attention_on_one_patch():
    from vit_edu import ViT
    from vit_edu.analysis.probes import first_layer_view

    model = ViT(image_size=8, patch_size=4, num_classes=2, dim=8, depth=1, heads=1, mlp_dim=8, seed=0)
    # hand-made case: the class token's attention puts weight 1 on one of N = 4 patches
    # -> total-variation distance from uniform = 0.5 * (3/4 + 3 * 1/4) = 0.75
    one_hot = torch.zeros(2, 1, 5, 5)
    one_hot[:, :, :, 2] = 1.0
    attention = model.blocks[0].attn
    attention.forward = lambda x, return_attention=False: (attention.proj(x), one_hot)
    view = first_layer_view(model, torch.rand(2, 3, 8, 8))
    assert abs(view.attention_from_uniform - 0.75) < 1e-6
    assert -1.0 <= view.token_similarity <= 1.0


def test_the_papers_init_and_input_scale_make_block_1_see_distinct_tokens_and_focus():
    # the mechanism behind the shapes recipe (vit_edu/training/recipes.py), on a fresh, untrained model
    from vit_edu import ViT
    from vit_edu.analysis.probes import first_layer_view
    from vit_edu.training.recipes import course_shapes

    images = course_shapes(64, seed=300).images
    model = {k: v for k, v in COURSE_RECIPES["shapes"].model.items() if k != "weight_init"}
    timm_raw = first_layer_view(ViT(**model, weight_init="timm", seed=0), images)
    jax_scaled = first_layer_view(ViT(**model, weight_init="jax", seed=0), 2 * images - 1)
    assert timm_raw.token_similarity > 0.8 and jax_scaled.token_similarity < 0.5
    assert timm_raw.attention_from_uniform < 0.02 and jax_scaled.attention_from_uniform > 0.2
