"""A lesson's anatomy: reading load without Deep dives, graded exercises with kinds and points, and the
course-wide rhythm every lesson keeps (a prediction, a written exercise, an open experiment, student prose)."""

import re
from pathlib import Path

import nbformat
import pytest

from vit_edu.course.anatomy import POINTS, deep_dive_cells, exercises, markdown_words, open_experiments
from vit_edu.course.catalogue import load_catalogue

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WORD_TARGETS = {"inductive_bias": 2000}  # lessons that were walls of text, with the target they must keep


def md(source):
    return nbformat.v4.new_markdown_cell(source)


def code(source):
    return nbformat.v4.new_code_cell(source)


def test_words_leave_out_deep_dives_of_both_forms():
    nb = nbformat.v4.new_notebook(cells=[
        md("## 1. Idea\n\none two three"),
        md("### Deep dive: the gap\n\nfour five"), code("x = 1"), md("more detail here"),
        md("### Back in the main text\n\nsix"),
        md("seven <details><summary>Deep dive: aside</summary>\n\nhidden words here\n\n</details> eight"),
        md("## 2. Next\n\n<details><summary>What to look for</summary> a hint </details>"),
    ])
    assert deep_dive_cells(nb) == {1, 2, 3}
    # 1: "## 1. Idea one two three" = 6; 4: "### Back in the main text six" = 7; 5: "seven eight" = 2; 6: 10
    assert markdown_words(nb) == 6 + 7 + 2 + 10


def test_a_deep_dive_ends_at_a_heading_of_its_level_or_higher():
    nb = nbformat.v4.new_notebook(cells=[md("## Deep dive: long"), md("### inside\n\nwords"), md("## out")])
    assert deep_dive_cells(nb) == {0, 1}


def test_exercises_are_read_with_their_kind_name_check_and_points():
    nb = nbformat.v4.new_notebook(cells=[
        md("## 7. Exercises\n\n### Exercise 1: count\n\nHow many?"),
        code("def count(n):\n    ### BEGIN SOLUTION\n    return n\n    ### END SOLUTION"), code("check(count)"),
        md("### Predict, then run: cost"), code("guess = None\n### BEGIN SOLUTION\nguess = 4\n### END SOLUTION"),
        code("check_prediction(guess, 4, what='x')"),
        md("### Open experiment: change P\n\nWhat happens?"), code("P = 4"),
    ])
    found = exercises(nb)
    assert [(e.kind, e.name, e.cell, e.check, e.points) for e in found] == [
        ("exercise", "count", 1, 2, POINTS["exercise"]), ("prediction", "guess", 4, 5, POINTS["prediction"])]
    assert found[0].title == "Exercise 1: count"
    assert open_experiments(nb) == ["Open experiment: change P"]


def test_a_solution_without_a_named_heading_is_refused():
    nb = nbformat.v4.new_notebook(cells=[md("## Exercises"), code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    with pytest.raises(ValueError, match="heading"):
        exercises(nb)


LESSONS = load_catalogue()


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.topic)
def test_every_lesson_asks_for_a_prediction_code_and_an_open_experiment(lesson):
    nb = nbformat.read(NOTEBOOKS / lesson.filename, as_version=4)
    kinds = [exercise.kind for exercise in exercises(nb)]
    assert "prediction" in kinds, f"{lesson.filename} has no 'Predict, then run' question"
    assert "exercise" in kinds, f"{lesson.filename} has no written exercise"
    assert open_experiments(nb), f"{lesson.filename} has no open experiment"
    numbers = [int(m.group(1)) for cell in nb.cells if cell.cell_type == "markdown"
               for m in re.finditer(r"^#+ Exercise (\d+):", cell.source, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)), f"{lesson.filename}: exercises numbered {numbers}"


@pytest.mark.parametrize("topic", sorted(WORD_TARGETS))
def test_wall_of_text_lessons_keep_their_word_target(topic):
    [lesson] = [entry for entry in LESSONS if entry.topic == topic]
    words = markdown_words(nbformat.read(NOTEBOOKS / lesson.filename, as_version=4))
    assert words <= WORD_TARGETS[topic], f"{lesson.filename}: {words} words of markdown outside Deep dives"


MAINTAINER_WORDS = re.compile(r"\bnbval\b|bit-identical|\bthreads?\b|in a prototype|\bNBVAL|sanitiz",
                              re.I)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.topic)
def test_lesson_prose_speaks_to_students(lesson):
    nb = nbformat.read(NOTEBOOKS / lesson.filename, as_version=4)
    found = [(index, match.group(0)) for index, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
             for match in MAINTAINER_WORDS.finditer(cell.source)]
    assert not found, f"{lesson.filename}: test plumbing in the prose {found}"


MAX_CELL_LINES = 30  # a code cell fits on a laptop screen in JupyterLab
# Pictographs and dingbats (emoji, check marks) render as empty boxes where no emoji font is installed.
MISSING_GLYPHS = re.compile("[\u2600-\u27bf\U0001f300-\U0001faff]")


def test_the_glyph_rule_finds_emoji_and_check_marks():
    assert MISSING_GLYPHS.search("done \u2705") and MISSING_GLYPHS.search("\u2713 yes")
    assert not MISSING_GLYPHS.search("N = HW / P² tokens, 98.2 %, x → y, Zürich")


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda path: path.stem)
def test_lesson_cells_fit_on_a_screen_and_use_common_glyphs(path):
    nb = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    long = {index: len(cell.source.splitlines()) for index, cell in enumerate(code_cells)
            if len(cell.source.splitlines()) > MAX_CELL_LINES}
    assert not long, f"code cells (numbered from 0) longer than {MAX_CELL_LINES} lines: {long}"
    shown = [cell.source for cell in nb.cells]
    for cell in code_cells:
        for output in cell.get("outputs", []):
            shown.append(output.get("text", ""))
            shown += [value for key, value in output.get("data", {}).items() if key.startswith("text/")]
    odd = sorted({match for text in shown for match in MISSING_GLYPHS.findall(str(text))})
    assert not odd, f"{path.stem} shows characters many fonts lack: {odd}"
