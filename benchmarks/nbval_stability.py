"""Are the lessons' compared outputs the same run after run on this machine? Run nbval N times.

    python benchmarks/nbval_stability.py                     # every lesson, 3 runs
    python benchmarks/nbval_stability.py --lessons 01,05     # some lessons

Each run is ``pytest --nbval`` on the lessons (nbval collects and compares the cells; tags and the
project's sanitizer apply), on this machine's own CPU kernels. A lesson that fails in any run is
listed with its failing cells. Repeating on one machine proves nothing about the next machine:
``benchmarks/notebook_portability.py`` runs the lessons under emulated CPUs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from notebook_portability import ROOT, run_lessons


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lessons", default=None, help="comma-separated lesson numbers or names (default: all)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from vit_edu.classroom import lesson_paths

    lessons = None if args.lessons is None else [s.strip() for s in args.lessons.split(",") if s.strip()]
    paths: list[Path] = lesson_paths(ROOT / "notebooks", lessons)
    runs = [run_lessons(paths, "native") for _ in range(args.runs)]
    unstable = 0
    for path in paths:
        results = [run[path.stem] for run in runs]
        times = ", ".join(f"{r['seconds']:.0f}" for r in results)
        failed = sorted({cell for r in results for cell in r["failed_cells"]})
        unstable += bool(failed)
        print(f"{path.stem}: nbval times {times} s -> {'passes in every run' if not failed else 'FAILS'}")
        for cell in failed:
            print(f"  {cell}: {next(r['failed_cells'][cell] for r in results if cell in r['failed_cells'])[:200]}")
    print(f"{len(paths) - unstable} of {len(paths)} lessons passed nbval in all {args.runs} runs")
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
