"""The result type of every ``check_*`` function, and what the checks share.

A check runs the student's function (:func:`run_student_code`), reads the answer as a tensor or a
number (:func:`as_tensor`, :func:`as_number`; :func:`run_for_tensor` and :func:`run_for_number` do
both steps), and compares it with a reference and with the answers that typical mistakes give
(:func:`close`, :func:`known_mistake`, :func:`judge`). Whatever goes wrong, the student gets a
:class:`Feedback` that says what, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vit_edu.language import tr


@dataclass(frozen=True)
class Feedback:
    """What a check found.

    Attributes:
        passed: the answer is right.
        message: one or two sentences for the student: what is right, or what is wrong and a hint.
        details: machine-readable facts (expected and received shapes, values) for tests.
    """

    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return tr("Correct: {message}", message=self.message)
        return tr("Not yet: {message}", message=self.message)

    def _repr_markdown_(self) -> str:
        # The word is the mark: emoji render as empty boxes where no emoji font is installed.
        if self.passed:
            return tr("**Correct**: {message}", message=self.message)
        return tr("**Not yet**: {message}", message=self.message)

    def __repr__(self) -> str:
        return str(self)


# --------------------------------------------------------------------------- running the student's code
def not_done(what: str | None = None) -> Feedback:
    """Feedback for an answer that has not been written yet.

    Args:
        what: the unfinished answer in the message's words (already in the course's language), e.g. the
            function's name in backticks; None: "this exercise".
    """
    if what is None:
        message = tr("this exercise is not done yet: replace `raise NotImplementedError` with your code.")
    else:
        message = tr("{what} is not done yet: replace `raise NotImplementedError` with your code.", what=what)
    return Feedback(False, message, {"not_done": True})


def function_name(function: Callable[..., Any]) -> str:
    """The name messages call the student's function by."""
    name = getattr(function, "__name__", None)
    return tr("your function") if name is None else name


def run_student_code(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> tuple[Any, Feedback | None]:
    """Call a student's function; turn an unfinished or crashing answer into Feedback.

    Returns:
        ``(result, None)`` when the call worked, or ``(None, feedback)`` when it raised.
    """
    try:
        return function(*args, **kwargs), None
    except NotImplementedError:
        return None, not_done(f"`{function_name(function)}`")
    except Exception as error:  # a student's bug: report it instead of crashing the notebook
        return None, Feedback(False, tr("your code raised {error_type}: {error}", error_type=type(error).__name__,
                                        error=error), {"error": repr(error)})


def hint_on_crash(problem: Feedback, hint: str, *, mentions: tuple[str, ...]) -> Feedback:
    """``problem`` with ``hint`` added when it reports a crash whose message mentions one of ``mentions``.

    A shape error inside the student's code usually has one cause per exercise (``k.T`` on a 4-D
    tensor, a class token not expanded to the batch, ...); the hint names it.
    """
    message = problem.message.lower()
    if "error" not in problem.details or not any(word in message for word in mentions):
        return problem
    return Feedback(False, tr("{message} Hint: {hint}", message=problem.message, hint=hint), problem.details)


# --------------------------------------------------------------------------- reading the answer
def as_tensor(value: Any, function: Callable[..., Any], returns: str | None = None
              ) -> tuple[torch.Tensor | None, Feedback | None]:
    """A student's result -> a tensor (a numpy array is converted), or Feedback saying why it is not one.

    Args:
        value: what the student's function returned.
        function: the student's function, named in the message.
        returns: what the function should return, in the message's words (already in the course's
            language); None: "a torch.Tensor".
    """
    name = function_name(function)
    returns = tr("a torch.Tensor") if returns is None else returns
    if value is None:
        return None, Feedback(False, tr("`{name}` returned None: did you forget the `return`?", name=name),
                              {"mistake": "none"})
    if isinstance(value, tuple):
        return None, Feedback(False, tr("`{name}` returned a tuple; return only {returns}.", name=name,
                                        returns=returns), {"mistake": "tuple"})
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        return None, Feedback(False, tr("`{name}` must return {returns}, got {type}.", name=name, returns=returns,
                                        type=type(value).__name__), {"mistake": "type"})
    return value, None


def run_for_tensor(function: Callable[..., Any], /, *args: Any, returns: str | None = None
                   ) -> tuple[torch.Tensor | None, Feedback | None]:
    """:func:`run_student_code`, then :func:`as_tensor`: the student's tensor, or the Feedback for the first problem."""
    result, problem = run_student_code(function, *args)
    if problem is None:
        result, problem = as_tensor(result, function, returns)
    return result, problem


def as_number(value: Any, what: str, *, written: bool = False) -> tuple[int | float | None, Feedback | None]:
    """A student's result -> an int or a float, or Feedback saying why it is not one number.

    A one-element tensor or array and a numpy scalar count as numbers (``.item()``); a bool does not.

    Args:
        value: what the student's function returned.
        what: the quantity asked for, in the message's words, already in the course's language
            ("the number of bytes").
        written: the student wrote the value down (a prediction) rather than returned it from a function:
            the message says "write", not "return".
    """
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        shape = tuple(value.shape)
        if math.prod(shape) != 1:
            kind = tr("a tensor") if isinstance(value, torch.Tensor) else tr("an array")
            if written:
                message = tr("write {what} as one number, got {kind} of shape {shape}.", what=what, kind=kind,
                             shape=shape)
            else:
                message = tr("return {what} as one number, got {kind} of shape {shape}.", what=what, kind=kind,
                             shape=shape)
            return None, Feedback(False, message, {"mistake": "shape", "shape": shape})
        value = value.item()
    if value is None:
        return None, Feedback(False, tr("your function returned None: did you forget the `return`?"),
                              {"mistake": "none"})
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if written:
            message = tr("write {what} as one number, got {type}.", what=what, type=type(value).__name__)
        else:
            message = tr("return {what} as one number, got {type}.", what=what, type=type(value).__name__)
        return None, Feedback(False, message, {"mistake": "type"})
    return value, None


def run_for_number(function: Callable[..., Any], what: str, /, *args: Any, **kwargs: Any
                   ) -> tuple[int | float | None, Feedback | None]:
    """:func:`run_student_code`, then :func:`as_number`: the student's number, or the Feedback for the first problem."""
    result, problem = run_student_code(function, *args, **kwargs)
    if problem is None:
        result, problem = as_number(result, what)
    return result, problem


# --------------------------------------------------------------------------- comparing tensors
def close(a: torch.Tensor, b: torch.Tensor, *, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Same shape and the same values up to float rounding, compared in float64."""
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol)


def known_mistake(result: torch.Tensor, mistakes: Mapping[str, tuple[torch.Tensor, str]], details: Mapping[str, Any],
                  *, atol: float = 1e-6) -> Feedback | None:
    """Feedback naming the first typical mistake whose answer ``result`` equals, or None.

    Args:
        mistakes: ``{code: (the answer the mistake gives, the hint for it)}``, most specific first.
        details: facts to keep in the Feedback; the mistake's code is added.
    """
    for code, (answer, hint) in mistakes.items():
        if close(result, answer, atol=atol):
            return Feedback(False, hint, {**details, "mistake": code})
    return None


def judge(result: torch.Tensor, expected: torch.Tensor, mistakes: Mapping[str, tuple[torch.Tensor, str]], *,
          right: str, what: str | None = None, advice: str = "", atol: float = 1e-6) -> Feedback:
    """Feedback on a student's tensor: right, a known mistake, or what is off (shape, NaN, values).

    Args:
        result, expected: the student's tensor and the reference.
        mistakes: as for :func:`known_mistake`.
        right: the message when ``result`` equals ``expected``.
        what: the tensor in the message's words ("GELU(x)"); None: "the result".
        advice: a sentence added when the values are wrong in an unknown way.
        atol: the absolute tolerance of the comparisons (the relative one is :func:`close`'s).

    ``right``, ``what`` and ``advice`` are student text: pass them already in the course's language (``tr``).
    """
    details = {"expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
    what = tr("the result") if what is None else what
    if close(result, expected, atol=atol):
        return Feedback(True, right, details)
    found = known_mistake(result, mistakes, details, atol=atol)
    if found is not None:
        return found
    if result.shape != expected.shape:
        return Feedback(False, tr("{what} has shape {shape}, expected {expected}.", what=what,
                                  shape=tuple(result.shape), expected=tuple(expected.shape)),
                        {**details, "mistake": "shape"})
    if not torch.isfinite(result).all():
        return Feedback(False, tr("{what} contains NaN or inf values: look for a division by zero or an exp that "
                                  "overflows.", what=what), {**details, "mistake": "not_finite"})
    error = (result.double() - expected.double()).abs().max().item()
    return Feedback(False, tr("the shape is right but the values differ from the reference (max error {error:.3g})."
                              " {advice}", error=error, advice=advice).rstrip(),
                    {**details, "mistake": "unknown", "max_error": error})
