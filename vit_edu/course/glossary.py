"""The course's English-Chinese glossary: one data file, every lesson's term table drawn from it.

The term pairs live in ``vit_edu/course/glossary.toml``, one ``[[term]]`` each: the English term, its
Chinese term, a one-line meaning, the lessons (by topic, e.g. ``"patching"``) whose table shows it
and an optional note on a common mistranslation, and the meaning and note in Chinese
(``meaning_zh``, ``note_zh``) for the Chinese lessons' tables. Each lesson shows :func:`term_table` of its topic in a
markdown cell tagged ``terms``, the course index shows :func:`glossary_table`;
``python scripts/sync_lessons.py`` rewrites those cells and ``tests/course/test_glossary.py``
fails when a lesson's table and the glossary disagree.

    from vit_edu.course.glossary import load_glossary, term_table
    table = term_table("patching")  # markdown: English, 中文, meaning
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from vit_edu.language import current_language, speaking, tr


@dataclass(frozen=True)
class Term:
    """One glossary entry: English and Chinese term, meaning, the lessons that use it, an optional note."""

    en: str
    zh: str
    meaning: str
    lessons: tuple[str, ...]
    note: str = ""
    meaning_zh: str = ""
    note_zh: str = ""


def _term(index: int, entry: object) -> Term:
    if not isinstance(entry, dict):
        raise ValueError(f"glossary.toml: term {index} must be a table, got {entry!r}.")
    unknown = sorted(set(entry) - {"en", "zh", "meaning", "meaning_zh", "lessons", "note", "note_zh"})
    missing = [key for key in ("en", "zh", "meaning", "meaning_zh", "lessons") if key not in entry]
    if "note" in entry and "note_zh" not in entry:
        missing.append("note_zh")
    if unknown or missing:
        raise ValueError(f"glossary.toml: term {index} ({entry.get('en', '?')}) has unknown keys {unknown} "
                         f"or lacks {missing}.")
    lessons = entry["lessons"]
    if not isinstance(lessons, list) or not lessons or not all(isinstance(topic, str) for topic in lessons):
        raise ValueError(f"glossary.toml: term {entry['en']!r} must list its lessons' topics, e.g. ['patching'].")
    return Term(entry["en"], entry["zh"], entry["meaning"], tuple(lessons), entry.get("note", ""),
                entry["meaning_zh"], entry.get("note_zh", ""))


@functools.cache
def load_glossary() -> tuple[Term, ...]:
    """Every term of ``glossary.toml``, in the file's order (checked: no English term twice)."""
    text = (resources.files("vit_edu.course") / "glossary.toml").read_text(encoding="utf-8")
    terms = tuple(_term(index, entry) for index, entry in enumerate(tomllib.loads(text).get("term", [])))
    seen: set[str] = set()
    for term in terms:
        if term.en in seen:
            raise ValueError(f"glossary.toml: {term.en!r} appears twice; keep one entry and list all its lessons.")
        seen.add(term.en)
    return terms


def lesson_terms(topic: str) -> list[Term]:
    """The terms whose table includes lesson ``topic`` (e.g. ``"transfer"``), in the glossary's order."""
    terms = [term for term in load_glossary() if topic in term.lessons]
    if not terms:
        topics = sorted({topic for term in load_glossary() for topic in term.lessons})
        raise ValueError(f"no glossary term belongs to lesson {topic!r}; the lessons with terms are {topics}.")
    return terms


def _row(term: Term) -> str:
    """The term's cells in the current language: the reader's own language first, then the meaning (and the note)."""
    if current_language() == "zh":
        meaning = tr("{meaning} *({note})*", meaning=term.meaning_zh, note=term.note_zh) if term.note_zh \
            else term.meaning_zh
        return f"| {term.zh} | {term.en} | {meaning} |"
    meaning = tr("{meaning} *({note})*", meaning=term.meaning, note=term.note) if term.note else term.meaning
    return f"| {term.en} | {term.zh} | {meaning} |"


def term_table(topic: str, language: str = "en") -> str:
    """The markdown term table of one lesson: English, 中文, meaning (with ``language="zh"``: 中文, English, 含义)."""
    with speaking(language):
        return "\n".join([tr("**Terms** (中文术语)"), "", tr("| English | 中文 | meaning |"), "|---|---|---|",
                          *map(_row, lesson_terms(topic))])


def glossary_table(lesson_labels: Mapping[str, str], language: str = "en") -> str:
    """The whole glossary as one markdown table; its last column names the lesson that introduces each term.

    Args:
        lesson_labels: topic -> how to name that lesson in the table (e.g. a link to it).
        language: "en" (English first) or "zh" (Chinese first, meanings in Chinese).
    """
    missing = sorted({term.lessons[0] for term in load_glossary()} - set(lesson_labels))
    if missing:
        raise ValueError(f"lesson_labels lacks the lessons {missing}.")
    with speaking(language):
        rows = [f"{_row(term)} {lesson_labels[term.lessons[0]]} |" for term in load_glossary()]
        return "\n".join([tr("| English | 中文 | meaning | introduced in |"), "|---|---|---|---|", *rows])
