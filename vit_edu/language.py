"""The language of what the course says to a student: English (the default) or Chinese.

Every text the package writes for a student (a check's diagnosis, a widget's label) goes through
:func:`tr` with its English wording as the key::

    tr("`{name}` returned None: did you forget the `return`?", name=name)

In English that is the text itself; after ``use_language("zh")`` it is the Chinese entry with the same
key in ``vit_edu/locale/zh/*.toml`` (one file per module; a message several modules say has one entry, in
the first file by name), formatted with the same fields. A Chinese
lesson calls ``vit_edu.use_language("zh")`` in its first cell (through ``setup_lesson(language="zh")``).
Words a lesson passes to a check (``check_prediction(what=..., why=...)``) are looked up by
:func:`lesson_text` in ``vit_edu/locale/zh/lessons.toml``. ``tests/course/test_language.py`` checks
that every ``tr`` key in the package has a Chinese entry with the same ``{fields}`` and that no entry is
left over.
"""

from __future__ import annotations

import contextlib
import functools
import string
import tomllib
from collections.abc import Iterator
from pathlib import Path

LANGUAGES = ("en", "zh")
LOCALE = Path(__file__).resolve().parent / "locale"

_current = "en"


def check_language(language: str) -> None:
    """Refuse anything but one of :data:`LANGUAGES`, saying which there are."""
    if not isinstance(language, str):
        raise TypeError(f"language must be a string such as 'zh', got {type(language).__name__}.")
    if language not in LANGUAGES:
        raise ValueError(f"language={language!r} is not one of the course's languages {LANGUAGES}; "
                         "use 'en' for English or 'zh' for Chinese (中文).")


def use_language(language: str) -> None:
    """Make the course speak ``language`` ("en" or "zh") from now on, in this Python process."""
    global _current
    check_language(language)
    _current = language


def current_language() -> str:
    """The language :func:`use_language` chose last ("en" until then)."""
    return _current


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Within the block the course speaks ``language``; afterwards the language it spoke before. For text drawn
    into a figure (``speaking("en")``: figures stay English) and for pages written in one language."""
    before = _current
    use_language(language)
    try:
        yield
    finally:
        use_language(before)


def then(sentence: str) -> str:
    """``sentence`` as a further sentence of a message: after a space in English, directly after the
    full-width stop in Chinese; "" stays ""."""
    if not sentence:
        return ""
    return sentence if _current == "zh" else f" {sentence}"


def fields(template: str) -> set[str]:
    """The names of the ``{fields}`` in a template (``{{`` and ``}}`` are literal braces)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """English template -> its translation, from every ``vit_edu/locale/<language>/*.toml``."""
    entries: dict[str, str] = {}
    for path in sorted((LOCALE / language).glob("*.toml")):
        with path.open("rb") as file:
            for entry in tomllib.load(file).get("message", []):
                if entry["en"] in entries:  # one place to change a translation
                    raise ValueError(f"{path.name}: the message {entry['en']!r} already has an entry in another "
                                     "file of this folder; keep one.")
                entries[entry["en"]] = entry[language]
    return entries


@functools.cache
def lesson_catalogue(language: str) -> dict[str, str]:
    """The lessons' own words that a check repeats (``check_prediction``'s ``what=`` and ``why=``): English
    -> translation, from ``vit_edu/locale/<language>/lessons.toml``. A Chinese lesson runs the English
    lesson's code, so its arguments arrive in English and are looked up here."""
    path = LOCALE / language / "lessons.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as file:
        return {entry["en"]: entry[language] for entry in tomllib.load(file).get("lesson_text", [])}


def lesson_text(text: str) -> str:
    """A lesson's own words (an argument of a check) in the current language; unchanged when there is no entry."""
    return text if _current == "en" else lesson_catalogue(_current).get(text, text)


def tr(text: str, /, **values: object) -> str:
    """``text`` (an English template) in the current language, its ``{fields}`` filled from ``values``.

    A text with no Chinese entry stays English rather than failing: a student still reads the message.
    """
    template = text if _current == "en" else catalogue(_current).get(text, text)
    return template.format(**values) if values else template
