"""The student edition in a real JupyterLab: the README's course command lands here, so its exercises
must be open and their checks must say "not done yet" while every other cell runs."""

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from support.browser import find_chromium, watch_offline

from vit_edu.course.anatomy import exercises

ROOT = Path(__file__).resolve().parents[2]
LESSON = "01_patching.ipynb"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None and not os.environ.get("CI"),
                       reason="Chromium is not installed (apt-get install -y chromium); CI installs it, never skips"),
]


def test_the_patching_lesson_opens_unsolved_and_its_first_check_says_not_done(tmp_path):
    from support.browser import chromium
    from support.jupyterlab import CELLS_JS, JupyterLabServer, cell_output, open_notebook, run_each_cell

    instructor = nbformat.read(ROOT / "notebooks" / LESSON, as_version=4)
    first = exercises(instructor)[0]
    solution = instructor.cells[first.cell].source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    shutil.copy(ROOT / "student_edition" / LESSON, tmp_path / LESSON)
    with JupyterLabServer(tmp_path) as server, chromium(viewport=(1400, 1000)) as context:
        page = context.new_page()
        log = watch_offline(page)
        open_notebook(page, server, LESSON)
        opened = page.evaluate(CELLS_JS)
        answer = opened[first.cell]["source"]
        assert "raise NotImplementedError()" in answer and solution.strip() not in answer
        assert all(cell["executionCount"] is None for cell in opened if cell["type"] == "code"), "outputs stored"
        cells = run_each_cell(page)
        check_text = cell_output(page, cells[first.check]["source"].splitlines()[0]).inner_text()
        page.close()
    assert "not done yet" in check_text, check_text
    assert "BEGIN HIDDEN TESTS" not in cells[first.check]["source"]
    raised = [i for i, cell in enumerate(cells) if cell["errors"]]
    assert first.cell in raised
    assert set(raised) <= {exercise.cell for exercise in exercises(instructor)}, [cells[i]["errors"] for i in raised]
    # JupyterLab asks for a markdown attachment's attachment: URL once before it resolves it (a console
    # message only), as in the widget browser tests: what must not happen is a page error or a blocked request.
    assert log.page_errors == [] and log.blocked_requests == [], log.problems
