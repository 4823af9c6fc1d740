"""The Chinese edition of the lessons: built from the English lessons and their translated text.

A Chinese lesson ``notebooks/zh/NN_name.ipynb`` is never edited by hand. It is the English lesson with

- every markdown cell replaced by its translation from ``notebooks/zh/text/NN_name.md``, except the
  cells the course generates (header card, term table, course map, glossary: see
  :data:`GENERATED_TAGS`), which ``scripts/sync_lessons.py`` writes in Chinese from the same sources;
- the same code cells, except the first one, which sets the language (:func:`language_cell`);
- the outputs of its own run (``notebooks/zh`` lessons are executed themselves).

The text file holds one block per translated cell, opened by a marker with the cell's id and a
fingerprint of the English text it translates::

    <!-- cell 9d1531f2 en 3f2a9c1b0d -->
    **学习目标。** 学完本课，你能够……

When the English cell changes, its fingerprint changes and :func:`build_chinese` reports the block as
stale, so a Chinese lesson cannot silently fall behind its English source.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

GENERATED_TAGS = ("header", "terms", "architecture", "course-map", "glossary")
LANGUAGE = "zh"
_MARKER = re.compile(r"^<!-- cell (\S+) en ([0-9a-f]{10}) -->[ \t]*$", re.M)
_SETUP = re.compile(r"setup_lesson\(([^()]*)\)")
_IMPORT = "import vit_edu\n"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
# What a translator leaves in Latin letters: math, code, links' targets, HTML tags, citations' names.
_NOT_PROSE = [re.compile(pattern, re.S) for pattern in (
    r"\$\$.*?\$\$", r"\$[^$\n]+\$", r"```.*?```", r"`[^`\n]+`", r"\]\([^)]*\)", r"<[^>\n]+>",
    r"\b[A-Z][a-z]+(?: (?:&|and) [A-Z][a-z]+| et al\.)?,? \(?\d{4}[a-z]?\)?")]


@dataclass(frozen=True)
class Translation:
    """One translated cell: the fingerprint of the English text it was made from, and the Chinese text."""

    english_fingerprint: str
    text: str


def fingerprint(text: str) -> str:
    """A short fingerprint of a cell's English text (the first 10 hex digits of its SHA-1)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def is_generated(cell) -> bool:
    return cell.cell_type == "markdown" and any(tag in GENERATED_TAGS for tag in cell.metadata.get("tags", []))


def translatable_cells(notebook) -> list:
    """The markdown cells a translator writes: all but the generated ones."""
    return [cell for cell in notebook.cells if cell.cell_type == "markdown" and not is_generated(cell)]


def block(cell) -> str:
    """A new block of a text file for ``cell``: its marker and its English text, to be translated."""
    return f"<!-- cell {cell.id} en {fingerprint(cell.source)} -->\n{cell.source}\n"


def parse_translations(text: str) -> dict[str, Translation]:
    """cell id -> :class:`Translation`, read from a lesson's text file."""
    markers = list(_MARKER.finditer(text))
    if text[:markers[0].start() if markers else len(text)].strip():
        raise ValueError("the translation file must start with a '<!-- cell ID en FINGERPRINT -->' marker.")
    found: dict[str, Translation] = {}
    for marker, following in zip(markers, [*markers[1:], None]):
        body = text[marker.end():following.start() if following else len(text)].strip("\n")
        if marker.group(1) in found:
            raise ValueError(f"cell {marker.group(1)} is translated twice.")
        found[marker.group(1)] = Translation(marker.group(2), body)
    return found


def language_cell(source: str) -> str:
    """The English lesson's first code cell as the Chinese lesson has it: it sets the language.

    A lesson's ``setup_lesson(...)`` call gets ``language="zh"``; the index, which has none, calls
    ``vit_edu.use_language("zh")`` after ``import vit_edu``.
    """
    if _SETUP.search(source):
        return _SETUP.sub(lambda m: f"setup_lesson({m.group(1)}{', ' if m.group(1).strip() else ''}"
                                    f"language={LANGUAGE!r})".replace("'", '"'), source, count=1)
    if _IMPORT in source:
        return source.replace(_IMPORT, f'{_IMPORT}vit_edu.use_language("{LANGUAGE}")\n', 1)
    raise ValueError("the lesson's first code cell neither calls setup_lesson(...) nor imports vit_edu, so the "
                     "Chinese edition has no cell to set its language in.")


def chinese_share(text: str) -> float:
    """Of the letters in ``text``'s prose (math, code, links, tags and citations left out), the share that
    are Chinese characters; 1.0 when there is no prose."""
    for pattern in _NOT_PROSE:
        text = pattern.sub(" ", text)
    chinese, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    return 1.0 if chinese + latin == 0 else chinese / (chinese + latin)


def build_chinese(english, translations: Mapping[str, Translation], previous=None) -> tuple[object, list[str]]:
    """The Chinese lesson for an English one, and what is missing or stale in its translations.

    Args:
        english: the English lesson (an nbformat notebook).
        translations: its cells' translations (:func:`parse_translations`).
        previous: the Chinese lesson as stored, or None. Its generated cells are kept, and so are the
            outputs of every code cell whose source did not change and its stored widget state, so a change
            to the text alone needs no re-run.

    Returns:
        ``(notebook, problems)``; ``problems`` names each cell whose translation is missing or stale and
        each translation whose cell is gone. Such a cell keeps its English text in ``notebook``.
    """
    result = copy.deepcopy(english)
    result.metadata["language_info"] = copy.deepcopy(english.metadata.get("language_info", {}))
    result.metadata["vit_edu"] = {"language": LANGUAGE}
    result.metadata.pop("widgets", None)  # the widget state of the Chinese lesson's own run, if any
    if previous is not None and "widgets" in previous.metadata:
        result.metadata["widgets"] = copy.deepcopy(previous.metadata["widgets"])
    old = {cell.id: cell for cell in previous.cells} if previous is not None else {}
    problems = []
    ids = {cell.id for cell in english.cells}
    first_code = next((cell.id for cell in english.cells if cell.cell_type == "code"), None)
    for cell in result.cells:
        stored = old.get(cell.id)
        if cell.cell_type == "code":
            if cell.id == first_code:
                cell.source = language_cell(cell.source)
            same = stored is not None and stored.cell_type == "code" and stored.source == cell.source
            cell.outputs = copy.deepcopy(stored.outputs) if same else []
            cell.execution_count = stored.execution_count if same else None
            cell.metadata.pop("execution", None)
            if same and "execution" in stored.metadata:
                cell.metadata["execution"] = copy.deepcopy(stored.metadata["execution"])
        elif is_generated(cell):
            if stored is not None and stored.cell_type == "markdown":
                cell.source = stored.source
                if "attachments" in stored:
                    cell["attachments"] = copy.deepcopy(stored["attachments"])
        elif cell.cell_type == "markdown":
            have = translations.get(cell.id)
            if have is None:
                problems.append(f"cell {cell.id}: no translation")
            elif have.english_fingerprint != fingerprint(cell.source):
                problems.append(f"cell {cell.id}: the English text changed since it was translated "
                                f"(fingerprint {have.english_fingerprint}, now {fingerprint(cell.source)})")
            else:
                cell.source = have.text
    problems += [f"cell {cell_id}: translated, but the English lesson has no such cell"
                 for cell_id in translations if cell_id not in ids]
    return result, problems


_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
_FENCE = re.compile(r"```.*?```", re.S)
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
_LINK = re.compile(r"\]\(([^)\s]*)\)")
_HEADING = re.compile(r"^(#{1,6})\s", re.M)


def _without_code(text: str) -> str:
    return _CODE.sub(" ", text)


def _inline_code(text: str) -> list[str]:
    return sorted(_CODE.findall(_FENCE.sub(" ", text)))


def structure_differences(english: str, chinese: str) -> list[str]:
    """What a translation changed that it must keep: the math, the inline code, the links' targets, the
    headings, the number of code blocks (a shell command in a block may point to the Chinese edition)."""
    problems = []
    parts = {
        "math": (sorted(_MATH.findall(_without_code(english))), sorted(_MATH.findall(_without_code(chinese)))),
        "inline code": (_inline_code(english), _inline_code(chinese)),
        "code blocks": ([len(_FENCE.findall(english))], [len(_FENCE.findall(chinese))]),
        "link targets": (sorted(_LINK.findall(english)), sorted(_LINK.findall(chinese))),
        "heading levels": (_HEADING.findall(_without_code(english)), _HEADING.findall(_without_code(chinese))),
    }
    for name, (wanted, found) in parts.items():
        if wanted != found:
            lost = [item for item in wanted if item not in found][:3]
            added = [item for item in found if item not in wanted][:3]
            problems.append(f"{name} differ from the English (missing {lost}, new {added})")
    return problems
