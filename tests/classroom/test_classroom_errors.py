"""``student-notebooks`` and ``export-html`` refuse bad output folders and lesson lists with a one-line error
before they write (or execute) anything: an empty ``--lessons`` used to write an empty site whose index.html
then blocked the next export."""

import tempfile

import nbformat
import pytest
from support.cli import run_here

from vit_edu.classroom.editions import lesson_paths, write_student_notebooks
from vit_edu.classroom.site import export_html


@pytest.fixture
def source(tmp_path):
    """Two tiny lessons, so that nothing here reads or runs the course's own notebooks."""
    folder = tmp_path / "lessons"
    folder.mkdir()
    for name in ("01_first", "02_second"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name}")])
        nbformat.write(nb, folder / f"{name}.ipynb")
    (tmp_path / "file.txt").write_text("user data")
    return folder




@pytest.mark.parametrize("command", ["student-notebooks", "export-html"])
@pytest.mark.parametrize("outdir, extra, fragment", [
    ("out", ("--lessons", ","), "lessons is empty; give lesson numbers or names"),
    ("out", ("--lessons", " "), "lessons is empty"),
    ("out", ("--lessons", "99"), "no lesson '99'"),
    ("out", ("--lessons", "01,nope"), "no lesson 'nope'"),
    ("file.txt", (), "file.txt is a file, not a folder"),
    ("file.txt/site", (), "cannot be written: "),
])
def test_bad_outdir_or_lessons_are_refused_before_writing(capsys, source, command, outdir, extra, fragment):
    root = source.parent
    code, stdout, err = run_here(capsys, command, root / outdir, "--source", source, *extra,
                                 *(("--no-execute",) if command == "export-html" else ()))
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
    assert stdout == ""
    assert sorted(p.name for p in root.iterdir()) == ["file.txt", "lessons"]  # nothing written


def test_unwritable_outdir_is_refused(capsys, source, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # a read-only folder, even for root
    for command in ("student-notebooks", "export-html"):
        code, _, err = run_here(capsys, command, source.parent / "out", "--source", source)
        assert code == 2 and "no file can be created in" in err and err.count("\n") == 1, err


def test_export_refuses_a_non_positive_timeout(capsys, source):
    code, _, err = run_here(capsys, "export-html", source.parent / "out", "--source", source, "--timeout", "0")
    assert code == 2 and "timeout must be a positive integer" in err


def test_lesson_numbers_match_with_or_without_a_leading_zero(source):
    assert [p.stem for p in lesson_paths(source, ["1"])] == ["01_first"]
    assert [p.stem for p in lesson_paths(source, [2, "01"])] == ["02_second", "01_first"]
    assert [p.stem for p in lesson_paths(source, "02_second.ipynb")] == ["02_second"]


@pytest.mark.parametrize("lessons, error, pattern", [
    ([], ValueError, "lessons is empty"),
    ((), ValueError, "lessons is empty"),
    ([True], TypeError, "lesson numbers or names"),
    ([1.0], TypeError, "lesson numbers or names"),
])
def test_lesson_lists_in_the_api(source, lessons, error, pattern):
    with pytest.raises(error, match=pattern):
        lesson_paths(source, lessons)
    with pytest.raises(error, match=pattern):
        write_student_notebooks(source.parent / "out", source=source, lessons=lessons)
    with pytest.raises(error, match=pattern):
        export_html(source.parent / "site", source=source, lessons=lessons, execute=False)
    assert not (source.parent / "out").exists() and not (source.parent / "site").exists()
