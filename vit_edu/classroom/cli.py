"""The teachers' commands of ``python -m vit_edu``: ``student-notebooks`` and ``export-html``.

Registered by :func:`vit_edu.__main__.build_parser` through :func:`add_classroom_commands`.
"""

from __future__ import annotations

import argparse
import sys


def _error(error: Exception, one_line: bool = True) -> int:
    """Print ``error: ...`` in the command line's words (``--force``, not ``overwrite=True``); exit code 2."""
    text = str(error).replace("overwrite=True (--force on the command line)", "--force")
    print(f"error: {' '.join(text.split()) if one_line else text}", file=sys.stderr)
    return 2


def _lessons(value: str | None) -> list[str] | None:
    return None if value is None else [item.strip() for item in value.split(",") if item.strip()]


def _run_student_notebooks(args: argparse.Namespace) -> int:
    from vit_edu.classroom.editions import write_student_notebooks

    try:
        written = write_student_notebooks(args.outdir, source=args.source, overwrite=args.force,
                                          lessons=_lessons(args.lessons))
    except (OSError, TypeError, ValueError) as error:  # FileExistsError is an OSError
        return _error(error)
    print(f"wrote {len(written)} student notebooks to {args.outdir}")
    return 0


def _run_export_html(args: argparse.Namespace) -> int:
    from vit_edu.classroom.site import export_html

    try:
        pages = export_html(args.outdir, source=args.source, lessons=_lessons(args.lessons), overwrite=args.force,
                            execute=not args.no_execute, mathjax=None if args.mathjax == "none" else args.mathjax,
                            timeout=args.timeout, progress=True,
                            languages=None if args.languages is None else args.languages.split(","))
    except RuntimeError as error:  # a lesson failed: its cell's error follows on the next lines
        return _error(error, one_line=False)
    except (OSError, TypeError, ValueError) as error:
        return _error(error)
    chinese = " (Chinese pages in zh/)" if any(page.parent.name == "zh" for page in pages) else ""
    print(f"wrote {len(pages)} lesson pages and index.html to {args.outdir}{chinese}; open {args.outdir}/index.html")
    return 0


def add_classroom_commands(commands) -> None:
    """Register ``student-notebooks`` and ``export-html`` on an argparse subparsers object."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("outdir", help="folder to write to (created if missing)")
    common.add_argument("--source", default=None, help="folder of the lessons (default: the repository's notebooks/)")
    common.add_argument("--lessons", default=None, help="comma-separated lesson numbers or names (default: all)")
    common.add_argument("--force", action="store_true", help="overwrite files that exist in OUTDIR")

    parser = commands.add_parser("student-notebooks", parents=[common], help="write student editions of the lessons",
                                 description="Copy the lessons with solutions and hidden tests removed (nbgrader's "
                                             "preprocessors) and outputs cleared.")
    parser.set_defaults(handler=_run_student_notebooks)

    parser = commands.add_parser("export-html", parents=[common], help="export the lessons as a static site",
                                 description="Execute every lesson and export it to HTML with its widget state, "
                                             "plus index.html; the pages read offline in any browser.")
    parser.add_argument("--no-execute", action="store_true", help="export the stored outputs without running")
    parser.add_argument("--mathjax", default="local",
                        help="'local' (vendored MathJax 3, works offline), 'none' (LaTeX source) or a URL")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--languages", default=None,
                        help="comma-separated editions, 'en', 'zh' or 'en,zh' (default: English, and Chinese when "
                             "SOURCE/zh holds the lessons)")
    parser.set_defaults(handler=_run_export_html)
