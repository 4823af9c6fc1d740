"""setup_lesson: thread count and seed, overridable through the environment with clear errors."""

import pytest
import torch

from vit_edu.course.lesson import SEED_VARIABLE, THREADS_VARIABLE, lesson_seed, lesson_threads, setup_lesson


def test_defaults_apply_without_environment(monkeypatch):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    monkeypatch.delenv(SEED_VARIABLE, raising=False)
    assert setup_lesson(seed=3, threads=1) == 3
    assert torch.get_num_threads() == 1
    first = torch.rand(3)
    setup_lesson(seed=3, threads=1)
    assert torch.equal(first, torch.rand(3))  # the global generator was seeded


def test_environment_overrides_threads_and_seed(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    monkeypatch.setenv(SEED_VARIABLE, " 7 ")
    assert lesson_threads(1) == 2 and lesson_seed(0) == 7
    assert setup_lesson(seed=0, threads=1) == 7 and torch.get_num_threads() == 2


@pytest.mark.parametrize(("variable", "value", "message"), [
    (THREADS_VARIABLE, "two", "VIT_EDU_THREADS='two' must be a whole number"),
    (THREADS_VARIABLE, "0", "VIT_EDU_THREADS=0 must be >= 1"),
    (SEED_VARIABLE, "-1", "VIT_EDU_SEED=-1 must be >= 0"),
])
def test_bad_environment_values_are_named(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        setup_lesson()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": -1}, "seed must be a whole number >= 0"),
    ({"seed": 1.5}, "seed must be a whole number >= 0"),
    ({"threads": 0}, "default must be a whole number >= 1"),
])
def test_bad_arguments_are_named(monkeypatch, kwargs, message):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    monkeypatch.delenv(SEED_VARIABLE, raising=False)
    with pytest.raises(ValueError, match=message):
        setup_lesson(**kwargs)
