"""nbgrader cell metadata for the lessons, derived from their exercises.

nbgrader grades a cell only when its metadata says so: an answer cell is an "autograded answer"
(``solution``), its check cell "autograder tests" (``grade`` with ``points``), each with a
``grade_id`` that stays the same when the lesson is edited or renumbered. Those follow from the
lesson itself (:func:`vit_edu.course.anatomy.exercises`), so ``scripts/sync_lessons.py`` writes them
and a teacher marks nothing by hand::

    {"nbgrader": {"solution": true, "grade": false, "grade_id": "self_attention-attention_memory", ...}}
    {"nbgrader": {"solution": false, "grade": true, "grade_id": "self_attention-attention_memory-check",
                  "points": 2, "locked": true, ...}}
"""

from __future__ import annotations

import nbformat

from vit_edu.course.anatomy import exercises

SCHEMA_VERSION = 3


def nbgrader_cell_metadata(nb: nbformat.NotebookNode, topic: str) -> dict[int, dict]:
    """cell index -> the ``nbgrader`` metadata that cell must carry (answer and check cells only).

    Args:
        nb: the lesson (instructor edition).
        topic: the lesson's topic, the prefix of every ``grade_id`` (e.g. ``"self_attention"``).
    """
    wanted: dict[int, dict] = {}
    for exercise in exercises(nb):
        if exercise.check is None:
            raise ValueError(f"{topic}: the exercise {exercise.title!r} (cell {exercise.cell}) has no check cell "
                             "after it.")
        grade_id = f"{topic}-{exercise.name}"
        if grade_id in {meta["grade_id"] for meta in wanted.values()}:
            raise ValueError(f"{topic}: two exercises define {exercise.name!r}; answer names must be unique in a "
                             "lesson.")
        wanted[exercise.cell] = {"grade": False, "grade_id": grade_id, "locked": False,
                                 "schema_version": SCHEMA_VERSION, "solution": True, "task": False}
        wanted[exercise.check] = {"grade": True, "grade_id": f"{grade_id}-check", "locked": True,
                                  "points": exercise.points, "schema_version": SCHEMA_VERSION, "solution": False,
                                  "task": False}
    return wanted


def apply_nbgrader_metadata(nb: nbformat.NotebookNode, topic: str) -> bool:
    """Give every cell the nbgrader metadata :func:`nbgrader_cell_metadata` wants (and no other cell any).

    Returns:
        Whether anything changed.
    """
    wanted = nbgrader_cell_metadata(nb, topic)
    changed = False
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader") != wanted.get(index):
            changed = True
            if index in wanted:
                cell.metadata["nbgrader"] = wanted[index]
            else:
                cell.metadata.pop("nbgrader")
    return changed
