"""Rewrite every lesson's term table (markdown cell tagged ``terms``) and the index's glossary (tagged
``glossary``) from ``vit_edu/course/glossary.toml``, the one source of the course's term pairs.

    python scripts/update_term_tables.py           # rewrite the tables that differ
    python scripts/update_term_tables.py --check   # only report them (exit 1 if any)

Only those cells change; code cells and outputs are left as they are, so no lesson needs re-executing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from vit_edu.course.glossary import glossary_table, term_table

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
INDEX = "00_index"


def lessons() -> dict[str, Path]:
    """topic -> lesson file, from the file names ``NN_topic.ipynb`` (the index excluded)."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        if path.stem != INDEX:
            found[re.sub(r"^\d\d_", "", path.stem)] = path
    return found


def lesson_labels() -> dict[str, str]:
    """topic -> a link to the lesson, labelled with its number, for the index's glossary."""
    return {topic: f"[{path.stem[:2]}]({path.name})" for topic, path in lessons().items()}


def expected_cells() -> dict[Path, dict[str, str]]:
    """file -> {tag: the markdown that cell must hold}."""
    cells = {path: {"terms": term_table(topic)} for topic, path in lessons().items()}
    cells[NOTEBOOKS / f"{INDEX}.ipynb"] = {"glossary": glossary_table(lesson_labels())}
    return cells


def tagged(notebook, tag: str) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "markdown" and tag in cell.metadata.get("tags", [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="report differing tables, change nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, wanted in expected_cells().items():
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for tag, text in wanted.items():
            cells = tagged(notebook, tag)
            if len(cells) != 1:
                print(f"{path.name}: needs exactly one markdown cell tagged {tag!r}, found {len(cells)}; add one "
                      "after the lesson's header.", file=sys.stderr)
                return 2
            if cells[0].source != text:
                stale.append(f"{path.name} ({tag})")
                cells[0].source, changed = text, True
        if changed and not args.check:
            nbformat.write(notebook, path)
    for name in stale:
        print(("differs: " if args.check else "rewrote: ") + name)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
