"""The parameter-counting exercise checks: the expected counts equal torch's own modules, right answers pass,
each typical mistake gets its own message."""

import numpy as np
import pytest
import torch
from torch import nn

from vit_edu import ViT
from vit_edu.exercises.counting import (
    ATTENTION_CASES,
    POSITION_CASES,
    TOTAL_CASES,
    check_attention_parameters,
    check_position_parameters,
    check_total_parameters,
    reference_total,
)


def _unfinished(*args, **kwargs):
    raise NotImplementedError


# --- the references are right -----------------------------------------------------------------------
@pytest.mark.parametrize("case", ATTENTION_CASES)
def test_attention_reference_is_torch_multihead_attention(case):
    with torch.device("meta"):
        mha = nn.MultiheadAttention(case["dim"], case["heads"], bias=True)
    counted = sum(p.numel() for p in mha.parameters())
    assert check_attention_parameters(lambda dim, heads: counted if (dim, heads) == tuple(case.values())
                                      else 4 * dim * dim + 4 * dim).passed


@pytest.mark.parametrize("case", TOTAL_CASES)
def test_total_reference_is_an_instantiated_vit(case):
    with torch.device("meta"):
        model = ViT(image_size=case["image_size"], patch_size=case["patch_size"], channels=case["channels"],
                    dim=case["dim"], depth=case["depth"], heads=4, mlp_dim=case["mlp_dim"],
                    num_classes=case["num_classes"])
    assert reference_total(**case) == model.num_parameters()


@pytest.mark.parametrize("case", POSITION_CASES)
def test_position_reference_is_pos_embed(case):
    with torch.device("meta"):
        model = ViT(image_size=case["image_size"], patch_size=case["patch_size"], dim=case["dim"], depth=1, heads=4,
                    mlp_dim=8, num_classes=2)
    feedback = check_position_parameters(
        lambda image_size, patch_size, dim: model.pos_embed.numel() if (image_size, patch_size, dim) == tuple(
            case.values()) else ((image_size // patch_size) ** 2 + 1) * dim)
    assert feedback.passed, feedback.message


# --- attention --------------------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [
    lambda dim, heads: 4 * dim * dim + 4 * dim,
    lambda dim, heads: (dim * 3 * dim + 3 * dim) + (dim * dim + dim),
    lambda dim, heads: np.int64(4 * dim**2 + 4 * dim),
    lambda dim, heads: torch.tensor(4 * dim**2 + 4 * dim),
    lambda dim, heads: float(4 * dim**2 + 4 * dim),
])
def test_attention_right_answers_pass(answer):
    feedback = check_attention_parameters(answer)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (lambda d, k: 4 * d * d, "no_biases", "biases"),
    (lambda d, k: 3 * d * d + 3 * d, "no_output_projection", "output projection"),
    (lambda d, k: 3 * d * d, "no_output_projection", "output projection"),
    (lambda d, k: 4 * d * d + d, "no_qkv_bias", "vit-pytorch"),
    (lambda d, k: 4 * d * d + 3 * d, "no_output_bias", "output projection"),
    (lambda d, k: k * (4 * d * d + 4 * d), "times_heads", "number of heads"),
    (lambda d, k: k * (3 * d * d + 3 * d) + d * d + d, "full_width_heads", "D/k"),
    (lambda d, k: 4 * d * d + 6 * d, "with_layernorm", "LayerNorm"),
    (lambda d, k: d * d + d, "single_projection", "q, k and v"),
    (lambda d, k: 5 * d * d, "unknown", "components"),
])
def test_attention_mistakes_are_named(answer, mistake, words):
    answer.__name__ = "my_attention_parameters"
    feedback = check_attention_parameters(lambda dim, heads: answer(dim, heads))
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message
    assert words in feedback.message


def test_attention_other_problems():
    assert check_attention_parameters(_unfinished).details.get("not_done")
    assert check_attention_parameters(lambda dim, heads: None).details["mistake"] == "none"
    assert check_attention_parameters(lambda dim, heads: "many").details["mistake"] == "type"
    assert check_attention_parameters(lambda dim, heads: 4 * dim * dim / 7).details["mistake"] == "fraction"
    assert "ZeroDivisionError" in check_attention_parameters(lambda dim, heads: dim // 0).message


# --- positions --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("answer", "mistake"), [
    (lambda h, p, d: (h // p) ** 2 * d, "forgot_class_token"),
    (lambda h, p, d: ((h // p) ** 2 + 2) * d, "class_token_twice"),
    (lambda h, p, d: (h // p + 1) * d, "not_squared"),
    (lambda h, p, d: ((h // p) ** 2 + 1) * p * p * 3, "patch_dim"),
    (lambda h, p, d: (h // p) ** 2 + 1, "no_dim"),
    (lambda h, p, d: (h * h + 1) * d, "pixels"),
    (lambda h, p, d: 12345, "unknown"),
])
def test_position_mistakes_are_named(answer, mistake):
    feedback = check_position_parameters(lambda image_size, patch_size, dim: answer(image_size, patch_size, dim))
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_position_messages():
    forgot = check_position_parameters(lambda image_size, patch_size, dim: (image_size // patch_size) ** 2 * dim)
    assert "class token" in forgot.message and "N + 1" in forgot.message
    assert check_position_parameters(_unfinished).details.get("not_done")
    good = check_position_parameters(lambda image_size, patch_size, dim: ((image_size // patch_size) ** 2 + 1) * dim)
    assert good.passed


# --- totals -----------------------------------------------------------------------------------------
def total_without(**removed):
    """A student answer that leaves out (or adds, if negative) some terms of the count."""
    def answer(image_size, patch_size, channels, dim, depth, mlp_dim, num_classes):
        d, m, k, n = dim, mlp_dim, num_classes, (image_size // patch_size) ** 2
        terms = dict(patch_weight=patch_size**2 * channels * d, patch_bias=d, cls=d, pos=(n + 1) * d,
                     qkv=depth * 3 * d * d, qkv_bias=depth * 3 * d, proj=depth * (d * d + d),
                     mlp=depth * 2 * d * m, mlp_bias=depth * (m + d), norms=depth * 4 * d, final=2 * d,
                     head=d * k, head_bias=k)
        total = sum(terms.values())
        for name, sign in removed.items():
            total -= sign * (terms[name] if name in terms else EXTRA[name](patch_size**2 * channels, d, depth))
        return total
    return answer


EXTRA = {"patch_norms": lambda pd, d, L: 2 * pd + 2 * d, "pre_logits": lambda pd, d, L: d * d + d,
         "channels_wrong": lambda pd, d, L: pd * d - (pd // 3) * d if pd % 3 == 0 else 0}


def test_total_right_answer_passes():
    feedback = check_total_parameters(total_without())
    assert feedback.passed, feedback.message
    assert "86,567,656" in feedback.message


@pytest.mark.parametrize(("removed", "mistake"), [
    (dict(cls=1), "one_d"),
    (dict(patch_bias=1), "one_d"),
    (dict(final=1), "final_norm"),
    (dict(norms=1), "block_norms_or_attention_biases"),
    (dict(norms=1, final=1), "all_norms"),
    (dict(qkv_bias=1), "qkv_bias"),
    (dict(mlp_bias=1), "mlp_biases"),
    (dict(head_bias=1), "head_bias"),
    (dict(head=1, head_bias=1), "head"),
    (dict(pos=1), "positions"),
    (dict(patch_weight=1, patch_bias=1), "patch_projection"),
    (dict(qkv=1, qkv_bias=1, proj=1), "attention"),
    (dict(mlp=1, mlp_bias=1), "mlp"),
    (dict(patch_norms=-1), "vit_pytorch_norms"),
    (dict(patch_norms=-1, qkv_bias=1), "vit_pytorch"),
    (dict(pre_logits=-1), "pre_logits"),
    (dict(channels_wrong=1), "channels"),
    (dict(cls=1, head_bias=1), "unknown"),
])
def test_total_mistakes_are_named(removed, mistake):
    feedback = check_total_parameters(total_without(**removed))
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_total_one_block_missing_or_extra():
    def blocks(offset):
        def answer(image_size, patch_size, channels, dim, depth, mlp_dim, num_classes):
            return reference_total(image_size, patch_size, channels, dim, depth + offset, mlp_dim, num_classes)
        return answer

    assert check_total_parameters(blocks(-1)).details["mistake"] == "one_block"
    assert check_total_parameters(blocks(+1)).details["mistake"] == "extra_block"


def test_total_messages():
    feedback = check_total_parameters(total_without(cls=1))
    assert "class token" in feedback.message and "patch-projection bias" in feedback.message
    odd = check_total_parameters(total_without(cls=1, head_bias=1))
    assert "short by" in odd.message
    assert check_total_parameters(_unfinished).details.get("not_done")
