"""The helpers every exercise check shares: running the student's code, reading the answer, comparing it."""

import functools
import math

import numpy as np
import pytest
import torch

from vit_edu.exercises.feedback import (
    Feedback,
    as_number,
    as_tensor,
    close,
    function_name,
    hint_on_crash,
    judge,
    known_mistake,
    run_for_number,
    run_for_tensor,
    run_student_code,
)


def my_answer(*args, **kwargs):
    raise NotImplementedError


def test_feedback_shows_as_correct_or_not_yet():
    assert str(Feedback(True, "right.")) == "Correct: right."
    assert Feedback(False, "wrong.")._repr_markdown_() == "**Not yet**: wrong."
    assert Feedback(True, "right.")._repr_markdown_().isascii()   # no emoji: they need a font many machines lack
    assert not Feedback(False, "wrong.") and Feedback(True, "right.")


# --------------------------------------------------------------------------- running the student's code
def test_function_name_falls_back_for_callables_without_a_name():
    assert function_name(my_answer) == "my_answer"
    assert function_name(functools.partial(my_answer, 1)) == "your function"


def test_run_student_code_reports_unfinished_and_crashing_answers():
    assert run_student_code(lambda x, y=0: x + y, 1, y=2) == (3, None)
    result, problem = run_student_code(my_answer)
    assert result is None and problem.details == {"not_done": True} and "`my_answer` is not done" in problem.message
    result, problem = run_student_code(lambda: 1 / 0)
    assert result is None and "ZeroDivisionError" in problem.message and "error" in problem.details


def test_run_student_code_passes_keywords_named_like_its_own_parameters():
    assert run_student_code(lambda function: function, function=5) == (5, None)


def test_hint_on_crash_only_for_a_crash_that_mentions_the_words():
    def crash(message):
        def answer():
            raise RuntimeError(message)

        return run_student_code(answer)[1]

    problem = crash("The SIZE of tensor a must match")
    hinted = hint_on_crash(problem, "expand it.", mentions=("size",))
    assert hinted.message == f"{problem.message} Hint: expand it." and hinted.details == problem.details
    other = crash("index out of range")
    assert hint_on_crash(other, "expand it.", mentions=("size",)) is other
    unfinished = run_student_code(my_answer)[1]  # not a crash, even if the words appear in it
    assert hint_on_crash(unfinished, "expand it.", mentions=("done",)) is unfinished


# --------------------------------------------------------------------------- reading the answer
def test_as_tensor_accepts_tensors_and_numpy_arrays():
    tensor = torch.ones(2)
    assert as_tensor(tensor, my_answer) == (tensor, None)
    converted, problem = as_tensor(np.arange(3.0), my_answer)
    assert problem is None and torch.equal(converted, torch.arange(3.0, dtype=torch.float64))


@pytest.mark.parametrize(("value", "mistake", "words"), [
    (None, "none", "`my_answer` returned None: did you forget the `return`?"),
    ((torch.ones(1), torch.ones(1)), "tuple", "returned a tuple; return only a tensor of shape (N,)."),
    ([1.0, 2.0], "type", "`my_answer` must return a tensor of shape (N,), got list."),
    (np.array(["a"]), "type", "got ndarray"),
])
def test_as_tensor_says_why_an_answer_is_not_a_tensor(value, mistake, words):
    result, problem = as_tensor(value, my_answer, "a tensor of shape (N,)")
    assert result is None and not problem.passed
    assert problem.details["mistake"] == mistake and words in problem.message


def test_run_for_tensor_stops_at_the_first_problem():
    assert run_for_tensor(my_answer, torch.ones(2))[1].details["not_done"]
    assert run_for_tensor(lambda x: x.tolist(), torch.ones(2))[1].details["mistake"] == "type"
    result, problem = run_for_tensor(lambda x: 2 * x, torch.ones(2))
    assert problem is None and torch.equal(result, torch.full((2,), 2.0))


@pytest.mark.parametrize(("value", "number"), [
    (3, 3), (2.5, 2.5), (torch.tensor(4), 4), (torch.tensor([1.5]), 1.5), (np.int64(7), 7), (np.array([[2.0]]), 2.0),
])
def test_as_number_accepts_one_number_in_any_container(value, number):
    result, problem = as_number(value, "N")
    assert problem is None and result == number and type(result) is type(number)


@pytest.mark.parametrize(("value", "mistake", "words"), [
    (None, "none", "did you forget the `return`?"),
    (True, "type", "return N as one number, got bool."),
    ("196", "type", "return N as one number, got str."),
    (torch.ones(3), "shape", "return N as one number, got a tensor of shape (3,)."),
    (np.ones((2, 2)), "shape", "got an array of shape (2, 2)."),
])
def test_as_number_says_why_an_answer_is_not_one_number(value, mistake, words):
    result, problem = as_number(value, "N")
    assert result is None and problem.details["mistake"] == mistake and words in problem.message


def test_run_for_number_forwards_every_argument():
    assert run_for_number(lambda a, b, what=0: a * b + what, "the product", 2, 3, what=1) == (7, None)
    assert run_for_number(lambda: "7", "the product")[1].details["mistake"] == "type"
    assert run_for_number(my_answer, "the product")[1].details["not_done"]


# --------------------------------------------------------------------------- comparing tensors
def test_close_needs_the_same_shape_and_values_up_to_rounding():
    a = torch.arange(4.0)
    assert close(a, a.double() + 1e-9) and close(a.float(), a.double())
    assert not close(a, a.reshape(2, 2)) and not close(a, a + 1e-3)
    assert close(a, a + 1e-3, atol=1e-2)
    assert not close(a, torch.full((4,), math.nan))


def test_known_mistake_names_the_first_mistake_that_matches():
    x = torch.arange(3.0)
    mistakes = {"doubled": (2 * x, "you doubled it."), "also_doubled": (2 * x, "never reached."),
                "negated": (-x, "you negated it.")}
    found = known_mistake(-x, mistakes, {"case": 1})
    assert found.message == "you negated it." and found.details == {"case": 1, "mistake": "negated"}
    assert known_mistake(2 * x, mistakes, {}).details["mistake"] == "doubled"
    assert known_mistake(x + 5, mistakes, {}) is None


def test_judge_passes_a_right_answer_and_names_a_known_mistake():
    x = torch.linspace(-1, 1, 6)
    mistakes = {"negated": (-x, "you negated it.")}
    right = judge(x.clone(), x, mistakes, right="x itself.")
    assert right.passed and right.message == "x itself." and right.details["shape"] == (6,)
    assert judge(-x, x, mistakes, right="x itself.").details["mistake"] == "negated"


@pytest.mark.parametrize(("result", "mistake", "words"), [
    (torch.zeros(2, 3), "shape", "the output has shape (2, 3), expected (6,)."),
    (torch.full((6,), math.inf), "not_finite", "the output contains NaN or inf"),
    (torch.full((6,), math.nan), "not_finite", "NaN"),
    (torch.zeros(6), "unknown", "the shape is right but the values differ from the reference (max error 1). Look."),
])
def test_judge_says_what_is_off_in_an_unknown_mistake(result, mistake, words):
    x = torch.linspace(-1, 1, 6)
    feedback = judge(result, x, {}, right="x itself.", what="the output", advice="Look.")
    assert not feedback.passed and feedback.details["mistake"] == mistake and words in feedback.message


def test_judge_uses_its_tolerance_for_the_answer_and_the_mistakes():
    x = torch.arange(3.0)
    assert not judge(x + 1e-5, x, {}, right="ok").passed
    assert judge(x + 1e-5, x, {}, right="ok", atol=1e-4).passed
    assert judge(-x + 1e-5, x, {"negated": (-x, "negated")}, right="ok", atol=1e-4).details["mistake"] == "negated"
