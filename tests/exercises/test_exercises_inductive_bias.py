"""The inductive-bias exercise checks: right answers pass, each typical mistake gets its own message,
unfinished = not done."""

import numpy as np
import pytest
import torch

from vit_edu.analysis.inductive_bias import conv_receptive_field, equivariance_error
from vit_edu.exercises.inductive_bias import check_equivariance_error, check_receptive_field


def _unfinished(*args):
    raise NotImplementedError


# --- check_receptive_field -----------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    lambda L, k: 1 + L * (k - 1),
    lambda L, k: conv_receptive_field([k] * L),  # the package's general formula agrees
    lambda L, k: np.int64(1 + L * (k - 1)),
    lambda L, k: torch.tensor(1 + L * (k - 1)),
])
def test_receptive_field_right_answers_pass(answer):
    feedback = check_receptive_field(answer)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (lambda L, k: L * k, "no_overlap", "overlap"),
    (lambda L, k: L * (k - 1), "no_centre", "add 1"),
    (lambda L, k: 1 + L * (k - 1) // 2, "radius", "radius"),
    (lambda L, k: L * (k - 1) // 2, "half_width", "one side"),
    (lambda L, k: k**L, "product", "multiply"),
    (lambda L, k: 1 + (L - 1) * (k - 1), "one_layer_short", "one layer too few"),
])
def test_receptive_field_mistakes_are_diagnosed(answer, mistake, words):
    feedback = check_receptive_field(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake
    assert words in feedback.message


def test_receptive_field_other_failures():
    assert check_receptive_field(_unfinished).details["not_done"]
    assert "return" in check_receptive_field(lambda L, k: None).message
    assert "number" in check_receptive_field(lambda L, k: "7").message
    unknown = check_receptive_field(lambda L, k: 2 * L * k + 5)
    assert not unknown.passed and "mistake" not in unknown.details and "k - 1" in unknown.message
    crash = check_receptive_field(lambda L, k: L / 0)
    assert not crash.passed and "ZeroDivisionError" in crash.message


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
