"""The patching exercise checks: right answers pass, each typical mistake gets its own message."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from vit_edu.exercises.patching import (
    check_num_patches,
    check_patchify,
    check_unfold_embedding,
    reference_conv_embedding,
    reference_patchify,
)
from vit_edu.patches import linear_weight_from_conv, patchify


def _unfinished(*args):
    raise NotImplementedError


# --- check_num_patches ---------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    lambda h, w, p: (h // p) * (w // p),
    lambda h, w, p: h * w // p**2,
    lambda h, w, p: np.int64(h // p * (w // p)),
    lambda h, w, p: torch.tensor(h // p * (w // p)),
])
def test_num_patches_right_answers_pass(answer):
    feedback = check_num_patches(answer)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize(("answer", "mistake"), [
    (lambda h, w, p: (h // p) * (w // p) + 1, "class_token"),
    (lambda h, w, p: h * w // p, "not_squared"),
    (lambda h, w, p: h * w / p, "not_squared"),
    (lambda h, w, p: 3 * (h // p) * (w // p), "channels"),
    (lambda h, w, p: h * w, "pixels"),
    (lambda h, w, p: p * p * 3, "patch_dim"),
    (lambda h, w, p: h // p + w // p, "added"),
    (lambda h, w, p: (h // p) ** 2, "height_twice"),  # right for every square case, caught on 64 x 96
    (lambda h, w, p: (w // p) ** 2, "width_twice"),
    (lambda h, w, p: h // p, "one_side"),
    (lambda h, w, p: (h // p + 1) * (w // p + 1), "off_by_one"),
    (lambda h, w, p: (h // p) * (w // p) - 1, "off_by_one"),
    (lambda h, w, p: 7, "unknown"),
])
def test_num_patches_mistakes_are_named(answer, mistake):
    feedback = check_num_patches(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_num_patches_messages_say_what_is_wrong():
    assert "class token" in check_num_patches(lambda h, w, p: (h // p) * (w // p) + 1).message
    assert "P^2" in check_num_patches(lambda h, w, p: h * w // p).message
    assert "non-square" in check_num_patches(lambda h, w, p: (h // p) ** 2).message
    float_answer = check_num_patches(lambda h, w, p: h * w / p**2)
    assert not float_answer.passed and float_answer.details["mistake"] == "float" and "//" in float_answer.message


def test_num_patches_unfinished_none_and_crash():
    assert check_num_patches(_unfinished).details == {"not_done": True}
    assert "not done yet" in check_num_patches(_unfinished).message
    assert "return" in check_num_patches(lambda h, w, p: None).message
    crash = check_num_patches(lambda h, w, p: h / 0)
    assert not crash.passed and "ZeroDivisionError" in crash.message
    assert "number" in check_num_patches(lambda h, w, p: "196").message


# --- check_patchify -------------------------------------------------------------------------------

def test_reference_patchify_is_the_paper_order():
    # Independent of einops: token k is the block at grid (k // (W/P), k % (W/P)), read as an H x W x C picture.
    images = torch.randn(2, 3, 8, 12)
    patches = reference_patchify(images, 4)
    assert patches.shape == (2, 6, 48)
    for k in range(6):
        i, j = divmod(k, 3)
        block = images[:, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4].permute(0, 2, 3, 1)  # (B, P, P, C)
        assert torch.equal(patches[:, k], block.reshape(2, -1))
    assert patches[0, 0, 1] == images[0, 1, 0, 0]  # second value of a patch: same pixel, next channel


def test_vit_edu_patchify_passes_the_check():
    assert check_patchify(patchify).passed
    images = torch.randn(1, 3, 32, 48)
    assert torch.equal(patchify(images, 8), reference_patchify(images, 8))


def test_patchify_numpy_answer_passes():
    assert check_patchify(lambda x, p: rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p).numpy())


@pytest.mark.parametrize(("pattern", "mistake"), [
    ("b c (h p1) (w p2) -> b (h w) (c p1 p2)", "channels_first"),
    ("b c (h p1) (w p2) -> b (h w) (p2 p1 c)", "patch_transposed"),
    ("b c (h p1) (w p2) -> b (w h) (p1 p2 c)", "grid_transposed"),
    ("b c (h p1) (w p2) -> b (w h) (c p1 p2)", "grid_transposed_channels_first"),
    ("b c (p1 h) (p2 w) -> b (h w) (p1 p2 c)", "strided"),
    ("b c (h p1) (w p2) -> b (p1 p2 c) (h w)", "transposed"),
    ("b c (h p1) (w p2) -> b h w (p1 p2 c)", "grid_not_flat"),
    ("b c (h p1) (w p2) -> b (h w) p1 p2 c", "patch_not_flat"),
    ("b c (h p1) (w p2) -> (b h w) (p1 p2 c)", "shape"),
])
def test_patchify_mistakes_are_named(pattern, mistake):
    feedback = check_patchify(lambda x, p: rearrange(x, pattern, p1=p, p2=p))
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_patchify_other_mistakes():
    reshape_only = check_patchify(lambda x, p: x.reshape(x.shape[0], -1, p * p * x.shape[1]))
    assert reshape_only.details["mistake"] == "reshape_only" and "reshape" in reshape_only.message
    shuffled = check_patchify(lambda x, p: patchify(x, p).flip(-1))
    assert shuffled.details["mistake"] == "order"
    wrong = check_patchify(lambda x, p: patchify(x, p) + 1)
    assert wrong.details["mistake"] == "values"
    assert check_patchify(lambda x, p: patchify(x, p)[0]).details["mistake"] == "no_batch"
    assert check_patchify(_unfinished).details == {"not_done": True}
    assert "tensor" in check_patchify(lambda x, p: [1, 2]).message


# --- check_unfold_embedding --------------------------------------------------------------------------

def unfold_embedding(images, conv_weight, conv_bias):
    p = conv_weight.shape[-1]
    columns = F.unfold(images, kernel_size=p, stride=p)                    # (B, C P^2, N), channel first
    return (conv_weight.reshape(conv_weight.shape[0], -1) @ columns).transpose(1, 2) + conv_bias


def test_reference_conv_embedding_is_patchify_and_a_linear_layer():
    # The reference (F.conv2d) agrees with the lesson's other form: patchify, then the converted Linear weight.
    torch.manual_seed(0)
    kernel, bias, images = torch.randn(7, 3, 4, 4), torch.randn(7), torch.randn(2, 3, 8, 12)
    linear = F.linear(reference_patchify(images, 4), linear_weight_from_conv(kernel), bias)
    torch.testing.assert_close(reference_conv_embedding(images, kernel, bias), linear, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("answer", [
    unfold_embedding,
    lambda x, k, b: torch.einsum("dm,bmn->bnd", k.flatten(1), F.unfold(x, k.shape[-1], stride=k.shape[-1])) + b,
    lambda x, k, b: F.linear(patchify(x, k.shape[-1]), linear_weight_from_conv(k), b),  # the lesson's other form
    lambda x, k, b: unfold_embedding(x, k, b).numpy(),
])
def test_unfold_embedding_right_answers_pass(answer):
    feedback = check_unfold_embedding(answer)
    assert feedback.passed, feedback.message
    assert "(c p1 p2)" in feedback.message


def _unfold_with(weight_pattern):
    def answer(x, k, b):
        p = k.shape[-1]
        weight = rearrange(k, weight_pattern)
        return (weight @ F.unfold(x, kernel_size=p, stride=p)).transpose(1, 2) + b
    return answer


@pytest.mark.parametrize(("answer", "mistake", "phrase"), [
    (_unfold_with("d c p1 p2 -> d (p1 p2 c)"), "patchify_order", "(p1 p2 c)"),
    (_unfold_with("d c p1 p2 -> d (c p2 p1)"), "kernel_transposed", "transposed"),
    (lambda x, k, b: F.linear(patchify(x, k.shape[-1]), k.reshape(k.shape[0], -1), b), "patchify_with_reshape",
     "do not match"),
    (lambda x, k, b: unfold_embedding(x, k, b) - b, "no_bias", "bias is missing"),
    (lambda x, k, b: rearrange(unfold_embedding(x, k, b), "b (h w) d -> b (w h) d", h=2), "grid_transposed",
     "column order"),
    (lambda x, k, b: unfold_embedding(x, k, b).transpose(1, 2), "transposed", "(B, D, N)"),
    (lambda x, k, b: F.conv2d(x, k, b, stride=k.shape[-1]), "grid_not_flat", "(B, D, H/P, W/P)"),
    (lambda x, k, b: unfold_embedding(x, k, b)[0], "no_batch", "batch"),
    (lambda x, k, b: unfold_embedding(x, k, b).flatten(1), "shape", "expected (B, N, D)"),
    (lambda x, k, b: unfold_embedding(x, k, b) * 2, "values", "column k"),
])
def test_unfold_embedding_mistakes_are_named(answer, mistake, phrase):
    feedback = check_unfold_embedding(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message
    assert phrase in feedback.message


def test_unfold_embedding_crash_unfinished_and_wrong_type():
    assert check_unfold_embedding(_unfinished).details == {"not_done": True}
    assert "tensor" in check_unfold_embedding(lambda x, k, b: [1, 2]).message

    def bias_on_columns(x, k, b):  # (B, D, N) + (D,): the bias broadcasts along the wrong axis
        p = k.shape[-1]
        return (k.reshape(k.shape[0], -1) @ F.unfold(x, kernel_size=p, stride=p)) + b

    crash = check_unfold_embedding(bias_on_columns)
    assert not crash.passed and "RuntimeError" in crash.message and "transpose" in crash.message
