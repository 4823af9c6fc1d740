"""The self-attention exercise checks: right answers pass, each typical mistake gets its own message."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from vit_edu.exercises.attention import (
    check_attention_entropy,
    check_attention_memory,
    check_masked_attention,
    reference_attention_entropy,
)


def _not_done(*args, **kwargs):
    raise NotImplementedError


def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v


def _scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


@pytest.mark.parametrize("answer", [
    masked_attention,
    lambda q, k, v, m: (_scores(q, k).masked_fill(~m, -1e9)).softmax(-1) @ v,           # a large negative number
    lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
    lambda q, k, v, m: (lambda a: a / a.sum(-1, keepdim=True))(_scores(q, k).softmax(-1) * m) @ v,  # renormalised
    lambda q, k, v, m: torch.where(m, _scores(q, k), float("-inf")).softmax(-1) @ v,
])
def test_masked_attention_right_answers_pass(answer):
    feedback = check_masked_attention(answer)
    assert feedback.passed, feedback.message
    assert "causal" in feedback.message


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda q, k, v, m: masked_attention(q, k, v, ~m), "inverted", "True means *may attend*"),
        (lambda q, k, v, m: _scores(q, k).masked_fill(~m, 0.0).softmax(-1) @ v, "zero_fill", "exp(0) = 1"),
        (lambda q, k, v, m: (_scores(q, k) * m).softmax(-1) @ v, "zero_fill", "-inf"),
        (lambda q, k, v, m: (_scores(q, k).softmax(-1) * m) @ v, "mask_after_softmax", "after the softmax"),
        (lambda q, k, v, m: (_scores(q, k) + m.double()).softmax(-1) @ v, "mask_added", "additive"),
        (lambda q, k, v, m: _scores(q, k).softmax(-1) @ v, "no_mask", "mask is ignored"),
        (lambda q, k, v, m: (q @ k.transpose(-2, -1)).masked_fill(~m, float("-inf")).softmax(-1) @ v, "no_scale",
         "not scaled"),
        (lambda q, k, v, m: (q @ k.transpose(-2, -1) / q.shape[-1]).masked_fill(~m, float("-inf")).softmax(-1) @ v,
         "scale_by_d", "divided by d"),
        (lambda q, k, v, m: _scores(q, k).masked_fill(~m, float("-inf")).softmax(-2) @ v, "softmax_wrong_axis",
         "dim=-1"),
        (lambda q, k, v, m: _scores(q, k).masked_fill(~m, float("-inf")).softmax(-1), "weights", "attention weights"),
        (lambda q, k, v, m: (_scores(q, k).masked_fill(~m, float("-inf")) * m).softmax(-1) @ v, "not_finite", "NaN"),
        (lambda q, k, v, m: masked_attention(q, k, v, m) + 0.5, "unknown", "max error"),
    ],
)
def test_masked_attention_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_masked_attention(wrong)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message
    assert phrase in feedback.message


def test_masked_attention_that_ignores_only_the_causal_case_is_caught():
    def only_mixed(q, k, v, m):  # right for the first mask, then drops it
        return masked_attention(q, k, v, m) if not m.tril().equal(m) else _scores(q, k).softmax(-1) @ v

    feedback = check_masked_attention(only_mixed)
    assert not feedback.passed and feedback.details["case"] == "a causal mask"
    assert feedback.message.startswith("with a causal mask")


def test_masked_attention_k_dot_t_gives_transpose_hint():
    def with_dot_t(q, k, v, m):
        return (q @ k.T / q.shape[-1] ** 0.5).masked_fill(~m, float("-inf")).softmax(-1) @ v

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that .T on a 4-D tensor is deprecated
        feedback = check_masked_attention(with_dot_t)
    assert not feedback.passed and "k.transpose(-2, -1)" in feedback.message


def test_masked_attention_unfinished_and_none():
    assert check_masked_attention(_not_done).details.get("not_done")
    feedback = check_masked_attention(lambda q, k, v, m: None)
    assert not feedback.passed and "return" in feedback.message


# ------------------------------------------------------------------------ attention entropy
def attention_entropy(weights):
    return -torch.special.xlogy(weights, weights).sum(dim=-1)


@pytest.mark.parametrize("answer", [
    attention_entropy,
    lambda a: -torch.where(a > 0, a * a.log(), torch.zeros_like(a)).sum(-1),
    lambda a: -(a * a.clamp_min(1e-30).log()).sum(-1),
    lambda a: attention_entropy(a).numpy(),
])
def test_attention_entropy_right_answers_pass(answer):
    feedback = check_attention_entropy(answer)
    assert feedback.passed, feedback.message
    assert "0 log 0 = 0" in feedback.message


def test_reference_entropy_limits():
    one_hot, uniform = torch.tensor([[0.0, 1.0, 0.0]]), torch.full((1, 4), 0.25)
    assert reference_attention_entropy(one_hot).item() == 0
    assert math.isclose(reference_attention_entropy(uniform).item(), math.log(4), rel_tol=1e-6)


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda a: -(a * a.log()).sum(-1), "nan_from_zeros", "xlogy"),
        (lambda a: torch.special.xlogy(a, a).sum(-1), "sign", "minus sign"),
        (lambda a: -torch.special.xlogy(a, a).sum(-1) / math.log(2), "bits", "bits"),
        (lambda a: -torch.special.xlogy(a, a).sum(-1) / math.log(10), "log10", "log10"),
        (lambda a: -torch.special.xlogy(a, a).mean(-1), "mean_over_keys", "sum over the keys"),
        (lambda a: -torch.special.xlogy(a, a).sum(-2), "wrong_axis", "dim=-1"),
        (lambda a: attention_entropy(a).mean(-1), "one_value", "one entropy per query"),
        (lambda a: attention_entropy(a) + 0.1, "unknown", "max error"),
        (lambda a: attention_entropy(a)[..., :3], "shape", "expected"),
    ],
)
def test_attention_entropy_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_attention_entropy(wrong)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message
    assert phrase in feedback.message


def test_attention_entropy_unfinished():
    assert check_attention_entropy(_not_done).details.get("not_done")


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
