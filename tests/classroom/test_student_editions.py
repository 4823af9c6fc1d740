"""Student editions: solutions and hidden tests removed by nbgrader's preprocessors, outputs cleared.

Every lesson is checked statically (cheap); one lesson is executed as a student would get it, to
prove that the unfinished exercises report "not done yet" and everything else still runs.
"""

import hashlib
from pathlib import Path

import nbformat
import pytest

from vit_edu.__main__ import main
from vit_edu.classroom.editions import (
    check_cells,
    exercise_cells,
    lesson_paths,
    student_notebook,
    unhidden_asserts,
    write_student_notebooks,
)

pytestmark = pytest.mark.slow  # runs nbgrader's preprocessors over every lesson

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
EXECUTED_LESSON = "01_patching"  # three exercises, about 10 s: enough to prove the mechanism


def solution_lines(source: str) -> list[str]:
    """The non-blank lines between the solution markers (written here, independently of nbgrader)."""
    lines, inside = [], False
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line)
    return lines


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_student_edition_clears_solutions_outputs_and_nothing_else(path):
    instructor = nbformat.read(path, as_version=4)
    student = student_notebook(instructor)
    assert len(student.cells) == len(instructor.cells)
    exercises = exercise_cells(instructor)
    checks = check_cells(instructor)
    for index, (before, after) in enumerate(zip(instructor.cells, student.cells)):
        assert after.cell_type == before.cell_type
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None, f"cell {index} keeps outputs"
        assert "### BEGIN" not in after.source and "### END" not in after.source, f"cell {index} keeps a marker"
        if index in exercises:
            assert "raise NotImplementedError" in after.source, f"cell {index}"
            assert after.source.splitlines()[0] == before.source.splitlines()[0]  # the def line stays
            kept = [line for line in solution_lines(before.source) if line in after.source.splitlines()]
            assert not kept, f"cell {index} keeps solution lines {kept}"
        elif index not in checks:
            assert after.source == before.source, f"cell {index} changed"
    assert "widgets" not in student.metadata
    if any("BEGIN SOLUTION" in cell.source for cell in instructor.cells):
        assert exercises, "solution markers outside code cells"


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_check_cells_keep_their_asserts_hidden(path):
    # An assert outside `### BEGIN HIDDEN TESTS` stays in the student edition and crashes there.
    nb = nbformat.read(path, as_version=4)
    found = unhidden_asserts(nb)
    assert not found, (f"{path.name}: check cells assert outside ### BEGIN/END HIDDEN TESTS markers "
                       f"(cell index, line): {found}")


def test_unhidden_assert_detector_finds_them():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
                nbformat.v4.new_code_cell("fb = check(f)\nassert fb.passed\n### BEGIN HIDDEN TESTS\n"
                                          "assert fb.passed, fb\n### END HIDDEN TESTS\nfb")]
    assert unhidden_asserts(nb) == [(1, "assert fb.passed")]
    assert exercise_cells(nb) == [0] and check_cells(nb) == [1]


def test_executed_student_edition_reports_not_done_and_runs_the_rest(tmp_path):
    from nbclient import NotebookClient

    source = NOTEBOOKS / f"{EXECUTED_LESSON}.ipynb"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    [written] = write_student_notebooks(tmp_path / "students", lessons=[EXECUTED_LESSON])
    instructor = nbformat.read(source, as_version=4)
    exercises, checks = exercise_cells(instructor), check_cells(instructor)  # the student copy lost the markers
    nb = nbformat.read(written, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    assert len(exercises) >= 2
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        assert cell.execution_count is not None, f"cell {index} did not run"
        if index not in exercises:  # only an exercise cell itself may fail; checks and later cells must run
            assert not errors, f"cell {index} crashed in the student edition: {errors}"
    for index in checks:
        text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                       for o in nb.cells[index].outputs)
        assert "not done yet" in text and "NotImplementedError" in text, f"check cell {index} says {text!r}"
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest  # the instructor edition is untouched


def test_write_student_notebooks_guards_files(tmp_path):
    first = lesson_paths()[0]
    [written] = write_student_notebooks(tmp_path, lessons=[first.stem])
    assert written == tmp_path / first.name
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_student_notebooks(tmp_path, lessons=[first.stem])
    written.write_text("{}")
    write_student_notebooks(tmp_path, lessons=[first.stem], overwrite=True)
    assert nbformat.read(written, as_version=4).cells
    with pytest.raises(ValueError, match="lessons' own folder"):
        write_student_notebooks(NOTEBOOKS, overwrite=True)
    with pytest.raises(ValueError, match="no lesson 'nope'"):
        write_student_notebooks(tmp_path, lessons=["nope"])
    with pytest.raises(ValueError, match="not a folder"):
        write_student_notebooks(tmp_path, source=tmp_path / "missing")


def test_command_line_writes_every_lesson(tmp_path, capsys):
    assert main(["student-notebooks", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in LESSONS]
    assert str(len(LESSONS)) in capsys.readouterr().out
    assert main(["student-notebooks", str(tmp_path / "out")]) == 2  # exists: refused without --force
    assert "--force" in capsys.readouterr().err
    assert main(["student-notebooks", str(tmp_path / "out"), "--force", "--lessons", LESSONS[0].stem[:2]]) == 0


def test_the_committed_student_edition_is_a_fresh_generation():
    from support.scripts import load_script

    differ = load_script("sync_lessons").sync_student_editions(check=True)
    assert differ == [], f"stale student edition {differ}: run python scripts/sync_lessons.py"
