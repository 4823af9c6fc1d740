"""Time the README's test command and split the time by kind of test; compare with the budgets.

    python benchmarks/suite_time.py                 # the README test command (install, then pytest)
    python benchmarks/suite_time.py --no-install    # only the pytest part
    python benchmarks/suite_time.py -- -k static    # extra pytest arguments after --
    python benchmarks/suite_time.py --inner         # the README's quick inner loop (unmarked tests only)

Budgets on 2 CPU cores: the inner loop <= 30 s; the whole command <= 600 s; nbval of all lessons <= 360 s;
each lesson <= 60 s, the training, attention-map, inductive-bias and transfer lessons <= 90 s (lessons are
matched by topic, not number).
Per-test times come from pytest's JUnit XML; wall times include collection and start-up.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBVAL_BUDGET, SUITE_BUDGET, INNER_BUDGET = 360.0, 600.0, 30.0
LESSON_BUDGET = 60.0
# topic -> s: lessons that train live get the design's 90 s; the transfer lesson, which re-runs a pre-training point
# of the data-scale sweep as well as its transfer rows, the design's upper limit for sweep lessons, 120 s
LONGER_LESSONS = {"train_tiny": 90.0, "attention_maps": 90.0, "inductive_bias": 90.0, "transfer": 120.0}


def lesson_budget(stem: str) -> float:
    return next((seconds for topic, seconds in LONGER_LESSONS.items() if topic in stem), LESSON_BUDGET)
GROUPS = {  # file name -> group; anything else under tests/ is "package tests"
    "test_browser_widgets.py": "browser (JupyterLab + Chromium)",
    "test_static_site.py": "static site (export + Chromium)",
    "test_student_editions.py": "student editions",
}


def readme_commands() -> list[str]:
    """The README's shell commands in order (the first two are its install and test commands)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.strip().splitlines()]


def readme_test_command() -> str:
    """The README's second shell command (the test command), as tests/project/test_readme.py reads it."""
    return readme_commands()[1]


def readme_inner_loop_command() -> str:
    """The README's quick inner loop: the pytest command that deselects the slow tests."""
    return next(command for command in readme_commands() if command.startswith("pytest") and "not slow" in command)


def time_inner_loop(pytest_args: list[str]) -> int:
    """Run the inner loop twice (the first run warms the file cache) and compare the second with its budget."""
    command = readme_inner_loop_command() + " -q " + shlex.join(pytest_args)
    for _ in range(2):
        start = time.perf_counter()
        result = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    print(f"command: {command}")
    print(f"pytest: {summary} (exit code {result.returncode})")
    print(f"budget: inner loop {wall:.1f} s of {INNER_BUDGET:.0f} s -> {'OK' if wall <= INNER_BUDGET else 'OVER'}")
    if result.returncode != 0:
        print(result.stdout[-3000:], file=sys.stderr)
    return result.returncode


def group_of(classname: str, file: str) -> str:
    path = file or classname.replace(".", "/")
    if path.startswith("notebooks") or path.endswith(".ipynb") or ".ipynb" in classname:
        return "nbval (lessons)"
    name = Path(path).name if path.endswith(".py") else Path(path + ".py").name
    return GROUPS.get(name, "package tests")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-install", action="store_true", help="skip the README command's pip install")
    parser.add_argument("--inner", action="store_true", help="time the README's quick inner loop instead")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args()
    if args.inner:
        return time_inner_loop(args.pytest_args)

    command = readme_test_command()
    install, _, test = command.rpartition("&&")
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        test_command = f"{test.strip()} --junitxml={junit} -o junit_family=xunit2 -q " + shlex.join(args.pytest_args)
        install_seconds = 0.0
        if not args.no_install and install.strip():
            start = time.perf_counter()
            subprocess.run(install.strip(), shell=True, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            install_seconds = time.perf_counter() - start
        start = time.perf_counter()
        result = subprocess.run(test_command, shell=True, cwd=ROOT, capture_output=True, text=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        wall = time.perf_counter() - start
        summary = (result.stdout.strip().splitlines() or [""])[-1]
        seconds, counts, lessons = defaultdict(float), defaultdict(int), defaultdict(float)
        slowest = []
        if junit.is_file():
            for case in ElementTree.parse(junit).getroot().iter("testcase"):
                group = group_of(case.get("classname", ""), case.get("file", ""))
                seconds[group] += float(case.get("time", 0))
                counts[group] += 1
                slowest.append((float(case.get("time", 0)), f"{case.get('classname')}::{case.get('name')}"))
                lesson = re.search(r"(\d\d_[A-Za-z0-9_]+)\.ipynb", case.get("classname", "") + case.get("file", ""))
                if group == "nbval (lessons)" and lesson:
                    lessons[lesson.group(1)] += float(case.get("time", 0))

    load = os.getloadavg()
    print(f"command: {command}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)")
    if install_seconds:
        print(f"pip install: {install_seconds:.0f} s")
    print(f"pytest: {summary} (exit code {result.returncode})")
    print(f"{'group':36s} {'tests':>6s} {'seconds':>8s}")
    for group in sorted(seconds, key=seconds.get, reverse=True):
        print(f"{group:36s} {counts[group]:6d} {seconds[group]:8.0f}")
    print(f"{'pytest wall time':36s} {'':6s} {wall:8.0f}")
    print("slowest tests:")
    for duration, name in sorted(slowest, reverse=True)[:8]:
        print(f"  {duration:6.0f} s  {name}")
    print("lessons under nbval:")
    over = [stem for stem, t in lessons.items() if t > lesson_budget(stem)]
    for stem, t in sorted(lessons.items()):
        print(f"  {stem:36s} {t:5.0f} s of {lesson_budget(stem):.0f} s -> {'OVER' if stem in over else 'OK'}")
    nbval = seconds.get("nbval (lessons)", 0.0)
    total = wall + install_seconds
    print(f"budget: nbval {nbval:.0f} s of {NBVAL_BUDGET:.0f} s -> {'OK' if nbval <= NBVAL_BUDGET else 'OVER'}; "
          f"whole command {total:.0f} s of {SUITE_BUDGET:.0f} s -> {'OK' if total <= SUITE_BUDGET else 'OVER'}; "
          f"lessons over their budget: {', '.join(over) or 'none'}")
    if result.returncode != 0:
        print(result.stdout[-3000:], file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
