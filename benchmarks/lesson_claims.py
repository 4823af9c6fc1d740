"""How far do the lessons' trained numbers move between seeds and CPUs? The spread behind each claim.

    python benchmarks/lesson_claims.py                         # every lesson with claims, 3 seeds x 3 settings
    python benchmarks/lesson_claims.py --lessons 02 --seeds 0 1 --settings native default

Every lesson that checks a claim (``vit_edu.course.claims.expect``) is run under nbval in lax mode (cells
are executed, asserts count, stored outputs are not compared) once per seed (``VIT_EDU_SEED``
replaces the lesson's seed, see ``vit_edu.course.lesson``) and CPU setting (``benchmarks/common.py``: this
machine's kernels and emulated older CPUs). ``expect`` logs every value it checks
(``VIT_EDU_CLAIMS_LOG``). The script prints, per claim, the measured minimum and maximum against the
claim's range, and which runs broke a claim; ``--write`` stores the table in
``benchmarks/results/lesson_claims.json`` (the claims measured replace their old rows), which
``tests/course/test_claims.py`` holds the ranges against.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

from common import CPU_SETTINGS, machine_load
from notebook_portability import run_lessons

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "lesson_claims.json"


def lessons_with_claims(names: list[str] | None) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from vit_edu.classroom import lesson_paths

    return [path for path in lesson_paths(ROOT / "notebooks", names) if "expect(" in path.read_text(encoding="utf-8")]


def run(paths: list[Path], setting: str, seed: int) -> tuple[list[dict], list[str], float]:
    """Run the lessons once; return the logged claim values, the failing cells and the nbval seconds."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "claims.jsonl"
        results = run_lessons(paths, setting, ("--nbval-lax",), VIT_EDU_SEED=str(seed), VIT_EDU_CLAIMS_LOG=str(log))
        values = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    failed = [f"{stem} {cell}" for stem, result in results.items() for cell in result["failed_cells"]]
    return values, failed, sum(result["seconds"] for result in results.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lessons", default=None, help="comma-separated lesson numbers or names (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--settings", nargs="+", default=list(CPU_SETTINGS), choices=list(CPU_SETTINGS))
    parser.add_argument("--write", action="store_true", help=f"write {RESULT.relative_to(ROOT)}")
    args = parser.parse_args()
    names = None if args.lessons is None else [s.strip() for s in args.lessons.split(",") if s.strip()]
    paths = lessons_with_claims(names)
    from vit_edu.course.claims import CLAIMS

    print(f"{platform.machine()}, {machine_load()}; lessons: {', '.join(p.stem for p in paths)}", flush=True)
    measured: dict[str, dict[str, dict[str, float]]] = {}
    broken = []
    for setting in args.settings:
        for seed in args.seeds:
            values, failed, seconds = run(paths, setting, seed)
            for entry in values:
                measured.setdefault(entry["claim"], {}).setdefault(setting, {})[str(seed)] = entry["value"]
            broken += [f"{setting} seed {seed}: {cell}" for cell in failed]
            print(f"{setting} seed {seed}: {len(values)} claim values, {len(failed)} failing cells "
                  f"({seconds:.0f} s)", flush=True)
    rows = {}
    print(f"\n{'claim':<44}{'range':>18}{'measured':>20}  runs")
    for name in sorted(set(CLAIMS) | set(measured)):
        values = [v for by_seed in measured.get(name, {}).values() for v in by_seed.values()]
        numbers = [float(v) for v in values]
        claim = CLAIMS.get(name)
        rows[name] = {"values": measured.get(name, {}), "min": min(numbers, default=None),
                      "max": max(numbers, default=None), "runs": len(numbers)}
        shown = f"{min(numbers):.4g} .. {max(numbers):.4g}" if numbers else "not measured"
        bounds = f"[{claim.low:g}, {claim.high:g}]" if claim else "UNKNOWN CLAIM"
        print(f"{name:<44}{bounds:>18}{shown:>20}  {len(numbers)}")
    for line in broken:
        print("broken:", line)
    if args.write:  # the claims measured now replace their old rows; the others stay
        old = json.loads(RESULT.read_text()) if RESULT.exists() else {"claims": {}, "failing_cells": [], "lessons": []}
        measured_now = {name: row for name, row in rows.items() if row["runs"]}
        claims = {**old["claims"], **measured_now}
        lessons = sorted(set(old["lessons"]) | {p.stem for p in paths})
        failing = [line for line in old["failing_cells"] if not any(p.stem in line for p in paths)] + broken
        RESULT.write_text(json.dumps({"seeds": args.seeds, "settings": {s: CPU_SETTINGS[s] for s in args.settings},
                                      "lessons": lessons, "claims": dict(sorted(claims.items())),
                                      "failing_cells": failing}, indent=1) + "\n")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
