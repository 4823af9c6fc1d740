"""The parameter-counting exercise checks: the references equal instantiated models and torch's FLOP
counter, right answers pass, each typical mistake gets its own message, unfinished answers get "not done"."""

import numpy as np
import pytest
import torch

from vit_edu import ViT, ViTConfig, flops_breakdown
from vit_edu.exercises.counting import (
    FLOPS_CASES,
    HYBRID_CASES,
    TOTAL_CASES,
    check_encoder_flops,
    check_hybrid_embedding_parameters,
    check_no_class_token_parameters,
    reference_encoder_flops,
    reference_hybrid_embedding,
    reference_no_class_token,
    reference_total,
)


def _unfinished(*args, **kwargs):
    raise NotImplementedError


# --- the references are right -----------------------------------------------------------------------
@pytest.mark.parametrize("case", TOTAL_CASES)
def test_total_reference_is_an_instantiated_vit(case):
    with torch.device("meta"):
        model = ViT(image_size=case["image_size"], patch_size=case["patch_size"], channels=case["channels"],
                    dim=case["dim"], depth=case["depth"], heads=4, mlp_dim=case["mlp_dim"],
                    num_classes=case["num_classes"])
    assert reference_total(**case) == model.num_parameters()


@pytest.mark.parametrize("case", TOTAL_CASES)
def test_no_class_token_reference_is_a_sincos_vit_without_its_class_token(case):
    with torch.device("meta"):
        model = ViT(image_size=case["image_size"], patch_size=case["patch_size"], channels=case["channels"],
                    dim=case["dim"], depth=case["depth"], heads=4, mlp_dim=case["mlp_dim"],
                    num_classes=case["num_classes"], pool="mean", position_embedding="sincos_2d")
    learned = {name: p.numel() for name, p in model.named_parameters()}
    assert learned["cls_token"] == case["dim"] and not any(name.startswith("pos") for name in learned)
    assert reference_no_class_token(**case) == model.num_parameters() - learned["cls_token"]


@pytest.mark.parametrize("case", FLOPS_CASES)
def test_flops_reference_is_the_blocks_of_count_flops(case):
    config = ViTConfig(image_size=(case["height"], case["width"]), patch_size=case["patch_size"], dim=case["dim"],
                       depth=case["depth"], heads=4, mlp_dim=case["mlp_dim"])
    parts = flops_breakdown(config)
    assert reference_encoder_flops(**case) == sum(parts.values()) - parts["patch_projection"] - parts["head"]


def test_flops_reference_is_torch_s_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    case = FLOPS_CASES[0]
    model = ViT(image_size=(case["height"], case["width"]), patch_size=case["patch_size"], dim=case["dim"],
                depth=case["depth"], heads=4, mlp_dim=case["mlp_dim"], num_classes=10).eval()
    for block in model.blocks:
        block.attn.fused_attn = False
    tokens = model.embed(torch.randn(1, 3, case["height"], case["width"]))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for block in model.blocks:
            tokens = block(tokens)
    assert counter.get_total_flops() == reference_encoder_flops(**case)


@pytest.mark.parametrize("case", HYBRID_CASES)
def test_hybrid_reference_is_a_vit_on_the_feature_map(case):
    with torch.device("meta"):
        model = ViT(image_size=case["feature_size"], patch_size=case["patch_size"], channels=case["feature_channels"],
                    dim=case["dim"], depth=1, heads=4, mlp_dim=8, num_classes=2)
    embedding = sum(p.numel() for name, p in model.named_parameters() if name.startswith(("patch_embed", "cls",
                                                                                          "pos")))
    assert reference_hybrid_embedding(**case) == embedding


# --- a ViT without a class token --------------------------------------------------------------------
def no_cls(image_size, patch_size, channels, dim, depth, mlp_dim, num_classes, *, skip=(), add=0):
    """A student answer built from the components; ``skip`` leaves some out, ``add`` adds a number."""
    d, m, n = dim, mlp_dim, (image_size // patch_size) ** 2
    terms = dict(patch=patch_size**2 * channels * d, patch_bias=d, cls=0, pos=0, final=2 * d,
                 blocks=depth * ((4 * d * d + 4 * d) + (2 * d * m + m + d) + 4 * d), head=d * num_classes + num_classes,
                 qkv_bias=0, cls_kept=0, pos_kept=0)
    extra = dict(cls_kept=d, pos_kept=(n + 1) * d, pos_patches=n * d, qkv_bias=-3 * d * depth, norms=-4 * d * depth)
    total = sum(value for name, value in terms.items() if name not in skip)
    return total + add + sum(extra[name] for name in skip if name in extra) - sum(
        terms[name] for name in skip if name in extra and name in terms)


def answer(**kwargs):
    return lambda image_size, patch_size, channels, dim, depth, mlp_dim, num_classes: no_cls(
        image_size, patch_size, channels, dim, depth, mlp_dim, num_classes, **kwargs)


def test_no_class_token_right_answers_pass():
    feedback = check_no_class_token_parameters(answer())
    assert feedback.passed, feedback.message
    assert f"{reference_no_class_token(**TOTAL_CASES[1]):,}" in feedback.message
    assert check_no_class_token_parameters(lambda *a: float(reference_no_class_token(*a))).passed
    assert check_no_class_token_parameters(lambda *a: np.int64(reference_no_class_token(*a))).passed


@pytest.mark.parametrize(("student", "mistake"), [
    (lambda *a: reference_total(*a), "paper_count"),
    (answer(skip=("cls_kept",)), "kept_class_token"),
    (answer(skip=("pos_kept",)), "kept_positions"),
    (answer(skip=("pos_patches",)), "kept_positions"),
    (answer(skip=("final",)), "final_norm"),
    (answer(skip=("patch_bias",)), "patch_bias"),
    (answer(skip=("head",)), "head"),
    (answer(skip=("qkv_bias",)), "qkv_bias"),
    (answer(skip=("norms",)), "block_norms_or_attention_biases"),
    (answer(skip=("patch", "patch_bias")), "patch_projection"),
    (answer(add=5), "unknown"),
    (lambda *a: reference_no_class_token(*a) + 0.5, "fraction"),
    (lambda *a: None, "none"),
])
def test_no_class_token_mistakes_are_named(student, mistake):
    feedback = check_no_class_token_parameters(student)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_no_class_token_messages():
    assert "sin-cos" in check_no_class_token_parameters(answer(skip=("pos_kept",))).message
    assert "class token" in check_no_class_token_parameters(lambda *a: reference_total(*a)).message
    assert "5 too many" in check_no_class_token_parameters(answer(add=5)).message
    assert "short by 5" in check_no_class_token_parameters(answer(add=-5)).message
    assert check_no_class_token_parameters(_unfinished).details.get("not_done")


# --- encoder FLOPs ----------------------------------------------------------------------------------
def flops(height, width, patch_size, dim, depth, mlp_dim):
    t = (height // patch_size) * (width // patch_size) + 1
    per_block = 2 * t * dim * 3 * dim + 2 * t * t * dim + 2 * t * t * dim + 2 * t * dim * dim + 4 * t * dim * mlp_dim
    return depth * per_block


def flops_with(tokens=None, factor=1, mlp=None, minus=None):
    def student(height, width, patch_size, dim, depth, mlp_dim):
        t = (height // patch_size) * (width // patch_size) + 1 if tokens is None else tokens(height, width, patch_size)
        d, m = dim, mlp_dim if mlp is None else mlp(dim)
        parts = dict(qkv=6 * t * d * d, scores=2 * t * t * d, mix=2 * t * t * d, proj=2 * t * d * d, mlp=4 * t * d * m)
        return factor * depth * sum(value for name, value in parts.items() if name not in (minus or ()))
    return student


def test_flops_right_answer_passes():
    feedback = check_encoder_flops(flops)
    assert feedback.passed, feedback.message
    assert "GFLOPs" in feedback.message


@pytest.mark.parametrize(("student", "mistake"), [
    (flops_with(factor=0.5), "multiply_adds"),
    (flops_with(tokens=lambda h, w, p: (h // p) * (w // p)), "no_class_token"),
    (flops_with(tokens=lambda h, w, p: (h // p) ** 2 + 1), "square"),
    (flops_with(tokens=lambda h, w, p: (w // p) ** 2 + 1), "square"),
    (flops_with(minus=("scores", "mix")), "no_quadratic"),
    (flops_with(minus=("mix",)), "one_attention_product"),
    (flops_with(minus=("proj",)), "no_output_projection"),
    (flops_with(mlp=lambda d: 4 * d), "four_d"),
    (lambda h, w, p, d, L, m: flops(h, w, p, d, L, m) // L, "one_block"),
    (lambda h, w, p, d, L, m: flops(h, w, p, d, L, m) - L * 2 * ((h // p) * (w // p) + 1) * d * m, "one_mlp_layer"),
    (lambda h, w, p, d, L, m: flops(h, w, p, d, L, m) + 1, "unknown"),
])
def test_flops_mistakes_are_named(student, mistake):
    feedback = check_encoder_flops(student)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_flops_messages():
    assert "multiply-add counts as 2" in check_encoder_flops(flops_with(factor=0.5)).message
    assert "(W/P)" in check_encoder_flops(flops_with(tokens=lambda h, w, p: (h // p) ** 2 + 1)).message
    assert "FLOP count is a whole number" in check_encoder_flops(lambda *a: flops(*a) + 0.5).message
    assert check_encoder_flops(_unfinished).details.get("not_done")


# --- the embedding of a hybrid ----------------------------------------------------------------------
def hybrid(feature_size, feature_channels, patch_size, dim):
    n = (feature_size // patch_size) ** 2
    return (patch_size * patch_size * feature_channels * dim + dim) + dim + (n + 1) * dim


def test_hybrid_right_answer_passes():
    feedback = check_hybrid_embedding_parameters(hybrid)
    assert feedback.passed, feedback.message
    assert "939,264" in feedback.message and "742,656" in feedback.message


@pytest.mark.parametrize(("student", "mistake"), [
    (lambda f, c, p, d: hybrid(f, 3, p, d), "image_channels"),
    (lambda f, c, p, d: hybrid(f, c, p, d) - (p * p - p) * c * d, "patch_not_squared"),
    (lambda f, c, p, d: hybrid(f, c, 1, d), "patch_size_ignored"),
    (lambda f, c, p, d: hybrid(f, c, p, d) - d, "one_d"),
    (lambda f, c, p, d: hybrid(f, c, p, d) - 2 * d, "two_d"),
    (lambda f, c, p, d: p * p * c * d + 2 * d, "no_positions"),
    (lambda f, c, p, d: p * p * c * d + 2 * d + (f // p + 1) * d, "not_squared"),
    (lambda f, c, p, d: 2 * d + ((f // p) ** 2 + 1) * d, "no_projection"),
    (lambda f, c, p, d: hybrid(f, c, p, d) * 2, "unknown"),
])
def test_hybrid_mistakes_are_named(student, mistake):
    feedback = check_hybrid_embedding_parameters(student)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_hybrid_messages():
    assert "feature_channels" in check_hybrid_embedding_parameters(lambda f, c, p, d: hybrid(f, 3, p, d)).message
    assert check_hybrid_embedding_parameters(_unfinished).details.get("not_done")
    crashed = check_hybrid_embedding_parameters(lambda f, c, p, d: f // 0)
    assert not crashed.passed and "ZeroDivisionError" in crashed.message
