"""The training exercise checks: the references agree with independent ones (torch's DataLoader, the
training loop's schedule, closed-form landmarks, sklearn's accuracy), right answers pass, each typical
mistake gets its own message, unfinished answers get "not done"."""

import math

import pytest
import torch
from sklearn.metrics import accuracy_score
from torch.utils.data import DataLoader, TensorDataset

from vit_edu.data.digits import load_digits_split
from vit_edu.exercises.training import (
    SCHEDULE_CASES,
    STEPS_CASES,
    _accuracy_cases,
    check_accuracy,
    check_learning_rate_schedule,
    check_steps_per_epoch,
    reference_learning_rate,
    reference_steps_per_epoch,
)
from vit_edu.training.loop import learning_rate_at
from vit_edu.training.recipes import COURSE_RECIPES


def _unfinished(*args, **kwargs):
    raise NotImplementedError


# --- the references are right -----------------------------------------------------------------------
@pytest.mark.parametrize("case", STEPS_CASES)
def test_steps_reference_equals_dataloader_length(case):
    data = TensorDataset(torch.zeros(case["num_examples"]))
    loader = DataLoader(data, batch_size=case["batch_size"], drop_last=case["drop_last"])
    assert reference_steps_per_epoch(**case) == len(loader)


@pytest.mark.parametrize("case", SCHEDULE_CASES)
def test_schedule_reference_landmarks_and_training_loop(case):
    total, warmup, peak = case["total_steps"], case["warmup_steps"], case["peak"]
    assert reference_learning_rate(warmup - 1, **case) == pytest.approx(peak)  # warm-up ends at the peak
    assert reference_learning_rate(warmup, **case) == pytest.approx(peak)  # cosine starts at the peak
    assert reference_learning_rate(0, **case) == pytest.approx(peak / warmup)
    assert reference_learning_rate(total, **case) == pytest.approx(0.0, abs=1e-12)
    if (total - warmup) % 2 == 0:
        assert reference_learning_rate(warmup + (total - warmup) // 2, **case) == pytest.approx(peak / 2)
    values = [reference_learning_rate(s, **case) for s in range(total)]
    assert all(a >= b for a, b in zip(values[warmup:], values[warmup + 1:]))  # monotone decay after warm-up
    # the training loop the course uses follows the same schedule
    assert values == pytest.approx([learning_rate_at(s, total, warmup, peak) for s in range(total)])


def test_accuracy_cases_against_sklearn():
    for logits, labels in _accuracy_cases():
        reference = accuracy_score(labels.numpy(), logits.argmax(dim=1).numpy())
        assert 0.0 < reference < 1.0  # neither all right nor all wrong, so mistakes are distinguishable
        assert reference != 0.5  # so the error rate is not the accuracy


# --- steps per epoch --------------------------------------------------------------------------------
def test_steps_right_answers_pass():
    feedback = check_steps_per_epoch(lambda n, b, drop: n // b if drop else -(-n // b))
    assert feedback.passed
    # the example it gives is the training lesson's digits epoch, counted the way a DataLoader counts it
    recipe = COURSE_RECIPES["digits"].training
    loader = DataLoader(range(len(load_digits_split().train_labels)), batch_size=recipe["batch_size"], drop_last=True)
    assert f"is {len(loader)} steps" in feedback.message and len(loader) == 21
    assert check_steps_per_epoch(lambda num_examples, batch_size, drop_last: len(
        DataLoader(range(num_examples), batch_size=batch_size, drop_last=drop_last))).passed


@pytest.mark.parametrize("answer, mistake", [
    (lambda n, b, drop: math.ceil(n / b), "ceil"),
    (lambda n, b, drop: n // b, "floor"),
    (lambda n, b, drop: n / b, "fraction"),
    (lambda n, b, drop: n // b if drop else n // b + 1, "plus_one"),
    (lambda n, b, drop: n * b, "wrong_operation"),
])
def test_steps_mistakes_are_diagnosed(answer, mistake):
    feedback = check_steps_per_epoch(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_steps_unfinished_and_none():
    assert check_steps_per_epoch(_unfinished).details.get("not_done")
    assert check_steps_per_epoch(lambda n, b, drop: None).details["mistake"] == "none"


# --- learning-rate schedule -------------------------------------------------------------------------
def _right_schedule(step, total_steps, warmup_steps, peak):
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return peak * (1 + math.cos(math.pi * progress)) / 2


def test_schedule_right_answers_pass():
    assert check_learning_rate_schedule(_right_schedule).passed
    assert check_learning_rate_schedule(lambda s, t, w, p: torch.tensor(_right_schedule(s, t, w, p))).passed


def _warmup_from_zero(step, total_steps, warmup_steps, peak):
    return peak * step / warmup_steps if step < warmup_steps else _right_schedule(step, total_steps, warmup_steps, peak)


def _cosine_from_zero(step, total_steps, warmup_steps, peak):
    if step < warmup_steps:
        return _right_schedule(step, total_steps, warmup_steps, peak)
    return peak * (1 + math.cos(math.pi * step / total_steps)) / 2


def _full_cosine(step, total_steps, warmup_steps, peak):
    if step < warmup_steps:
        return _right_schedule(step, total_steps, warmup_steps, peak)
    return peak * (1 + math.cos(2 * math.pi * (step - warmup_steps) / (total_steps - warmup_steps))) / 2


def _no_shift(step, total_steps, warmup_steps, peak):
    if step < warmup_steps:
        return _right_schedule(step, total_steps, warmup_steps, peak)
    return peak * math.cos(math.pi * (step - warmup_steps) / (total_steps - warmup_steps))


def _linear(step, total_steps, warmup_steps, peak):
    if step < warmup_steps:
        return _right_schedule(step, total_steps, warmup_steps, peak)
    return peak * (1 - (step - warmup_steps) / (total_steps - warmup_steps))


@pytest.mark.parametrize("answer, mistake", [
    (_warmup_from_zero, "warmup_from_zero"),
    (lambda s, t, w, p: p * (1 + math.cos(math.pi * s / t)) / 2, "no_warmup"),
    (_cosine_from_zero, "cosine_from_zero"),
    (_full_cosine, "full_cosine"),
    (_no_shift, "no_shift"),
    (_linear, "linear_decay"),
    (lambda s, t, w, p: 2 * _right_schedule(s, t, w, p), "unknown"),
])
def test_schedule_mistakes_are_diagnosed(answer, mistake):
    feedback = check_learning_rate_schedule(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_schedule_unfinished_and_crash():
    assert check_learning_rate_schedule(_unfinished).details.get("not_done")
    crashed = check_learning_rate_schedule(lambda s, t, w, p: 1 / 0)
    assert not crashed.passed and "ZeroDivisionError" in crashed.message


# --- accuracy ---------------------------------------------------------------------------------------
def test_accuracy_right_answers_pass():
    assert check_accuracy(lambda logits, labels: (logits.argmax(dim=1) == labels).float().mean()).passed
    assert check_accuracy(lambda logits, labels: accuracy_score(labels, logits.argmax(-1))).passed
    assert check_accuracy(lambda logits, labels: (
        logits.softmax(-1).argmax(-1) == labels).double().mean().item()).passed


@pytest.mark.parametrize("answer, mistake", [
    (lambda lg, lb: 100 * (lg.argmax(1) == lb).float().mean(), "percent"),
    (lambda lg, lb: (lg.argmax(1) == lb).sum(), "count"),
    (lambda lg, lb: (lg.argmax(0) == lb).float().mean(), "axis"),
    (lambda lg, lb: (lg.argmax(1) != lb).float().mean(), "error_rate"),
    (lambda lg, lb: (lg.argmax(1) == lb).float(), "shape"),
    (lambda lg, lb: "0.5", "type"),
])
def test_accuracy_mistakes_are_diagnosed(answer, mistake):
    feedback = check_accuracy(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_accuracy_unfinished():
    assert check_accuracy(_unfinished).details.get("not_done")
