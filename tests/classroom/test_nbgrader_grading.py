"""nbgrader grades the lessons with no marking by hand: every answer and check cell carries its metadata.

The end-to-end test runs nbgrader's own ``generate_assignment`` and ``autograde`` in a temporary
course: the instructor edition (solutions in) must score full points, the unanswered student edition
zero, and both must be graded without nbgrader failing.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vit_edu.classroom.grading import apply_nbgrader_metadata, nbgrader_cell_metadata
from vit_edu.course.anatomy import POINTS, exercises
from vit_edu.course.catalogue import load_catalogue

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
GRADED_LESSON = "self_attention"  # about 10 s per run, three exercises


def cell(source, kind="code"):
    return nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)


def test_answer_and_check_cells_get_stable_ids_and_points():
    nb = nbformat.v4.new_notebook(cells=[
        cell("### Exercise 1: tokens\nHow many?", "markdown"),
        cell("def tokens(n):\n    ### BEGIN SOLUTION\n    return n + 1\n    ### END SOLUTION"),
        cell("feedback = check(tokens)"),
        cell("### Predict, then run: cost", "markdown"),
        cell("guess = None\n### BEGIN SOLUTION\nguess = 16\n### END SOLUTION"),
        cell("feedback = check_prediction(guess, 16, what='x')"),
        cell("print('not graded')"),
    ])
    wanted = nbgrader_cell_metadata(nb, "demo")
    assert sorted(wanted) == [1, 2, 4, 5]
    assert wanted[1]["solution"] and not wanted[1]["grade"] and wanted[1]["grade_id"] == "demo-tokens"
    assert wanted[2]["grade"] and wanted[2]["points"] == POINTS["exercise"]
    assert wanted[2]["grade_id"] == "demo-tokens-check"
    assert wanted[5]["points"] == POINTS["prediction"] and wanted[5]["locked"]
    nb.cells[6].metadata["nbgrader"] = {"grade": True}  # stale metadata on a cell that is no exercise
    assert apply_nbgrader_metadata(nb, "demo") and "nbgrader" not in nb.cells[6].metadata
    assert not apply_nbgrader_metadata(nb, "demo")


def test_ambiguous_exercises_are_refused():
    twice = nbformat.v4.new_notebook(cells=[
        cell("### Exercise 1: a", "markdown"), cell("x = None\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
        cell("check(x)"),
        cell("### Exercise 2: b", "markdown"), cell("x = None\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION"),
        cell("check(x)"),
    ])
    with pytest.raises(ValueError, match="unique"):
        nbgrader_cell_metadata(twice, "demo")
    no_check = nbformat.v4.new_notebook(cells=[cell("### Exercise 1: a", "markdown"),
                                               cell("x = None\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    with pytest.raises(ValueError, match="no check cell"):
        nbgrader_cell_metadata(no_check, "demo")
    unnamed = nbformat.v4.new_notebook(cells=[cell("## 7. Exercises", "markdown"),
                                              cell("x = None\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    with pytest.raises(ValueError, match="heading"):
        nbgrader_cell_metadata(unnamed, "demo")


@pytest.mark.parametrize("lesson", load_catalogue(), ids=lambda lesson: lesson.topic)
def test_every_lesson_carries_its_nbgrader_metadata(lesson):
    nb = nbformat.read(NOTEBOOKS / lesson.filename, as_version=4)
    assert exercises(nb), f"{lesson.filename} has no graded exercise"
    wanted = nbgrader_cell_metadata(nb, lesson.topic)
    found = {index: c.metadata["nbgrader"] for index, c in enumerate(nb.cells) if "nbgrader" in c.metadata}
    assert found == wanted, f"{lesson.filename}: run python scripts/sync_lessons.py"


def nbgrader(course: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_nbgrader_autograde_gives_the_instructor_full_points_and_an_empty_answer_zero(tmp_path):
    from nbgrader.api import Gradebook

    lesson = next(entry for entry in load_catalogue() if entry.topic == GRADED_LESSON)
    course = tmp_path / "course"
    (course / "source" / "lesson").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / lesson.filename, course / "source" / "lesson")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'vit_edu'\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.Execute.timeout = 300\n")
    nbgrader(course, "generate_assignment", "lesson")
    for student, edition in (("instructor", "source"), ("student", "release")):
        folder = course / "submitted" / student / "lesson"
        folder.mkdir(parents=True)
        shutil.copy(course / edition / "lesson" / lesson.filename, folder)
    nbgrader(course, "autograde", "lesson", "--create")

    points = sum(exercise.points for exercise in exercises(nbformat.read(NOTEBOOKS / lesson.filename, as_version=4)))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="vit_edu") as gradebook:
        instructor = gradebook.find_submission("lesson", "instructor")
        student = gradebook.find_submission("lesson", "student")
        assert instructor.max_score == points >= 3
        assert instructor.score == points, [(g.name, g.score) for n in instructor.notebooks for g in n.grades]
        assert student.score == 0, [(g.name, g.score) for n in student.notebooks for g in n.grades]
