"""Build the Chinese lessons in ``notebooks/zh/`` from the English lessons and ``notebooks/zh/text/*.md``.

    python scripts/chinese_edition.py              # write the Chinese lessons whose text or code changed
    python scripts/chinese_edition.py --check      # only report (exit 1 if a lesson differs or a translation
                                                   # is missing or stale)
    python scripts/chinese_edition.py --skeleton   # add a block with the English text for every cell
                                                   # that has no translation yet (existing blocks are kept)

A code cell whose source changed loses its outputs: run the lesson again afterwards
(``jupyter nbconvert --to notebook --execute --inplace notebooks/zh/NN_name.ipynb``), then
``python scripts/sync_lessons.py`` (header cards, term tables, progress bars, student editions).
See :mod:`vit_edu.course.translation` for the format; ``tests/course/test_chinese_edition.py`` runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from vit_edu.classroom.editions import lesson_paths
from vit_edu.course.translation import block, build_chinese, parse_translations, translatable_cells

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = ROOT / "notebooks"
CHINESE = ENGLISH / "zh"
TEXT = CHINESE / "text"


def text_path(lesson: Path) -> Path:
    return TEXT / f"{lesson.stem}.md"


def add_missing_blocks(lesson: Path) -> int:
    """Append a block with the English text for each cell of ``lesson`` that has none; returns how many."""
    english = nbformat.read(lesson, as_version=4)
    path = text_path(lesson)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    have = parse_translations(text) if text.strip() else {}
    missing = [cell for cell in translatable_cells(english) if cell.id not in have]
    blocks = [block(cell) for cell in missing]
    if blocks:
        TEXT.mkdir(parents=True, exist_ok=True)
        path.write_text(text.rstrip("\n") + ("\n\n" if text.strip() else "") + "\n".join(blocks), encoding="utf-8")
    return len(blocks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="report what differs, change nothing")
    parser.add_argument("--skeleton", action="store_true", help="add English blocks for untranslated cells")
    parser.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all)")
    args = parser.parse_args(argv)
    lessons = lesson_paths(ENGLISH, args.lessons or None)
    if args.skeleton:
        for lesson in lessons:
            print(f"{text_path(lesson).relative_to(ROOT)}: {add_missing_blocks(lesson)} block(s) added")
        return 0
    failed = False
    for lesson in lessons:
        path = text_path(lesson)
        if not path.is_file():
            print(f"{lesson.name}: no translation file {path.relative_to(ROOT)} (make one with --skeleton)")
            failed = True
            continue
        target = CHINESE / lesson.name
        previous = nbformat.read(target, as_version=4) if target.is_file() else None
        built, problems = build_chinese(nbformat.read(lesson, as_version=4),
                                        parse_translations(path.read_text(encoding="utf-8")), previous)
        for problem in problems:
            print(f"{path.relative_to(ROOT)}: {problem}")
        failed |= bool(problems)
        text = nbformat.writes(built) + "\n"
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            print(("differs: " if args.check else "wrote: ") + str(target.relative_to(ROOT)))
            failed |= args.check
            if not args.check:
                target.write_text(text, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
