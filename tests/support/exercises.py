"""What every exercise check must survive: an answer not written yet, one that returns nothing, one that
crashes and one that returns a tuple. Each must give Feedback that says so, never an exception."""

from __future__ import annotations


def unfinished(*args):
    raise NotImplementedError


def returns_none(*args):
    return None


def crashes(*args):
    raise KeyError("oops")


def assert_survives_unfinished_none_crash_and_tuple(check) -> None:
    assert check(unfinished).details.get("not_done")
    assert "not done yet" in str(check(unfinished))
    assert "return" in check(returns_none).message
    feedback = check(crashes)
    assert not feedback.passed and "KeyError" in feedback.message
    assert "returned a tuple" in check(lambda *args: (1, 2)).message
