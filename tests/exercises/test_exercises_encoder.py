"""The encoder exercise checks: right answers pass, each typical mistake gets its own message."""

import math

import pytest
import torch
import torch.nn.functional as F

from vit_edu import ViT
from vit_edu.analysis.shape_trace import shape_trace
from vit_edu.exercises.encoder import (
    SHAPE_CASES,
    STAGES,
    check_gelu,
    check_prenorm_block,
    check_stage_shapes,
    stage_shapes,
)


def _unfinished(*args, **kwargs):
    raise NotImplementedError


# --- GELU -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [
    lambda x: F.gelu(x),
    lambda x: x * 0.5 * (1 + torch.erf(x / math.sqrt(2))),
    lambda x: x * torch.distributions.Normal(0.0, 1.0).cdf(x),
    lambda x: torch.tensor([[v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in row] for row in x.tolist()]),
])
def test_gelu_right_answers_pass(answer):
    feedback = check_gelu(answer)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize(("answer", "mistake"), [
    (lambda x: F.gelu(x, approximate="tanh"), "tanh_approximation"),
    (lambda x: x * torch.sigmoid(1.702 * x), "sigmoid_approximation"),
    (lambda x: torch.relu(x), "relu"),
    (lambda x: 0.5 * x * (1 + torch.erf(x)), "missing_sqrt2"),
    (lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))), "missing_x"),
    (lambda x: x * (1 + torch.erf(x / math.sqrt(2))), "missing_half"),
    (lambda x: F.gelu(x).flatten(), "shape"),
    (lambda x: torch.tanh(x), "unknown"),
    (lambda x: None, "none"),
    (lambda x: x.tolist(), "type"),
])
def test_gelu_mistakes_are_named(answer, mistake):
    feedback = check_gelu(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_gelu_messages():
    assert "tanh approximation" in check_gelu(lambda x: F.gelu(x, approximate="tanh")).message
    assert "erf(x / sqrt(2))" in check_gelu(lambda x: 0.5 * x * (1 + torch.erf(x))).message
    assert check_gelu(_unfinished).details.get("not_done")
    crashed = check_gelu(lambda x: x.no_such_method())
    assert not crashed.passed and "AttributeError" in crashed.message


# --- pre-norm block -------------------------------------------------------------------------------
def prenorm(x, norm1, attn, norm2, mlp):
    x = x + attn(norm1(x))
    return x + mlp(norm2(x))


def test_block_right_answer_passes():
    feedback = check_prenorm_block(prenorm)
    assert feedback.passed, feedback.message
    assert check_prenorm_block(prenorm, seed=3).passed


@pytest.mark.parametrize(("answer", "mistake"), [
    (lambda x, n1, a, n2, m: n2(n1(x + a(x)) + m(n1(x + a(x)))), "post_norm"),
    (lambda x, n1, a, n2, m: m(n2(a(n1(x)))), "no_residual"),
    (lambda x, n1, a, n2, m: a(n1(x)) + m(n2(a(n1(x)))), "missing_first_residual"),
    (lambda x, n1, a, n2, m: m(n2(x + a(n1(x)))), "missing_second_residual"),
    (lambda x, n1, a, n2, m: x + a(n1(x)) + m(n2(x)), "parallel"),
    (lambda x, n1, a, n2, m: prenorm(x, n2, a, n1, m), "norms_swapped"),
    (lambda x, n1, a, n2, m: (x + m(n2(x))) + a(n1(x + m(n2(x)))), "mlp_first"),
    (lambda x, n1, a, n2, m: prenorm(x, torch.nn.Identity(), a, torch.nn.Identity(), m), "no_layernorm"),
    (lambda x, n1, a, n2, m: prenorm(x, n1, a, n2, m)[:, 0], "shape"),
    (lambda x, n1, a, n2, m: prenorm(x, n1, a, n2, m) * 1.5, "unknown"),
])
def test_block_mistakes_are_named(answer, mistake):
    feedback = check_prenorm_block(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_block_residual_from_normalised_input():
    def wrong(x, norm1, attn, norm2, mlp):
        h = norm1(x)
        z = h + attn(h)
        h = norm2(z)
        return h + mlp(h)

    feedback = check_prenorm_block(wrong)
    assert feedback.details["mistake"] == "residual_from_normalised"
    assert "un-normalised" in feedback.message


def test_block_post_norm_message_and_not_done():
    post = check_prenorm_block(lambda x, n1, a, n2, m: n2(n1(x + a(x)) + m(n1(x + a(x)))))
    assert "post-norm" in post.message and "pre-norm" in post.message
    assert check_prenorm_block(_unfinished).details.get("not_done")


# --- shapes ---------------------------------------------------------------------------------------
def good_shapes(batch, image_size, patch_size, dim, heads, mlp_dim, num_classes):
    n = (image_size // patch_size) ** 2
    return {"patches": (batch, n, patch_size**2 * 3), "tokens": (batch, n + 1, dim), "qkv": [batch, n + 1, 3 * dim],
            "attention_weights": torch.Size([batch, heads, n + 1, n + 1]), "mlp_hidden": (batch, n + 1, mlp_dim),
            "pooled": (batch, dim), "logits": (batch, num_classes)}


def test_reference_shapes_equal_a_real_model():
    case = SHAPE_CASES[0]
    model = ViT(image_size=case["image_size"], patch_size=case["patch_size"], num_classes=case["num_classes"],
                dim=case["dim"], depth=1, heads=case["heads"], mlp_dim=case["mlp_dim"], seed=0)
    images = torch.randn(case["batch"], 3, case["image_size"], case["image_size"])
    rows = {row.name: row for row in shape_trace(model, images)}
    _, attentions = model(images, return_attention=True)
    expected = stage_shapes(**case)
    assert expected["tokens"] == rows["pos_drop"].output_shape
    assert expected["qkv"] == rows["blocks.0.attn.qkv"].output_shape
    assert expected["attention_weights"] == tuple(attentions[0].shape)
    assert expected["mlp_hidden"] == rows["blocks.0.mlp.fc1"].output_shape
    assert expected["pooled"] == rows["head"].input_shape
    assert expected["logits"] == rows["head"].output_shape
    assert expected["patches"][:2] == rows["patch_embed"].output_shape[:2]


def test_shapes_right_answer_passes():
    feedback = check_stage_shapes(good_shapes)
    assert feedback.passed, feedback.message


def _with(stage, make):
    def answer(batch, image_size, patch_size, dim, heads, mlp_dim, num_classes):
        shapes = good_shapes(batch, image_size, patch_size, dim, heads, mlp_dim, num_classes)
        n = (image_size // patch_size) ** 2
        shapes[stage] = make(batch, n, patch_size, dim, heads, mlp_dim, num_classes)
        return shapes
    return answer


@pytest.mark.parametrize(("stage", "make", "words"), [
    ("patches", lambda b, n, p, d, k, m, c: (b, n, p * p), "C = 3 channels"),
    ("patches", lambda b, n, p, d, k, m, c: (b, n, d), "after the projection"),
    ("tokens", lambda b, n, p, d, k, m, c: (b, n, d), "class token is prepended"),
    ("qkv", lambda b, n, p, d, k, m, c: (b, n + 1, d), "3 D"),
    ("attention_weights", lambda b, n, p, d, k, m, c: (b, n + 1, n + 1), "(B, heads, T, T)"),
    ("attention_weights", lambda b, n, p, d, k, m, c: (b, k, n, n), "T = N + 1"),
    ("attention_weights", lambda b, n, p, d, k, m, c: (b, k, n + 1, d // k), "per head"),
    ("mlp_hidden", lambda b, n, p, d, k, m, c: (b, n + 1, d), "M = mlp_dim"),
    ("mlp_hidden", lambda b, n, p, d, k, m, c: (b, n + 1, 4 * d), "4 D"),
    ("pooled", lambda b, n, p, d, k, m, c: (b, n + 1, d), "one vector per image"),
    ("logits", lambda b, n, p, d, k, m, c: (b, n + 1, c), "pooled vector"),
])
def test_shape_mistakes_are_named(stage, make, words):
    feedback = check_stage_shapes(_with(stage, make))
    assert not feedback.passed
    assert feedback.details["mistake"] == stage and feedback.details["hint"], feedback.message
    assert words in feedback.message


def test_shapes_other_problems():
    assert check_stage_shapes(_unfinished).details.get("not_done")
    assert check_stage_shapes(lambda **case: [1, 2]).details["mistake"] == "type"
    partial = check_stage_shapes(lambda **case: {"patches": (1, 2, 3)})
    assert partial.details["mistake"] == "missing" and "tokens" in partial.details["missing"]
    empty = check_stage_shapes(lambda **case: dict.fromkeys(STAGES))
    assert empty.details.get("not_done")
    odd = check_stage_shapes(_with("pooled", lambda *args: (7, 7)))
    assert odd.details["mistake"] == "pooled" and not odd.details["hint"]
