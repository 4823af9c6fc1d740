"""Write the generated parts of the course from their one source: lesson headers, term tables, course maps.

- every lesson's **header card** (first cell, tagged ``header``: title, "you are here" strip, paper
  sections, study and run time) from ``vit_edu/course/catalogue.toml`` and the measured run times
  (``benchmarks/results/notebook_portability.json``, natively);
- every lesson's **term table** (tagged ``terms``) and the index's **glossary** (tagged ``glossary``)
  from ``vit_edu/course/glossary.toml``;
- the **course map** in the index (tagged ``course-map``) and in ``README.md``, and the **session plan**
  and the **exercise list** in ``docs/for_teachers.md`` (each between ``<!-- course-map -->`` /
  ``<!-- session-plan -->`` / ``<!-- exercises -->`` and ``<!-- end -->`` markers);
- every lesson's **nbgrader cell metadata** (answer and check cells, ``grade_id``, points) from its
  exercises (``vit_edu.classroom.grading``), so nbgrader grades the lessons with no marking by hand;
- every progress bar in a lesson's stored outputs kept as the one line it ends as
  (``vit_edu.training.progress.collapse_redrawn_output``), as JupyterLab shows it;
- the **student edition** in ``student_edition/``: every lesson with its exercises open, hidden tests
  and outputs removed (``vit_edu.classroom.editions``); the README's course command opens it;
- the same for the **Chinese edition** (``notebooks/zh``, built by ``scripts/chinese_edition.py``): its
  header cards, term tables, index, progress bars and ``student_edition/zh/``, and the course map of
  ``README.zh.md``.

    python scripts/sync_lessons.py           # rewrite what differs
    python scripts/sync_lessons.py --check   # only report it (exit 1 if anything differs)

Only those cells, blocks, metadata and progress outputs change: code and other outputs are left as they
are, so no lesson needs re-executing. ``tests/course/test_catalogue.py`` and ``tests/course/test_glossary.py``
run the check.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path

import nbformat

from vit_edu.classroom.editions import lesson_paths, student_notebook
from vit_edu.classroom.grading import apply_nbgrader_metadata
from vit_edu.course.anatomy import exercises, open_experiments
from vit_edu.course.catalogue import (
    STRIP_NAME,
    architecture_caption,
    course_map,
    header_markdown,
    load_catalogue,
    session_plan,
)
from vit_edu.course.glossary import glossary_table, term_table
from vit_edu.training.progress import collapse_redrawn_output
from vit_edu.viz.architecture import architecture_figure, architecture_strip
from vit_edu.viz.render import figure_to_png

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHINESE = NOTEBOOKS / "zh"
INDEX = NOTEBOOKS / "00_index.ipynb"
STUDENT_EDITION = ROOT / "student_edition"
RUN_TIMES = ROOT / "benchmarks" / "results" / "notebook_portability.json"
DOCUMENTS = {ROOT / "README.md": [("course-map", "notebooks/")],
             ROOT / "README.zh.md": [("course-map-zh", "notebooks/zh/")],
             ROOT / "docs" / "for_teachers.md": [("session-plan", ""), ("exercises", "../notebooks/")]}
WHEN = {"prediction": "in class, before running the cell that answers it",
        "exercise": "in class after the section it practises, or as homework"}


def run_seconds() -> dict[str, float]:
    """topic -> the lesson's measured nbval run time on this project's reference machine (native kernels)."""
    native = json.loads(RUN_TIMES.read_text(encoding="utf-8"))["results"]["native"]
    return {re.sub(r"^\d\d_", "", stem): entry["seconds"] for stem, entry in native.items()}


def png_attachment(name: str, figure) -> dict:
    return {name: {"image/png": base64.b64encode(figure_to_png(figure)).decode("ascii")}}


def expected_cells() -> dict[Path, dict[str, tuple[str, dict | None]]]:
    """file -> {tag: (the markdown that cell must hold, its attachments or None)}."""
    seconds = run_seconds()
    cells: dict[Path, dict[str, tuple[str, dict | None]]] = {}
    for lesson in load_catalogue():
        cells[NOTEBOOKS / lesson.filename] = {
            "header": (header_markdown(lesson, seconds), png_attachment(STRIP_NAME, architecture_strip(lesson.stages))),
            "terms": (term_table(lesson.topic), None),
        }
    labels = {lesson.topic: f"[{lesson.label}]({lesson.filename})" for lesson in load_catalogue()}
    architecture = png_attachment("vit.png", architecture_figure())
    cells[INDEX] = {"architecture": (architecture_caption(), architecture),
                    "course-map": (course_map(seconds), None), "glossary": (glossary_table(labels), None)}
    # The Chinese edition (vit_edu.course.translation): the same cells in Chinese, once it is built.
    for lesson in load_catalogue():
        if (CHINESE / lesson.filename).is_file():
            cells[CHINESE / lesson.filename] = {
                "header": (header_markdown(lesson, seconds, "zh"), cells[NOTEBOOKS / lesson.filename]["header"][1]),
                "terms": (term_table(lesson.topic, "zh"), None),
            }
    if (CHINESE / INDEX.name).is_file():
        cells[CHINESE / INDEX.name] = {"architecture": (architecture_caption("zh"), architecture),
                                       "course-map": (course_map(seconds, language="zh"), None),
                                       "glossary": (glossary_table(labels, "zh"), None)}
    return cells


def exercise_list(link_prefix: str = "") -> str:
    """Every graded exercise of the course with its kind, points and when to assign it, and the open
    experiments (not graded), lesson by lesson: read from the lessons themselves."""
    rows = ["| lesson | session | exercise | kind | points | when to assign |", "|---|---|---|---|---|---|"]
    total = 0
    for lesson in load_catalogue():
        nb = nbformat.read(NOTEBOOKS / lesson.filename, as_version=4)
        link = f"[{lesson.label}]({link_prefix}{lesson.filename})"
        for exercise in exercises(nb):
            kind = "predict, then run" if exercise.kind == "prediction" else "write code (checked)"
            rows.append(f"| {link} | {lesson.session} | {exercise.title} | {kind} | {exercise.points} | "
                        f"{WHEN[exercise.kind]} |")
            total += exercise.points
        for title in open_experiments(nb):
            rows.append(f"| {link} | {lesson.session} | {title} | open experiment (not graded) | – | "
                        "homework or a class discussion |")
    rows += ["", f"Points in all: {total}. Points come with the cells' nbgrader metadata (a written and "
                 "checked function 2, a committed prediction 1), written by `python scripts/sync_lessons.py`."]
    return "\n".join(rows)


def expected_blocks() -> dict[Path, list[tuple[str, str]]]:
    """document -> [(marker name, the text between its markers)]."""
    seconds = run_seconds()
    texts = {"course-map": lambda prefix: course_map(seconds, prefix),
             "course-map-zh": lambda prefix: course_map(seconds, prefix, language="zh"),
             "session-plan": lambda prefix: session_plan(), "exercises": exercise_list}
    return {path: [(marker, texts[marker](prefix)) for marker, prefix in blocks] for path, blocks in DOCUMENTS.items()}


def student_editions(source: Path, target: Path) -> dict[Path, str]:
    """target/NN_name.ipynb -> the text it must hold: the instructor lesson in ``source`` with exercises open."""
    return {target / path.name: nbformat.writes(student_notebook(nbformat.read(path, as_version=4))) + "\n"
            for path in lesson_paths(source)}


def sync_student_editions(check: bool, source: Path = NOTEBOOKS, target: Path = STUDENT_EDITION) -> list[str]:
    """Write (or with ``check`` only compare) the student edition of ``source`` in ``target``; returns what
    differed."""
    wanted = student_editions(source, target)
    stale = [path for path in sorted(target.glob("[0-9][0-9]_*.ipynb")) if path not in wanted]
    differ = [path for path, text in wanted.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if not check:
        target.mkdir(exist_ok=True)
        for path in differ:
            path.write_text(wanted[path], encoding="utf-8")
        for path in stale:  # a lesson that was renamed or removed: its generated copy goes too
            path.unlink()
    return [str(path.relative_to(ROOT)) + (" (no such lesson)" if path in stale else "") for path in differ + stale]


def _block(marker: str) -> re.Pattern:
    return re.compile(rf"(<!-- {marker} -->\n)(.*?)(\n<!-- end -->)", re.S)


def tagged(notebook, tag: str) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "markdown" and tag in cell.metadata.get("tags", [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="report what differs, change nothing")
    args = parser.parse_args(argv)
    stale = []
    topics = {NOTEBOOKS / lesson.filename: lesson.topic for lesson in load_catalogue()}
    for path, wanted in expected_cells().items():
        notebook = nbformat.read(path, as_version=4)
        changed = False
        if path in topics and apply_nbgrader_metadata(notebook, topics[path]):
            stale.append(f"{path.name} (nbgrader metadata)")
            changed = True
        if collapse_redrawn_output(notebook):
            stale.append(f"{path.name} (progress bars stored as their last line)")
            changed = True
        for tag, (text, attachments) in wanted.items():
            cells = tagged(notebook, tag)
            if len(cells) != 1:
                print(f"{path.name}: needs exactly one markdown cell tagged {tag!r}, found {len(cells)}.",
                      file=sys.stderr)
                return 2
            cell = cells[0]
            if cell.source != text or (attachments is not None and cell.get("attachments") != attachments):
                stale.append(f"{path.name} ({tag})")
                cell.source, changed = text, True
                if attachments is not None:
                    cell["attachments"] = attachments
        if changed and not args.check:
            nbformat.write(notebook, path)
    for path, blocks in expected_blocks().items():
        for marker, text in blocks:
            document = path.read_text(encoding="utf-8")
            match = _block(marker).search(document)
            if match is None:
                print(f"{path.name}: needs the markers <!-- {marker} --> ... <!-- end -->.", file=sys.stderr)
                return 2
            if match.group(2) != text:
                stale.append(f"{path.name} ({marker})")
                if not args.check:
                    path.write_text(document[:match.start(2)] + text + document[match.end(2):], encoding="utf-8")
    stale += sync_student_editions(args.check)
    if CHINESE.is_dir() and list(CHINESE.glob("[0-9][0-9]_*.ipynb")):
        stale += sync_student_editions(args.check, CHINESE, STUDENT_EDITION / "zh")
    for name in stale:
        print(("differs: " if args.check else "rewrote: ") + name)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as error:  # a lesson that breaks the rhythm the generated parts rely on
        print(f"sync_lessons: {error}", file=sys.stderr)
        sys.exit(2)
