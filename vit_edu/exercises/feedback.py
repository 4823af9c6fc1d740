"""The result type of every ``check_*`` function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
        icon = "✅" if self.passed else "❌"
        return f"{icon} **{'Correct' if self.passed else 'Not yet'}**: {self.message}"

    def __repr__(self) -> str:
        return str(self)


def not_done(what: str = "this exercise") -> Feedback:
    """Feedback for an answer that has not been written yet."""
    return Feedback(False, f"{what} is not done yet: replace `raise NotImplementedError` with your code.",
                    {"not_done": True})


def run_student_code(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Feedback | None]:
    """Call a student's function; turn an unfinished or crashing answer into Feedback.

    Returns:
        ``(result, None)`` when the call worked, or ``(None, feedback)`` when it raised.
    """
    try:
        return function(*args, **kwargs), None
    except NotImplementedError:
        return None, not_done(f"`{getattr(function, '__name__', 'your function')}`")
    except Exception as error:  # a student's bug: report it instead of crashing the notebook
        return None, Feedback(False, f"your code raised {type(error).__name__}: {error}", {"error": repr(error)})
