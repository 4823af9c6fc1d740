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
        mark = "Correct" if self.passed else "Not yet"
        return f"{mark}: {self.message}"

    def _repr_markdown_(self) -> str:
        # The word is the mark: emoji render as empty boxes where no emoji font is installed.
        return f"**{'Correct' if self.passed else 'Not yet'}**: {self.message}"

    def __repr__(self) -> str:
        return str(self)


# --------------------------------------------------------------------------- running the student's code
def not_done(what: str = "this exercise") -> Feedback:
    """Feedback for an answer that has not been written yet."""
    return Feedback(False, f"{what} is not done yet: replace `raise NotImplementedError` with your code.",
                    {"not_done": True})


def function_name(function: Callable[..., Any]) -> str:
    """The name messages call the student's function by."""
    return getattr(function, "__name__", "your function")


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
        return None, Feedback(False, f"your code raised {type(error).__name__}: {error}", {"error": repr(error)})


def hint_on_crash(problem: Feedback, hint: str, *, mentions: tuple[str, ...]) -> Feedback:
    """``problem`` with ``hint`` added when it reports a crash whose message mentions one of ``mentions``.

    A shape error inside the student's code usually has one cause per exercise (``k.T`` on a 4-D
    tensor, a class token not expanded to the batch, ...); the hint names it.
    """
    message = problem.message.lower()
    if "error" not in problem.details or not any(word in message for word in mentions):
        return problem
    return Feedback(False, f"{problem.message} Hint: {hint}", problem.details)


# --------------------------------------------------------------------------- reading the answer
def as_tensor(value: Any, function: Callable[..., Any], returns: str = "a torch.Tensor"
              ) -> tuple[torch.Tensor | None, Feedback | None]:
    """A student's result -> a tensor (a numpy array is converted), or Feedback saying why it is not one.

    Args:
        value: what the student's function returned.
        function: the student's function, named in the message.
        returns: what the function should return, in the message's words.
    """
    name = function_name(function)
    if value is None:
        return None, Feedback(False, f"`{name}` returned None: did you forget the `return`?", {"mistake": "none"})
    if isinstance(value, tuple):
        return None, Feedback(False, f"`{name}` returned a tuple; return only {returns}.", {"mistake": "tuple"})
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        return None, Feedback(False, f"`{name}` must return {returns}, got {type(value).__name__}.",
                              {"mistake": "type"})
    return value, None


def run_for_tensor(function: Callable[..., Any], /, *args: Any, returns: str = "a torch.Tensor"
                   ) -> tuple[torch.Tensor | None, Feedback | None]:
    """:func:`run_student_code`, then :func:`as_tensor`: the student's tensor, or the Feedback for the first problem."""
    result, problem = run_student_code(function, *args)
    if problem is None:
        result, problem = as_tensor(result, function, returns)
    return result, problem


def as_number(value: Any, what: str) -> tuple[int | float | None, Feedback | None]:
    """A student's result -> an int or a float, or Feedback saying why it is not one number.

    A one-element tensor or array and a numpy scalar count as numbers (``.item()``); a bool does not.

    Args:
        value: what the student's function returned.
        what: the quantity asked for, in the message's words ("the number of bytes").
    """
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        shape = tuple(value.shape)
        if math.prod(shape) != 1:
            kind = "a tensor" if isinstance(value, torch.Tensor) else "an array"
            return None, Feedback(False, f"return {what} as one number, got {kind} of shape {shape}.",
                                  {"mistake": "shape", "shape": shape})
        value = value.item()
    if value is None:
        return None, Feedback(False, "your function returned None: did you forget the `return`?", {"mistake": "none"})
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, Feedback(False, f"return {what} as one number, got {type(value).__name__}.", {"mistake": "type"})
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
          right: str, what: str = "the result", advice: str = "", atol: float = 1e-6) -> Feedback:
    """Feedback on a student's tensor: right, a known mistake, or what is off (shape, NaN, values).

    Args:
        result, expected: the student's tensor and the reference.
        mistakes: as for :func:`known_mistake`.
        right: the message when ``result`` equals ``expected``.
        what: the tensor in the message's words ("GELU(x)").
        advice: a sentence added when the values are wrong in an unknown way.
        atol: the absolute tolerance of the comparisons (the relative one is :func:`close`'s).
    """
    details = {"expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
    if close(result, expected, atol=atol):
        return Feedback(True, right, details)
    found = known_mistake(result, mistakes, details, atol=atol)
    if found is not None:
        return found
    if result.shape != expected.shape:
        return Feedback(False, f"{what} has shape {tuple(result.shape)}, expected {tuple(expected.shape)}.",
                        {**details, "mistake": "shape"})
    if not torch.isfinite(result).all():
        return Feedback(False, f"{what} contains NaN or inf values: look for a division by zero or an exp that "
                        "overflows.", {**details, "mistake": "not_finite"})
    error = (result.double() - expected.double()).abs().max().item()
    return Feedback(False, f"the shape is right but the values differ from the reference (max error {error:.3g}). "
                    f"{advice}".rstrip(), {**details, "mistake": "unknown", "max_error": error})
