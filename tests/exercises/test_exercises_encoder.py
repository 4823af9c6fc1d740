"""The encoder exercise checks: the references agree with the package's modules, right answers pass,
each typical mistake gets its own message."""

import pytest
import torch

from vit_edu import EncoderBlock, ViT
from vit_edu.analysis.shape_trace import shape_trace
from vit_edu.exercises.encoder import (
    BLOCK_CASES,
    SHAPE_CASES,
    STAGES,
    _block_parts,
    check_block_parameters,
    check_parallel_block,
    check_stage_shapes,
    reference_block_parameters,
    reference_parallel_block,
    stage_shapes,
)


def _unfinished(*args, **kwargs):
    raise NotImplementedError


# --- parallel block -------------------------------------------------------------------------------
def parallel(x, norm, attn, mlp):
    h = norm(x)
    return x + attn(h) + mlp(h)


def test_parallel_right_answers_pass():
    assert check_parallel_block(parallel).passed
    assert check_parallel_block(parallel, seed=3).passed
    assert check_parallel_block(lambda x, n, a, m: x + a(n(x)) + m(n(x))).passed  # LN computed twice is fine
    feedback = check_parallel_block(lambda x, n, a, m: (x + m(n(x))) + a(n(x)))
    assert feedback.passed and "ViT-22B" in feedback.message


def test_parallel_reference_differs_from_the_sequential_encoder_block():
    x, block = _block_parts(0)
    with torch.no_grad():
        ours = reference_parallel_block(x, block.norm1, block.attn, block.mlp)
        assert ours.shape == x.shape
        assert not torch.allclose(ours, block(x), atol=1e-3)  # a different function from EncoderBlock
        z = x + block.attn(block.norm1(x))  # the MLP branch alone, as the sequential block would add it to z
        assert torch.allclose(ours - z, block.mlp(block.norm1(x)), atol=1e-5)


@pytest.mark.parametrize(("answer", "mistake"), [
    (lambda x, n, a, m: (x + a(n(x))) + m(n(x + a(n(x)))), "sequential"),
    (lambda x, n, a, m: x + a(n(x)) + m(a(n(x))), "mlp_reads_attention"),
    (lambda x, n, a, m: (x + a(n(x))) + (x + m(n(x))), "residual_twice"),
    (lambda x, n, a, m: a(n(x)) + m(n(x)), "no_residual"),
    (lambda x, n, a, m: n(x) + a(n(x)) + m(n(x)), "residual_from_normalised"),
    (lambda x, n, a, m: x + a(x) + m(x), "no_layernorm"),
    (lambda x, n, a, m: x + (a(n(x)) + m(n(x))) / 2, "averaged"),
    (lambda x, n, a, m: x + a(n(x)), "only_attention"),
    (lambda x, n, a, m: x + m(n(x)), "only_mlp"),
    (lambda x, n, a, m: parallel(x, n, a, m)[:, 0], "shape"),
    (lambda x, n, a, m: parallel(x, n, a, m) * 1.5, "unknown"),
    (lambda x, n, a, m: None, "none"),
])
def test_parallel_mistakes_are_named(answer, mistake):
    feedback = check_parallel_block(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_parallel_messages_not_done_and_crash():
    sequential = check_parallel_block(lambda x, n, a, m: (x + a(n(x))) + m(n(x + a(n(x)))))
    assert "sequential" in sequential.message and "LN(x)" in sequential.message
    assert "un-normalised" in check_parallel_block(lambda x, n, a, m: n(x) + a(n(x)) + m(n(x))).message
    assert check_parallel_block(_unfinished).details.get("not_done")
    crashed = check_parallel_block(lambda x, n, a, m: x + a(n(x)).transpose(0, 2) + m(n(x)))
    assert not crashed.passed and "Hint" in crashed.message and "(B, T, D)" in crashed.message


# --- parameters of one block ----------------------------------------------------------------------
def block_parameters(dim, mlp_dim, qkv_bias):
    attention = dim * 3 * dim + (3 * dim if qkv_bias else 0) + dim * dim + dim
    return 2 * (2 * dim) + attention + (dim * mlp_dim + mlp_dim) + (mlp_dim * dim + dim)


@pytest.mark.parametrize("case", BLOCK_CASES)
def test_block_reference_is_an_encoder_block(case):
    with torch.device("meta"):
        block = EncoderBlock(dim=case["dim"], heads=8, head_dim=case["dim"] // 8, mlp_dim=case["mlp_dim"])
    counted = sum(p.numel() for p in block.parameters())
    if not case["qkv_bias"]:
        counted -= block.attn.qkv.bias.numel()
    assert reference_block_parameters(**case) == counted


def test_block_reference_is_the_readme_model_block():
    with torch.device("meta"):
        model = ViT(image_size=256, patch_size=32, num_classes=1000, dim=1024, depth=6, heads=16, mlp_dim=2048)
    assert reference_block_parameters(1024, 2048, True) == sum(p.numel() for p in model.blocks[0].parameters())


def test_block_parameters_right_answers_pass():
    feedback = check_block_parameters(block_parameters)
    assert feedback.passed, feedback.message
    assert "8,399,872" in feedback.message
    assert check_block_parameters(lambda d, m, b: float(block_parameters(d, m, b))).passed
    assert check_block_parameters(lambda d, m, b: torch.tensor(block_parameters(d, m, b))).passed


def _off(delta):
    """A student answer that is off by delta(d, m, b)."""
    return lambda d, m, b: block_parameters(d, m, b) + delta(d, m, b)


@pytest.mark.parametrize(("answer", "mistake"), [
    (_off(lambda d, m, b: -4 * d), "no_norms"),
    (_off(lambda d, m, b: -2 * d), "half_the_norms"),
    (_off(lambda d, m, b: 2 * d), "final_norm"),
    (_off(lambda d, m, b: -((3 * d if b else 0) + d + m + d)), "no_biases"),
    (_off(lambda d, m, b: -(d * d + d)), "no_output_projection"),
    (_off(lambda d, m, b: -(d * m + m)), "one_mlp_layer"),
    (_off(lambda d, m, b: -(m * d + d)), "one_mlp_layer"),
    (lambda d, m, b: block_parameters(d, 4 * d, b), "four_d"),
    (lambda d, m, b: block_parameters(d, m, False), "qkv_bias_missing"),
    (lambda d, m, b: block_parameters(d, m, True), "qkv_bias_ignored"),
    (_off(lambda d, m, b: 7), "unknown"),
    (lambda d, m, b: block_parameters(d, m, b) / 3, "fraction"),
    (lambda d, m, b: "many", "type"),
])
def test_block_parameter_mistakes_are_named(answer, mistake):
    feedback = check_block_parameters(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_block_parameter_messages():
    ignored = check_block_parameters(lambda d, m, b: block_parameters(d, m, True))
    assert "vit-pytorch" in ignored.message and "qkv_bias=False" in ignored.message
    assert "gain *and* a bias" in check_block_parameters(_off(lambda d, m, b: -2 * d)).message
    assert "short by 7" in check_block_parameters(_off(lambda d, m, b: -7)).message
    assert "7 too many" in check_block_parameters(_off(lambda d, m, b: 7)).message
    assert check_block_parameters(_unfinished).details.get("not_done")


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
