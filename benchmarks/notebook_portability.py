"""Do the lessons pass nbval on other CPUs? Run every lesson under nbval in several emulated settings.

    python benchmarks/notebook_portability.py                       # all lessons, every setting
    python benchmarks/notebook_portability.py --lessons 02,06 --settings native default

The same seed gives other floats on other CPUs: PyTorch, MKL and oneDNN pick other vector kernels
(AVX-512, AVX2, none), and training amplifies the last bits. This machine can emulate older CPUs
(``benchmarks/common.py``: ``avx2`` and ``default``), and a lesson's thread count comes from the
``VIT_EDU_THREADS`` environment variable (``vit_edu.course.lesson.setup_lesson``), so a lesson is run:

- ``native``: this machine's kernels, the lessons' own thread counts;
- ``avx2`` and ``default``: emulated older CPUs;
- ``threads-3``: native kernels, 3 threads in every lesson (another core count).

Cells are collected and compared by nbval itself (``pytest --nbval`` with the project's settings),
never by a re-implementation. Prints, per lesson and setting, pass/fail, the nbval run time and the
cells that fail (nbval's numbering: code cells from 0) and the cells slower than ``SLOW_CELL_SECONDS``;
``--write`` stores the table in ``benchmarks/results/notebook_portability.json`` (``--update`` with
``--lessons``: only those lessons' entries).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from common import CPU_SETTINGS, emulated_env, machine_load

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "notebook_portability.json"
SLOW_CELL_SECONDS = 3.0  # a cell that runs longer must show progress (tests/course/test_silent_waits.py)
SETTINGS = {**{name: (name, {}) for name in CPU_SETTINGS}, "threads-3": ("native", {"VIT_EDU_THREADS": "3"})}


def run_lessons(paths: list[Path], setting: str, extra_args: tuple[str, ...] = (), **env: str) -> dict[str, dict]:
    """Run ``pytest --nbval`` on ``paths`` under ``setting``; per lesson: passed, seconds, failing cells.

    ``extra_args`` go to pytest (e.g. ``--nbval-lax``), ``env`` into the environment of the run.
    """
    kernels, setting_env = SETTINGS[setting]
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                   *extra_args, *(str(p.relative_to(ROOT)) for p in paths)]
        subprocess.run(command, cwd=ROOT, env=emulated_env(kernels, **setting_env, **env), capture_output=True,
                       text=True)
        cases = ET.parse(report).getroot().iter("testcase") if report.exists() else []
        lessons = {p.stem: {"passed": True, "seconds": 0.0, "failed_cells": {}, "cells": 0, "slow_cells": {}}
                   for p in paths}
        for case in cases:
            where = case.get("classname", "") + " " + case.get("file", "")
            stem = next((name for name in lessons if name in where), None)
            if stem is None:
                continue
            lesson = lessons[stem]
            lesson["cells"] += 1
            lesson["seconds"] += float(case.get("time", 0))
            if float(case.get("time", 0)) >= SLOW_CELL_SECONDS:
                lesson["slow_cells"][case.get("name", "?")] = round(float(case.get("time", 0)), 1)
            problem = case.find("failure") if case.find("failure") is not None else case.find("error")
            if problem is not None:
                lesson["passed"] = False
                text = (problem.get("message") or "") + "\n" + (problem.text or "")
                lines = [line.strip() for line in text.splitlines() if line.strip()]
                lesson["failed_cells"][case.get("name", "?")] = " | ".join(lines[:6])[:400]
        for lesson in lessons.values():
            if lesson["cells"] == 0:
                lesson["passed"] = False
                lesson["failed_cells"]["collection"] = "nbval ran no cell (collection or kernel error)"
    return lessons


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lessons", default=None, help="comma-separated lesson numbers or names (default: all)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--write", action="store_true", help=f"write {RESULT.relative_to(ROOT)}")
    parser.add_argument("--update", action="store_true",
                        help="replace only the measured lessons' entries in the table, keep the others")
    args = parser.parse_args()
    if args.lessons is None and args.update:
        parser.error("--update is for some lessons (--lessons); for all of them use --write.")
    sys.path.insert(0, str(ROOT))
    from vit_edu.classroom import lesson_paths

    lessons = None if args.lessons is None else [s.strip() for s in args.lessons.split(",") if s.strip()]
    paths = lesson_paths(ROOT / "notebooks", lessons)
    print(f"{platform.machine()}, {machine_load()}; {len(paths)} lessons x {len(args.settings)} settings", flush=True)
    results: dict[str, dict[str, dict]] = {}
    for setting in args.settings:
        start = time.perf_counter()
        results[setting] = run_lessons(paths, setting)
        failed = [name for name, r in results[setting].items() if not r["passed"]]
        print(f"{setting}: {len(paths) - len(failed)} of {len(paths)} lessons pass "
              f"({time.perf_counter() - start:.0f} s wall)", flush=True)
        for name in failed:
            for cell, message in results[setting][name]["failed_cells"].items():
                print(f"  {name} {cell}: {message[:200]}", flush=True)
        for name, lesson in results[setting].items():
            if lesson["slow_cells"]:
                print(f"  {name} cells over {SLOW_CELL_SECONDS:g} s: {lesson['slow_cells']}", flush=True)
    print()
    header = f"{'lesson':<34}" + "".join(f"{s:>12}" for s in args.settings)
    print(header)
    for path in paths:
        cells = [results[s][path.stem] for s in args.settings]
        marks = [("pass" if r["passed"] else "FAIL") + f" {r['seconds']:.0f}s" for r in cells]
        print(f"{path.stem:<34}" + "".join(f"{mark:>12}" for mark in marks))
    total = {s: sum(r["seconds"] for r in results[s].values()) for s in args.settings}
    print(f"{'all lessons (nbval seconds)':<34}" + "".join(f"{total[s]:>11.0f}s" for s in args.settings))
    all_passed = all(r["passed"] for by_lesson in results.values() for r in by_lesson.values())
    print("EVERY LESSON PASSES IN EVERY SETTING" if all_passed else "SOME LESSONS FAIL")
    if args.update:
        table = json.loads(RESULT.read_text())
        missing = [s for s in args.settings if s not in table["results"]]
        if missing:
            print(f"{RESULT.name} has no settings {missing}; use --write.", file=sys.stderr)
            return 2
        for setting in args.settings:
            table["results"][setting] = dict(sorted({**table["results"][setting], **results[setting]}.items()))
        RESULT.write_text(json.dumps(table, indent=1) + "\n")
    if args.write:
        settings = {s: SETTINGS[s] for s in args.settings}
        RESULT.write_text(json.dumps({"machine": platform.machine(), "settings": settings, "results": results},
                                     indent=1) + "\n")
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
