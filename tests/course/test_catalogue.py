"""The course's one source of lesson facts: headers, course maps and session plan agree with catalogue.toml."""

import base64
import io
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
from matplotlib.image import imread
from support.scripts import load_script

from vit_edu.course.catalogue import course_map, format_run_time, header_markdown, lesson, load_catalogue

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def pixels(encoded):
    return imread(io.BytesIO(base64.b64decode(encoded)))


def test_the_lesson_files_are_the_catalogue_in_its_order():
    files = sorted(path.name for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if path.stem != "00_index")
    assert files == [entry.filename for entry in load_catalogue()]
    assert [entry.number for entry in load_catalogue()] == list(range(1, len(files) + 1))


def test_generated_cells_and_documents_agree_with_their_sources():
    script = load_script("sync_lessons")
    for path, cells in script.expected_cells().items():
        notebook = nbformat.read(path, as_version=4)
        for tag, (text, attachments) in cells.items():
            found = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
            assert len(found) == 1, f"{path.name}: one cell tagged {tag!r}"
            assert found[0].source == text, f"{path.name} ({tag}) is stale: run python scripts/sync_lessons.py"
            for name, data in (attachments or {}).items():
                stored = found[0].get("attachments", {}).get(name, {}).get("image/png")
                assert stored is not None, f"{path.name} ({tag}) lacks its picture {name}"
                drawn, kept = pixels(data["image/png"]), pixels(stored)
                # fonts may rasterise a little differently on another platform; the picture may not change
                assert drawn.shape == kept.shape and np.abs(drawn - kept).mean() < 0.01, f"{path.name}: {name}"
    for path, blocks in script.expected_blocks().items():
        document = path.read_text(encoding="utf-8")
        for marker, text in blocks:
            wanted = f"<!-- {marker} -->\n{text}\n<!-- end -->"
            assert wanted in document, f"{path.name} ({marker}): run scripts/sync_lessons.py"


def test_every_lesson_opens_the_same_way():
    for entry in load_catalogue():
        cells = nbformat.read(NOTEBOOKS / entry.filename, as_version=4).cells
        assert cells[0].metadata.get("tags") == ["header"], entry.filename
        assert cells[0].source.startswith(f"# Lesson {entry.label} — {entry.title}\n")
        assert cells[1].cell_type == "markdown" and cells[1].source.startswith("**Learning goals.**"), entry.filename
        assert "**Paper.**" in cells[1].source, entry.filename
        assert cells[2].metadata.get("tags") == ["terms"], entry.filename


def test_run_times_read_as_a_reader_wants_them():
    assert format_run_time(0.4) == "about 5 s"
    assert format_run_time(37.3) == "about 40 s"
    assert format_run_time(89.9) == "about 90 s"
    assert format_run_time(131) == "about 2.5 min"
    with pytest.raises(ValueError, match="finite"):
        format_run_time(math.nan)


def test_header_and_map_name_the_measured_time_and_refuse_a_missing_one():
    entry = lesson("self_attention")
    assert "**Run time:** about 10 s on 2 CPU cores" in header_markdown(entry, {"self_attention": 8.6})
    with pytest.raises(ValueError, match="no measured run time for lesson 'patching'"):
        course_map({})
    with pytest.raises(ValueError, match="no lesson 'nope'"):
        lesson("nope")


def _prose():
    """(where, text) of every lesson cell and course document a reader follows links in."""
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if "header" not in cell.metadata.get("tags", []):  # the header card is generated, with its number
                yield f"{path.name} cell {index}", cell.source
    for name in ("README.md", "docs/for_teachers.md"):
        yield name, (ROOT / name).read_text(encoding="utf-8")


def test_links_between_lessons_point_at_files_that_exist():
    import re

    lessons = {path.name for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    broken = [(where, name) for where, text in _prose() for name in re.findall(r"\b\d\d_\w+\.ipynb\b", text)
              if name not in lessons and not name.startswith("99_")]
    assert not broken, f"links to lessons that do not exist (renumbered?): {broken}"


def test_lessons_name_other_lessons_by_topic_not_by_number():
    import re

    numbered = [(where, match.group(0)) for where, text in _prose()
                for match in re.finditer(r"(?<![-\w])[Ll]essons? \d\d\b", text)]
    assert not numbered, f"numbers change when lessons move; name the lesson by its topic and link it: {numbered}"
