"""The self-attention exercise checks: right answers pass, each typical mistake gets its own message."""

import math
import warnings

import pytest
import torch
from einops import rearrange

from vit_edu.exercises.attention import check_attention, check_attention_memory, check_split_heads


def _not_done(*args, **kwargs):
    raise NotImplementedError


def correct_attention(q, k, v):
    return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1) @ v


def test_attention_right_answer_passes():
    feedback = check_attention(correct_attention)
    assert feedback.passed and "scaled_dot_product_attention" in feedback.message


def test_attention_via_einsum_also_passes():
    def einsum_attention(q, k, v):
        scores = torch.einsum("...id,...jd->...ij", q, k) / q.shape[-1] ** 0.5
        return torch.einsum("...ij,...jd->...id", scores.softmax(-1), v)

    assert check_attention(einsum_attention).passed


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda q, k, v: (q @ k.transpose(-2, -1)).softmax(-1) @ v, "no_scale", "not scaled"),
        (lambda q, k, v: (q @ k.transpose(-2, -1) / q.shape[-1]).softmax(-1) @ v, "scale_by_d", "divided by d"),
        (lambda q, k, v: (q @ k.transpose(-2, -1) * q.shape[-1] ** 0.5).softmax(-1) @ v, "multiplied", "multiplied"),
        (lambda q, k, v: (q @ k.transpose(-2, -1) / q.shape[-2] ** 0.5).softmax(-1) @ v, "scale_by_seq_len",
         "sequence length"),
        (lambda q, k, v: (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-2) @ v, "softmax_wrong_axis",
         "dim=-1"),
        (lambda q, k, v: (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5) @ v, "no_softmax", "softmax is missing"),
    ],
)
def test_attention_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_attention(wrong)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake
    assert phrase in feedback.message


def test_attention_returning_weights_is_diagnosed():
    feedback = check_attention(lambda q, k, v: (q @ k.transpose(-2, -1) / 2).softmax(-1))
    assert not feedback.passed and "attention weights A" in feedback.message


def test_attention_k_dot_t_gives_transpose_hint():
    def with_dot_t(q, k, v):
        return (q @ k.T / q.shape[-1] ** 0.5).softmax(-1) @ v

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that .T on a 4-D tensor is deprecated
        feedback = check_attention(with_dot_t)
    assert not feedback.passed and "k.transpose(-2, -1)" in feedback.message


def test_attention_unfinished_returns_not_done_and_none_is_explained():
    assert check_attention(_not_done).details.get("not_done")
    feedback = check_attention(lambda q, k, v: None)
    assert not feedback.passed and "return" in feedback.message


def test_attention_wrong_values_get_generic_message():
    feedback = check_attention(lambda q, k, v: correct_attention(q, k, v) + 0.5)
    assert not feedback.passed and "max error" in feedback.message


def test_split_heads_right_answer_passes():
    assert check_split_heads(lambda x, heads: rearrange(x, "b t (h d) -> b h t d", h=heads)).passed
    assert check_split_heads(
        lambda x, heads: x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)
    ).passed


@pytest.mark.parametrize(
    ("wrong", "phrase"),
    [
        (lambda x, heads: rearrange(x, "b t (h d) -> b t h d", h=heads), "kept T before the heads"),
        (lambda x, heads: rearrange(x, "b t (h d) -> b h d t", h=heads), "T and d are swapped"),
        (lambda x, heads: rearrange(x, "b t (d h) -> b h t d", h=heads), "interleaved"),
        (lambda x, heads: rearrange(x, "b t (h d) -> b h t d", h=3), "not a fixed number"),
        (lambda x, heads: rearrange(x, "b t (h d) -> b h t d", h=heads).flip(-1), "the values are not"),
    ],
)
def test_split_heads_mistakes_are_diagnosed(wrong, phrase):
    feedback = check_split_heads(wrong)
    assert not feedback.passed
    assert phrase in feedback.message


def test_split_heads_unfinished():
    assert check_split_heads(_not_done).details.get("not_done")


def attention_memory(image_size, patch_size, heads, batch, bytes_per_element=4):
    return batch * heads * ((image_size // patch_size) ** 2 + 1) ** 2 * bytes_per_element


def test_attention_memory_right_answer_passes_and_matches_vit_b():
    assert check_attention_memory(attention_memory).passed
    # ViT-B/16 at 224 px: T = 197, 12 heads, float32 -> 12 * 197^2 * 4 bytes, worked out by hand
    assert attention_memory(224, 16, 12, 1) == 1_862_832


@pytest.mark.parametrize(
    ("wrong", "mistake"),
    [
        (lambda s, p, h, b, bytes_per_element=4: b * h * ((s // p) ** 2) ** 2 * bytes_per_element, "no_class_token"),
        (lambda s, p, h, b, bytes_per_element=4: b * ((s // p) ** 2 + 1) ** 2 * bytes_per_element, "no_heads"),
        (lambda s, p, h, b, bytes_per_element=4: h * ((s // p) ** 2 + 1) ** 2 * bytes_per_element, "no_batch"),
        (lambda s, p, h, b, bytes_per_element=4: b * h * ((s // p) ** 2 + 1) * bytes_per_element, "linear_in_t"),
        (lambda s, p, h, b, bytes_per_element=4: 8 * attention_memory(s, p, h, b), "bits"),
        (lambda s, p, h, b, bytes_per_element=4: b * h * ((s // p) ** 2 + 1) ** 2, "elements"),
        (lambda s, p, h, b, bytes_per_element=4: b * h * (s // p + 1) ** 2 * bytes_per_element, "patches_per_side"),
    ],
)
def test_attention_memory_mistakes_are_diagnosed(wrong, mistake):
    feedback = check_attention_memory(wrong)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake


def test_attention_memory_unfinished_and_wrong_type():
    assert check_attention_memory(_not_done).details.get("not_done")
    assert "return" in check_attention_memory(lambda *a, **k: None).message
    assert "number of bytes" in check_attention_memory(lambda *a, **k: "a lot").message
    assert not check_attention_memory(lambda *a, **k: 12345).passed
