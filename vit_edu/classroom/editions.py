"""Student editions of the lessons, made with nbgrader's own preprocessors.

An exercise cell wraps its answer in nbgrader's markers and the check cell after it wraps the
instructor's asserts in hidden-test markers::

    def my_num_patches(height, width, patch_size):      # exercise cell
        ### BEGIN SOLUTION
        return (height // patch_size) * (width // patch_size)
        ### END SOLUTION

    feedback = check_num_patches(my_num_patches)         # check cell
    ### BEGIN HIDDEN TESTS
    assert feedback.passed, feedback
    ### END HIDDEN TESTS
    feedback

The student edition keeps both cells; nbgrader's ``ClearSolutions`` turns the answer into
``# YOUR CODE HERE`` + ``raise NotImplementedError()``, ``ClearHiddenTests`` drops the asserts and
``ClearOutput`` the outputs, so the check shows "not done yet" instead of crashing. The same
notebooks work with nbgrader itself (``docs/for_teachers.md``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

from vit_edu.checks import check_output_path

LESSON_GLOB = "[0-9][0-9]_*.ipynb"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"


def default_source() -> Path:
    """The repository's ``notebooks/`` folder (the package is installed editable from the repository)."""
    source = Path(__file__).resolve().parents[2] / "notebooks"
    if not source.is_dir():
        raise ValueError(f"no lessons found at {source}: vit_edu is not installed from a clone of the repository; "
                         "pass source=PATH_TO/notebooks.")
    return source


def lesson_paths(source: str | Path | None = None, lessons: Iterable[str | int] | None = None) -> list[Path]:
    """The lesson notebooks ``NN_name.ipynb`` in ``source``, sorted; optionally only some of them.

    Args:
        source: folder of the lessons (default: the repository's ``notebooks/``).
        lessons: lesson numbers or names to keep, e.g. ``[1, "03", "05_parameter_count"]``; ``None`` keeps all.
    """
    folder = default_source() if source is None else Path(source)
    if not folder.is_dir():
        raise ValueError(f"source={str(folder)!r} is not a folder; pass the folder that holds NN_name.ipynb lessons.")
    paths = sorted(folder.glob(LESSON_GLOB))
    if not paths:
        raise ValueError(f"source={str(folder)!r} holds no lessons named like {LESSON_GLOB!r}.")
    if lessons is None:
        return paths
    if isinstance(lessons, (str, int)):
        lessons = [lessons]
    lessons = list(lessons)
    if not lessons:
        raise ValueError("lessons is empty; give lesson numbers or names such as ['01', '03'] (on the command line "
                         "--lessons 01,03), or leave it out for all lessons.")
    chosen = []
    for lesson in lessons:
        if isinstance(lesson, bool) or not isinstance(lesson, (str, int)):
            raise TypeError(f"lessons must hold lesson numbers or names such as 1 or '01_patching', got {lesson!r}.")
        key = f"{lesson:02d}" if isinstance(lesson, int) else str(lesson).strip().removesuffix(".ipynb")
        if key.isdigit():
            key = key.zfill(2)  # "1" means lesson 01, as the int 1 does
        matches = [path for path in paths if path.stem == key or path.stem[:2] == key]
        if not matches:
            raise ValueError(f"lessons: no lesson {lesson!r} in {folder}; choose from {[p.stem for p in paths]}.")
        chosen.extend(match for match in matches if match not in chosen)
    return chosen


def exercise_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the code cells that hold an exercise (an nbgrader solution region)."""
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and BEGIN_SOLUTION in cell.source]


def check_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the check cells: the first code cell after each exercise cell."""
    checks = []
    for index in exercise_cells(nb):
        following = [j for j in range(index + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"]
        if following and following[0] not in checks:
            checks.append(following[0])
    return checks


def unhidden_asserts(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """``(cell index, line)`` of ``assert`` lines in check cells that are outside hidden-test markers.

    Such asserts stay in the student edition and fail there on an unfinished exercise.
    """
    found = []
    for index in check_cells(nb):
        hidden = False
        for line in nb.cells[index].source.splitlines():
            stripped = line.strip()
            if stripped.startswith(BEGIN_HIDDEN_TESTS):
                hidden = True
            elif stripped.startswith("### END HIDDEN TESTS"):
                hidden = False
            elif not hidden and re.match(r"assert\b", stripped):
                found.append((index, stripped))
    return found


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an instructor notebook with solutions, hidden tests, outputs and widget state removed."""
    from nbconvert.exporters import NotebookExporter
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    exporter = NotebookExporter()
    for preprocessor in (ClearSolutions(enforce_metadata=False), ClearHiddenTests(enforce_metadata=False),
                         ClearOutput()):
        exporter.register_preprocessor(preprocessor, enabled=True)
    body, _ = exporter.from_notebook_node(copy.deepcopy(nb))
    student = nbformat.reads(body, as_version=4)
    student.metadata.pop("widgets", None)  # the state of widgets whose outputs were just cleared
    for cell in student.cells:
        cell.metadata.pop("execution", None)  # run timestamps
    return student


def _check_targets(targets: list[Path], overwrite: bool) -> None:
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} file(s) would be overwritten, e.g. {existing[0]}; "
                              "pass overwrite=True (--force on the command line) or choose another folder.")


def write_student_notebooks(outdir: str | Path, source: str | Path | None = None, overwrite: bool = False,
                            lessons: Iterable[str | int] | None = None) -> list[Path]:
    """Write the student edition of every lesson (or of ``lessons``) to ``outdir``.

    Args:
        outdir: folder to write ``NN_name.ipynb`` files to (created if missing); not the source folder.
        source: folder of the instructor lessons (default: the repository's ``notebooks/``).
        overwrite: replace files that already exist in ``outdir``.
        lessons: lesson numbers or names (default: all).

    Returns:
        The paths written, in lesson order.
    """
    paths = lesson_paths(source, lessons)
    outdir = check_output_path(outdir, "outdir", folder=True)
    if outdir.resolve() == paths[0].parent.resolve():
        raise ValueError(f"outdir={str(outdir)!r} is the lessons' own folder; choose another folder for the "
                         "student editions so that the instructor notebooks stay as they are.")
    targets = [outdir / path.name for path in paths]
    _check_targets(targets, overwrite)
    outdir.mkdir(parents=True, exist_ok=True)
    for path, target in zip(paths, targets):
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
    return targets
