"""The patching exercise checks: right answers pass, each typical mistake gets its own message."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from vit_edu.exercises.patching import (
    check_conv_to_linear,
    check_num_patches,
    check_patchify,
    reference_linear_weight,
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


# --- check_conv_to_linear ---------------------------------------------------------------------------

def test_reference_linear_weight_makes_linear_equal_conv():
    # The independent reference: a Linear with this weight on reference patches equals Conv2d with stride P.
    torch.manual_seed(0)
    kernel, bias, images = torch.randn(7, 3, 4, 4), torch.randn(7), torch.randn(2, 3, 8, 12)
    conv = F.conv2d(images, kernel, bias, stride=4).flatten(2).transpose(1, 2)  # (B, N, D)
    linear = F.linear(reference_patchify(images, 4), reference_linear_weight(kernel), bias)
    torch.testing.assert_close(linear, conv, rtol=1e-5, atol=1e-5)


def test_vit_edu_conversion_passes_the_check():
    assert check_conv_to_linear(linear_weight_from_conv).passed


@pytest.mark.parametrize(("answer", "mistake"), [
    (lambda k: k.reshape(k.shape[0], -1), "channels_first"),
    (lambda k: rearrange(k, "d c p1 p2 -> d (p2 p1 c)"), "kernel_transposed"),
    (lambda k: rearrange(k, "d c p1 p2 -> (p1 p2 c) d"), "transposed"),
    (lambda k: k.reshape(k.shape[0], k.shape[1], -1), "shape"),
    (lambda k: linear_weight_from_conv(k) * 2, "values"),
])
def test_conv_to_linear_mistakes_are_named(answer, mistake):
    feedback = check_conv_to_linear(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_conv_to_linear_unfinished_and_wrong_type():
    assert check_conv_to_linear(_unfinished).details == {"not_done": True}
    assert check_conv_to_linear(lambda k: linear_weight_from_conv(k).numpy()).passed
    assert "tensor" in check_conv_to_linear(lambda k: k.tolist()).message
