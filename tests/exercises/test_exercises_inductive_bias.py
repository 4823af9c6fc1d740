"""The inductive-bias exercise checks: right answers pass, each typical mistake gets its own message,
unfinished = not done."""

import math

import numpy as np
import pytest
import torch

from vit_edu.analysis.inductive_bias import conv_receptive_field, equivariance_error
from vit_edu.exercises.inductive_bias import check_equivariance_error, check_strided_receptive_field


def _unfinished(*args):
    raise NotImplementedError


# --- check_strided_receptive_field ---------------------------------------------------------------

def _forward(kernel_sizes, strides):
    field, jump = 1, 1
    for kernel, stride in zip(kernel_sizes, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def _backward(kernel_sizes, strides):  # walk back from one output cell: r <- (r - 1) s + k
    field = 1
    for kernel, stride in zip(reversed(kernel_sizes), reversed(strides)):
        field = (field - 1) * stride + kernel
    return field


@pytest.mark.parametrize("answer", [
    _forward,
    _backward,
    lambda ks, ss: conv_receptive_field(ks, ss),  # the package's formula agrees
    lambda ks, ss: np.int64(_forward(ks, ss)),
    lambda ks, ss: torch.tensor(_forward(ks, ss)),
])
def test_receptive_field_right_answers_pass(answer):
    feedback = check_strided_receptive_field(answer)
    assert feedback.passed, feedback.message


def _with_jump(jump_of):
    def answer(kernel_sizes, strides):
        return 1 + sum((k - 1) * jump_of(strides, l) for l, k in enumerate(kernel_sizes))
    return answer


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (lambda ks, ss: 1 + sum(k - 1 for k in ks), "stride_ignored", "ignored the strides"),
    (_with_jump(lambda ss, l: math.prod(ss[:l + 1])), "own_stride", "its own stride"),
    (_with_jump(lambda ss, l: math.prod(ss)), "total_stride", "all strides"),
    (lambda ks, ss: _forward(ks, ss) - 1, "no_centre", "add 1"),
    (lambda ks, ss: sum(k * math.prod(ss[:l]) for l, k in enumerate(ks)), "no_overlap", "overlap"),
    (lambda ks, ss: math.prod(ks), "kernel_product", "do not multiply"),
])
def test_receptive_field_mistakes_are_diagnosed(answer, mistake, words):
    feedback = check_strided_receptive_field(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake
    assert words in feedback.message


def test_receptive_field_other_failures():
    assert check_strided_receptive_field(_unfinished).details["not_done"]
    assert "return" in check_strided_receptive_field(lambda ks, ss: None).message
    assert "number" in check_strided_receptive_field(lambda ks, ss: "7").message
    unknown = check_strided_receptive_field(lambda ks, ss: 2 * _forward(ks, ss) + 5)
    assert not unknown.passed and "mistake" not in unknown.details and "k - 1" in unknown.message
    crash = check_strided_receptive_field(lambda ks, ss: ks[0] / 0)
    assert not crash.passed and "ZeroDivisionError" in crash.message


def test_the_lesson_s_pooled_stack_is_a_case():
    # section 4's four 3x3 convolutions with a 2x2 max-pool after the second see 14 pixels
    wrong_only_there = check_strided_receptive_field(
        lambda ks, ss: 13 if list(ks) == [3, 3, 2, 3, 3] else _forward(ks, ss))
    assert not wrong_only_there.passed and wrong_only_there.details["expected"] == 14


# --- check_equivariance_error --------------------------------------------------------------------

def right(f, images, shift):
    shifted_then_f = f(torch.roll(images, shift, dims=-1))
    f_then_shifted = torch.roll(f(images), shift, dims=-1)
    return ((shifted_then_f - f_then_shifted).norm() / f(images).norm()).item()


def test_equivariance_right_answers_pass():
    assert check_equivariance_error(right).passed
    # the package's own function (its crop/output_shift defaults) gives the same numbers
    assert check_equivariance_error(lambda f, x, s: equivariance_error(f, x, s)).passed
    as_tensor = lambda f, x, s: torch.tensor(right(f, x, s))  # noqa: E731
    assert check_equivariance_error(as_tensor).passed


def invariance(f, images, shift):
    return ((f(torch.roll(images, shift, dims=-1)) - f(images)).norm() / f(images).norm()).item()


def wrong_direction(f, images, shift):
    return ((f(torch.roll(images, shift, dims=-1)) - torch.roll(f(images), -shift, dims=-1)).norm()
            / f(images).norm()).item()


def wrong_axis(f, images, shift):
    return ((f(torch.roll(images, shift, dims=-2)) - torch.roll(f(images), shift, dims=-2)).norm()
            / f(images).norm()).item()


def absolute(f, images, shift):
    return (f(torch.roll(images, shift, dims=-1)) - torch.roll(f(images), shift, dims=-1)).norm().item()


def wrong_norm(f, images, shift):
    shifted_then_f = f(torch.roll(images, shift, dims=-1))
    return ((shifted_then_f - torch.roll(f(images), shift, dims=-1)).norm() / shifted_then_f.norm()).item()


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (invariance, "invariance", "invariance"),
    (wrong_direction, "wrong_direction", "other way"),
    (wrong_axis, "wrong_axis", "height"),
    (absolute, "absolute", "relative"),
    (wrong_norm, "wrong_norm", "unshifted"),
])
def test_equivariance_mistakes_are_diagnosed(answer, mistake, words):
    feedback = check_equivariance_error(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake
    assert words in feedback.message


def test_equivariance_other_failures():
    assert check_equivariance_error(_unfinished).details["not_done"]
    assert "return" in check_equivariance_error(lambda f, x, s: None).message
    assert "one number" in check_equivariance_error(lambda f, x, s: [0.0]).message
    always_zero = check_equivariance_error(lambda f, x, s: 0.0)  # right for the convolution, wrong with positions
    assert not always_zero.passed and always_zero.details["map"] == "positional"
    assert "position-dependent" in always_zero.message
