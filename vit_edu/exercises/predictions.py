"""*Predict, then run*: the student writes down a guess before a cell measures the answer.

A prediction cell holds one variable that starts as ``None``; the cell after it measures the
quantity and calls :func:`check_prediction`, which says how close the guess was. Committing a
guess is what earns the point: being far off is a finding, not a failure, and the message says
why the answer came out as it did.

    my_prediction = None            # your guess: how many tokens does the encoder read?
    ### BEGIN SOLUTION
    my_prediction = 197
    ### END SOLUTION

    tokens = model.patch_embedding.num_patches + 1       # the measuring cell
    feedback = check_prediction(my_prediction, tokens, what="the number of tokens", tolerance=0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vit_edu.exercises.feedback import Feedback, as_number
from vit_edu.language import lesson_text, then, tr


def check_prediction(prediction: Any, measured: Any, *, what: str, tolerance: float | None = None,
                     relative: bool = False, choices: Sequence[str] | None = None, why: str = "") -> Feedback:
    """Compare a student's committed guess with what the lesson measured.

    Args:
        prediction: the student's guess: a number, or one of ``choices``; ``None`` means not made yet.
        measured: what the lesson measured (a number, or the choice that came true).
        what: the quantity in the message's words ("the attention cost ratio"), in the lesson's language.
        tolerance: for numbers, how far off still counts as close (absolute, or a fraction of
            ``measured`` when ``relative``); ``None`` only reports the distance.
        relative: ``tolerance`` is a fraction of ``measured``.
        choices: the allowed answers when the prediction is a choice (compared case-insensitively).
        why: one sentence that explains the measured answer, added to the message (in the lesson's language).

    Returns:
        Feedback that passes once a valid prediction is committed; ``details["close"]`` says whether it
        was within the tolerance (for choices: right).
    """
    if not isinstance(what, str) or not what:
        raise TypeError(f"what must name the predicted quantity as a non-empty str, got {what!r}.")
    if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                                  or not math.isfinite(tolerance) or tolerance < 0):
        raise ValueError(f"tolerance must be a number >= 0 or None, got {tolerance!r}.")
    what, explain = lesson_text(what), then(lesson_text(why))  # the lesson's words, in its language
    if prediction is None or prediction is Ellipsis:
        return Feedback(False, tr("your prediction is not done yet: replace `raise NotImplementedError` with your "
                                  "code."), {"not_done": True})
    if choices is not None:
        options = [str(choice) for choice in choices]
        if str(measured).lower() not in [option.lower() for option in options]:
            raise ValueError(f"measured={measured!r} is not one of choices={options}.")
        if not isinstance(prediction, str) or prediction.strip().lower() not in [o.lower() for o in options]:
            return Feedback(False, tr("answer with one of {options}, got {prediction!r}.", options=options,
                                      prediction=prediction), {"mistake": "choice"})
        right = prediction.strip().lower() == str(measured).lower()
        verdict = tr("right") if right else tr("not what happened: it was {measured!r}", measured=measured)
        return Feedback(True, tr("you predicted {prediction!r} for {what}: {verdict}.{explain}",
                                 prediction=prediction.strip(), what=what, verdict=verdict, explain=explain),
                        {"close": right, "measured": measured})
    guess, problem = as_number(prediction, tr("your prediction of {what}", what=what), written=True)
    if problem is not None:
        return Feedback(False, problem.message, problem.details)
    value, problem = as_number(measured, what)
    if problem is not None:
        raise TypeError(f"measured must be one number, got {measured!r}.")
    error = abs(guess - value)
    scale = abs(value) if relative else 1.0
    near = None if tolerance is None else error <= tolerance * scale
    off = tr("{percent:.0f}% off", percent=100 * error / abs(value)) if value else tr("off by {error:.3g}",
                                                                                        error=error)
    if error == 0:
        verdict = tr("exactly right")
    elif near is None:
        verdict = off
    elif near:
        verdict = tr("{off}, close {tolerance}", off=off, tolerance=_tolerance_words(tolerance, relative))
    else:
        verdict = tr("{off}, outside {tolerance}", off=off, tolerance=_tolerance_words(tolerance, relative))
    return Feedback(True, tr("you predicted {guess:.4g}, the lesson measured {value:.4g} for {what}: {verdict}."
                             "{explain}", guess=guess, value=value, what=what, verdict=verdict, explain=explain),
                    {"close": error == 0 or bool(near), "error": error, "measured": value})


def _tolerance_words(tolerance: float, relative: bool) -> str:
    if relative:
        return tr("(within {percent:.0f}% counts as close)", percent=100 * tolerance)
    return tr("(within {tolerance:g} counts as close)", tolerance=tolerance)
