"""Are the lessons' outputs the same run after run? Execute each lesson N times and list the cells that differ.

    python benchmarks/nbval_stability.py                     # every lesson, 3 runs
    python benchmarks/nbval_stability.py --lessons 01,05     # some lessons
    python benchmarks/nbval_stability.py --nbval             # instead: `pytest notebooks` 3 times in a row

Each run is a fresh kernel in ``notebooks/`` (as nbval runs). Outputs are compared the way nbval
compares them: images and widget views are skipped, the regexes of ``notebooks/nbval_sanitize.cfg``
are applied, cells marked ``# NBVAL_IGNORE_OUTPUT``/``# NBVAL_SKIP`` are left out. A cell is
reported when its outputs differ between runs, or from the stored notebook.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SKIPPED_KEYS = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}


def sanitize_patterns() -> list[tuple[str, str]]:
    text = (NOTEBOOKS / "nbval_sanitize.cfg").read_text(encoding="utf-8")
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.M)


def compared_outputs(nb: nbformat.NotebookNode, patterns: list[tuple[str, str]]) -> dict[int, str]:
    """``{cell index: text}`` of what nbval would compare, for every checked code cell."""

    def clean(value: object) -> str:
        text = value if isinstance(value, str) else repr(value)
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    result = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or re.search(r"#\s*NBVAL_(IGNORE_OUTPUT|SKIP)", cell.source):
            continue
        parts, streams = [], {}
        for output in cell.outputs:
            if output.output_type == "stream":
                streams[output.name] = streams.get(output.name, "") + output.text
            elif output.output_type == "error":
                parts.append(f"error {output.ename}: {clean(output.evalue)}")
            else:
                parts += [f"{key}: {clean(value)}" for key, value in sorted(output.get("data", {}).items())
                          if key not in SKIPPED_KEYS]
        parts += [f"{name}: {clean(text)}" for name, text in sorted(streams.items())]
        result[index] = "\n".join(parts)
    return result


def run_once(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb, time.perf_counter() - start


def first_difference(a: str, b: str) -> str:
    for line_a, line_b in zip(a.splitlines(), b.splitlines()):
        if line_a != line_b:
            return f"{line_a[:70]!r} vs {line_b[:70]!r}"
    return f"{len(a.splitlines())} vs {len(b.splitlines())} lines"


def compare_runs(paths: list[Path], runs: int, timeout: int) -> int:
    patterns = sanitize_patterns()
    unstable = 0
    for path in paths:
        stored = compared_outputs(nbformat.read(path, as_version=4), patterns)
        results, times = [], []
        for _ in range(runs):
            nb, seconds = run_once(path, timeout)
            results.append(compared_outputs(nb, patterns))
            times.append(seconds)
        differing = sorted({i for result in results for i in stored if result.get(i) != stored[i]} |
                           {i for result in results[1:] for i in stored if result.get(i) != results[0].get(i)})
        unstable += bool(differing)
        runs_text = ", ".join(f"{t:.0f}" for t in times)
        print(f"{path.stem}: {len(stored)} compared cells, run times {runs_text} s -> "
              f"{'identical' if not differing else f'{len(differing)} cell(s) differ'}")
        for index in differing:
            versions = [result.get(index, "") for result in results]
            between = "runs differ" if len(set(versions)) > 1 else "runs agree"
            changed = next((v for v in versions if v != stored[index]), versions[-1])
            print(f"  cell {index} ({between}; stored vs run): {first_difference(stored[index], changed)}")
    print(f"{len(paths) - unstable} of {len(paths)} lessons gave identical compared outputs in {runs} runs "
          "and matched the stored notebooks")
    return 1 if unstable else 0


def nbval_runs(paths: list[Path], runs: int) -> int:
    failures = 0
    for run in range(1, runs + 1):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 *map(str, paths)], cwd=ROOT, capture_output=True, text=True)
        failed = re.findall(r"^FAILED (\S+)", result.stdout, flags=re.M)
        summary = (result.stdout.strip().splitlines() or [""])[-1]
        print(f"nbval run {run}: {summary} ({time.perf_counter() - start:.0f} s wall)")
        for name in failed:
            print(f"  {name}")
        failures += result.returncode != 0
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lessons", default=None, help="comma-separated lesson numbers or names (default: all)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--nbval", action="store_true", help="run `pytest` on the notebooks N times instead")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from vit_edu.classroom import lesson_paths

    lessons = None if args.lessons is None else [s.strip() for s in args.lessons.split(",") if s.strip()]
    paths = lesson_paths(NOTEBOOKS, lessons)
    if args.nbval:
        return nbval_runs(paths, args.runs)
    return compare_runs(paths, args.runs, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
