"""The predict-then-run check: not done, malformed, numbers near and far, choices."""

import numpy as np
import pytest
import torch

from vit_edu.exercises.predictions import check_prediction


def test_no_prediction_yet_says_not_done():
    feedback = check_prediction(None, 197, what="the number of tokens")
    assert not feedback.passed and feedback.details["not_done"]
    assert "NotImplementedError" in feedback.message


@pytest.mark.parametrize("guess", ["lots", [1, 2], True, torch.ones(3)])
def test_a_guess_that_is_not_a_number_is_refused(guess):
    feedback = check_prediction(guess, 197, what="the number of tokens")
    assert not feedback.passed and "one number" in feedback.message


def test_numbers_report_distance_and_closeness():
    exact = check_prediction(197, 197, what="the number of tokens", tolerance=0)
    assert exact.passed and exact.details["close"] and "exactly right" in exact.message
    near = check_prediction(180, 200, what="the cost", tolerance=0.2, relative=True)
    assert near.passed and near.details["close"] and "10% off" in near.message and "within 20%" in near.message
    far = check_prediction(np.float32(100.0), torch.tensor(200.0), what="the cost", tolerance=0.2, relative=True)
    assert far.passed and not far.details["close"] and "50% off" in far.message and "outside" in far.message
    untoleranced = check_prediction(3, 4, what="x", why="Because.")
    assert untoleranced.passed and untoleranced.details["close"] is False and untoleranced.message.endswith("Because.")
    assert check_prediction(0.5, 0, what="x", tolerance=1).details["close"]


def test_choices_are_matched_without_case_and_checked():
    right = check_prediction(" Up ", "up", what="the loss", choices=["up", "down"])
    assert right.passed and right.details["close"] and "right" in right.message
    wrong = check_prediction("down", "up", what="the loss", choices=["up", "down"])
    assert wrong.passed and not wrong.details["close"] and "'up'" in wrong.message
    invalid = check_prediction("sideways", "up", what="the loss", choices=["up", "down"])
    assert not invalid.passed and invalid.details["mistake"] == "choice"


def test_lesson_side_mistakes_raise():
    with pytest.raises(ValueError, match="tolerance"):
        check_prediction(1, 1, what="x", tolerance=-1)
    with pytest.raises(ValueError, match="choices"):
        check_prediction("a", "c", what="x", choices=["a", "b"])
    with pytest.raises(TypeError, match="what"):
        check_prediction(1, 1, what="")
    with pytest.raises(TypeError, match="measured"):
        check_prediction(1, "many", what="x")
