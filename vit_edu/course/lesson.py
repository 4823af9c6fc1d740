"""What every lesson does first: pick the CPU thread count and seed the random generators.

A lesson calls ``SEED = setup_lesson(seed=0)`` once, at the top, instead of setting threads and
seeds by hand. Two environment variables let the project's benchmarks run a lesson on another
configuration without editing it:

- ``VIT_EDU_THREADS``: the number of CPU threads (default: the lesson's own ``threads``);
  ``benchmarks/notebook_portability.py`` uses it to check that a lesson passes with another core count.
- ``VIT_EDU_SEED``: replaces the lesson's seed; ``benchmarks/lesson_claims.py`` uses it to measure
  how much a trained number moves from seed to seed, which sets the tolerance of each claim in
  :mod:`vit_edu.course.claims`.
"""

from __future__ import annotations

import os

import torch

from vit_edu.language import use_language

THREADS_VARIABLE = "VIT_EDU_THREADS"
SEED_VARIABLE = "VIT_EDU_SEED"


def _environment_int(name: str, minimum: int) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"the environment variable {name}={text!r} must be a whole number; unset it or "
                         f"set e.g. {name}={max(minimum, 1)}.") from None
    if value < minimum:
        raise ValueError(f"the environment variable {name}={value} must be >= {minimum}.")
    return value


def lesson_threads(default: int = 2) -> int:
    """The CPU thread count a lesson should use: ``VIT_EDU_THREADS`` if set, else ``default``."""
    if isinstance(default, bool) or not isinstance(default, int) or default < 1:
        raise ValueError(f"default must be a whole number >= 1, got {default!r}.")
    override = _environment_int(THREADS_VARIABLE, minimum=1)
    return default if override is None else override


def lesson_seed(seed: int = 0) -> int:
    """The seed a lesson should use: ``VIT_EDU_SEED`` if set, else ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}.")
    override = _environment_int(SEED_VARIABLE, minimum=0)
    return seed if override is None else override


def setup_lesson(seed: int = 0, threads: int = 2, language: str = "en") -> int:
    """Set torch's thread count, the global seed, the course's figure style and language for a lesson; return the seed.

    Args:
        seed: the lesson's seed (for initial weights, data order, ...).
        threads: the lesson's thread count; the course is budgeted for two CPU cores, and tiny
            models run as fast on one.
        language: what the checks and widgets say, "en" or "zh" (the Chinese lessons in ``notebooks/zh``
            pass "zh"; see :func:`vit_edu.language.use_language`).

    Returns:
        The seed in force (``VIT_EDU_SEED`` overrides ``seed``).
    """
    from vit_edu.viz.render import apply_course_style

    use_language(language)
    seed = lesson_seed(seed)
    torch.set_num_threads(lesson_threads(threads))
    torch.manual_seed(seed)
    apply_course_style()  # figures a lesson draws itself follow the course's style too
    return seed
