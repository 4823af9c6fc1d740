"""Time and peak memory of ``load_checkpoint`` on every crafted bad checkpoint.

The cases are the table of ``tests/checkpoints/fault_cases.py`` (the fault tests use the same): files
that claim 10^8 encoder blocks, terabyte arrays, zip bombs, NaN weights, shard indexes that leave their
folder, and so on, plus a few valid files as the baseline. They run in one child process (one torch
import), each in a fresh folder. The child resets the kernel's peak-RSS counter before each call, so
each case's peak is its own, and limits its address space so that a regression fails instead of
swapping; a case that hangs is killed after a timeout and the rest run in a new child.
Target: every case answered within about a second and a few hundred MB above the baseline of an idle
process that has imported torch and vit_edu.

    python benchmarks/checkpoint_faults.py [--cases NAME ...] [--address-space-gb 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "checkpoints"))  # the case table lives with the tests

TARGET_S = 1.0
TARGET_EXTRA_MB = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", help="names of the cases to run (default: all)")
    parser.add_argument("--address-space-gb", type=float, default=8.0,
                        help="limit on the child's address space; 0 for none")
    args = parser.parse_args()
    from fault_cases import CASES, check, run_in_child  # after the sys.path line above

    by_name = {c.name: c for c in CASES}
    baseline, found, stderr = run_in_child(args.cases or None, args.address_space_gb)
    if baseline is None:
        sys.exit(f"the child process reported nothing:\n{stderr}")
    results = list(found.values())
    per_case = all(r["peak_is_per_case"] for r in results)
    print(f"baseline (torch + vit_edu imported, valid cases run once): {baseline:.0f} MB peak RSS; "
          f"peaks are {'per case' if per_case else 'running maxima (no /proc/self/clear_refs)'}\n")
    print(f"{'case':<52} {'group':<6} {'answer':<11} {'ms':>8} {'peak MB':>8} {'+MB':>6}  verdict")
    failures = []
    for result in results:
        problems = check(by_name[result["name"]], result)
        extra = result["peak_mb"] - baseline
        if result["seconds"] > TARGET_S:
            problems.append(f"slower than {TARGET_S} s")
        if extra > TARGET_EXTRA_MB:
            problems.append(f"more than {TARGET_EXTRA_MB:.0f} MB above the baseline")
        if problems:
            failures.append(result["name"])
        print(f"{result['name']:<52} {result['group']:<6} {result['error'] or 'loads':<11} "
              f"{1000 * result['seconds']:8.1f} {result['peak_mb']:8.0f} {extra:6.0f}  "
              f"{'; '.join(problems) or 'ok'}")
    slowest = max(results, key=lambda r: r["seconds"])
    largest = max(results, key=lambda r: r["peak_mb"])
    faults = [r for r in results if r["group"] != "valid"]
    print(f"\n{len(faults)} fault cases and {len(results) - len(faults)} valid files; max time "
          f"{1000 * slowest['seconds']:.1f} ms ({slowest['name']}), max peak {largest['peak_mb']:.0f} MB "
          f"(+{largest['peak_mb'] - baseline:.0f} MB, {largest['name']}); targets: {TARGET_S:.0f} s and "
          f"+{TARGET_EXTRA_MB:.0f} MB per case.")
    missing = sorted(set(args.cases or by_name) - {r["name"] for r in results})
    if missing or failures:
        print(f"NOT MET: {', '.join(failures + [f'{m} (no answer)' for m in missing])}")
        sys.exit(1)


if __name__ == "__main__":
    main()
