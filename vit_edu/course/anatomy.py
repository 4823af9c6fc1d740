"""What a lesson is made of: its reading load and its exercises, read from the notebook's cells.

The lessons follow one rhythm, and this module reads it back:

- a **Deep dive** is an expert detour a student may skip: a markdown cell whose first line is a
  heading ``### Deep dive: ...`` opens it (JupyterLab shows it collapsed, cell metadata
  ``jp-MarkdownHeadingCollapsed``) and it runs to the next heading of the same or a higher level;
  or, inside one markdown cell, ``<details><summary>Deep dive: ...</summary> ... </details>``;
- an **exercise** is a code cell holding an nbgrader solution region (``### BEGIN SOLUTION``) after
  a markdown heading that names its kind: ``Exercise`` (write code, checked), ``Predict, then run``
  (commit a guess, the next cell measures it); the code cell after it is its check;
- an **open experiment** is a markdown heading ``### Open experiment: ...``: a guided question with a
  cell to change and run, not graded.

:func:`markdown_words` counts the reading load (whitespace-separated words of markdown cells, Deep
dives left out); :func:`exercises` lists the graded exercises with their kind and points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat

BEGIN_SOLUTION = "### BEGIN SOLUTION"
DEEP_DIVE = "Deep dive"
POINTS = {"exercise": 2, "prediction": 1}  # a written and checked function; a committed guess
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_DETAILS = re.compile(r"<details>\s*<summary>(?:<b>)?\s*Deep dive.*?</details>", re.S | re.I)
_KINDS = ((re.compile(r"Predict, then run\b"), "prediction"), (re.compile(r"Exercise \d+:"), "exercise"))


def _headings(cell) -> list[tuple[int, str]]:
    """(level, text) of the markdown headings in a cell, outside code fences."""
    if cell.cell_type != "markdown":
        return []
    found, fenced = [], False
    for line in cell.source.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2).strip()))
    return found


def _heading(cell) -> tuple[int, str] | None:
    """The heading that opens a cell (its first line), if any."""
    headings = _headings(cell)
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return headings[0] if headings and _HEADING.match(first) else None


def deep_dive_cells(nb: nbformat.NotebookNode) -> set[int]:
    """Indices of the cells inside Deep-dive sections (the opening heading cell included)."""
    inside, level, found = False, 0, set()
    for index, cell in enumerate(nb.cells):
        heading = _heading(cell)
        if heading is not None:
            if inside and heading[0] <= level:
                inside = False
            if not inside and heading[1].startswith(DEEP_DIVE):
                inside, level = True, heading[0]
        if inside:
            found.add(index)
    return found


def markdown_words(nb: nbformat.NotebookNode) -> int:
    """Whitespace-separated words of the markdown cells, Deep dives left out."""
    skipped = deep_dive_cells(nb)
    return sum(len(_DETAILS.sub(" ", cell.source).split()) for index, cell in enumerate(nb.cells)
               if cell.cell_type == "markdown" and index not in skipped)


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its heading, kind (``"exercise"`` or ``"prediction"``), answer and check cells,
    the name its answer cell defines (the stable part of its nbgrader ``grade_id``) and its points."""

    title: str
    kind: str
    cell: int
    check: int | None
    name: str
    points: int


def _defined_name(source: str) -> str:
    match = re.search(r"^(?:def|class)\s+(\w+)|^(\w+)\s*=", source, re.M)
    if match is None:
        raise ValueError(f"an exercise cell must define a function or a variable; it holds {source[:80]!r}.")
    return match.group(1) or match.group(2)


def exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """The graded exercises of a lesson, in order, each with the heading above it."""
    found, title = [], None
    for index, cell in enumerate(nb.cells):
        for _, text in _headings(cell):
            title = text
        if cell.cell_type != "code" or BEGIN_SOLUTION not in cell.source:
            continue
        kinds = [kind for pattern, kind in _KINDS if title and pattern.match(title)]
        if not kinds:
            raise ValueError(f"cell {index} holds a solution but its heading {title!r} does not start with "
                             "'Exercise N:' or 'Predict, then run'.")
        following = [j for j in range(index + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"]
        found.append(Exercise(title, kinds[0], index, following[0] if following else None,
                              _defined_name(cell.source), POINTS[kinds[0]]))
    return found


def open_experiments(nb: nbformat.NotebookNode) -> list[str]:
    """The titles of the lesson's open experiments."""
    return [text for cell in nb.cells for _, text in _headings(cell) if text.startswith("Open experiment")]
