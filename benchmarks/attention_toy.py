"""Does the two-head lookup toy of the self-attention lesson split its work between the heads on every seed and CPU?

    python benchmarks/attention_toy.py                              # seeds 0-4 x native, avx2, default
    python benchmarks/attention_toy.py --settings native --write    # -> benchmarks/results/attention_toy.json
    python benchmarks/attention_toy.py --steps 150                  # explore a shorter schedule (never written)

For every CPU setting (``benchmarks/common.py``: ``native`` is this machine, ``avx2`` and ``default``
emulate older CPUs) and seed, trains ``vit_edu.training.attention_toy.train_lookup`` in a fresh process
and measures, on 512 held-out sequences, the attention mass each head puts on the content target (the
token it looks up by name) and on the position target (the previous token), the two accuracies and the
training time. A run *splits the work* when the head with most content mass and the head with most
position mass differ, each puts more than ``MIN_OWN`` on its own target and less than ``MAX_OTHER`` on
the other one: the thresholds that the lesson and ``tests/training/test_attention_toy.py`` assert.
It also trains the same model with a single head, which can learn at most one of the two answers: the
row records its accuracies, whose sum must stay below ``ONE_HEAD_MAX_SUM`` (two heads reach 2).
``--write`` replaces the rows of the settings that were run and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from common import CPU_SETTINGS, machine_load, worker_rows

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "attention_toy.json"
MIN_OWN = 0.8  # a head's mass on its own relation's target
MAX_OTHER = 0.1  # ... and on the other relation's target
ONE_HEAD_MAX_SUM = 1.4  # content + position accuracy with one head: one answer right, the other near 1/8
HELD_OUT = 512


def splits_the_work(row: dict) -> bool:
    content, position = row["content_head"], row["position_head"]
    return (content != position and row["content_mass"][content] > MIN_OWN
            and row["position_mass"][position] > MIN_OWN and row["position_mass"][content] < MAX_OTHER
            and row["content_mass"][position] < MAX_OTHER
            and row["one_head_content_accuracy"] + row["one_head_position_accuracy"] < ONE_HEAD_MAX_SUM)


def worker(seeds: list[int], threads: int, steps: int | None) -> None:
    """Train in this process (its CPU setting came with its environment); print one JSON line per seed."""
    import torch

    from vit_edu.training.attention_toy import head_relations, train_lookup

    torch.set_num_threads(threads)
    for seed in seeds:
        run = train_lookup(seed, num_threads=threads, **({} if steps is None else {"steps": steps}))
        relations = head_relations(run.model, run.held_out_batch(HELD_OUT))
        one = train_lookup(seed, heads=1, num_threads=threads, **({} if steps is None else {"steps": steps}))
        alone = head_relations(one.model, one.held_out_batch(HELD_OUT))
        print(json.dumps({"seed": seed, **relations.as_dict(), "final_loss": run.losses[-1],
                          "seconds": run.seconds, "one_head_content_accuracy": alone.content_accuracy,
                          "one_head_position_accuracy": alone.position_accuracy,
                          "capability": torch.backends.cpu.get_cpu_capability()}), flush=True)


def run_setting(setting: str, seeds: list[int], threads: int, steps: int | None) -> list[dict]:
    command = [sys.executable, __file__, "--worker", "--seeds", *map(str, seeds), "--threads", str(threads)]
    if steps is not None:
        command += ["--steps", str(steps)]
    rows = []
    for row in worker_rows(command, setting, len(seeds), ROOT):
        row["splits_the_work"] = splits_the_work(row)
        rows.append(row)
        content, position = row["content_head"], row["position_head"]
        print(f"  {setting:8s}[{row['capability']}] seed {row['seed']}: content head {content} "
              f"(content {row['content_mass'][content]:.3f}, position {row['position_mass'][content]:.3f}), "
              f"position head {position} (position {row['position_mass'][position]:.3f}, "
              f"content {row['content_mass'][position]:.3f}), accuracy {row['content_accuracy']:.3f} / "
              f"{row['position_accuracy']:.3f}, {row['seconds']:.2f} s; one head: accuracy "
              f"{row['one_head_content_accuracy']:.3f} / {row['one_head_position_accuracy']:.3f}"
              f"{'' if row['splits_the_work'] else '  <- does NOT split the work'}", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--settings", nargs="+", default=list(CPU_SETTINGS), choices=list(CPU_SETTINGS))
    parser.add_argument("--steps", type=int, default=None, help="override train_lookup's steps (to explore)")
    parser.add_argument("--write", action="store_true", help=f"write {RESULT.relative_to(ROOT)}")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.seeds, args.threads, args.steps)
        return 0

    print(f"{platform.processor() or platform.machine()}, {args.threads} thread(s), {machine_load()}")
    table = []
    for setting in args.settings:
        start = time.perf_counter()
        rows = run_setting(setting, args.seeds, args.threads, args.steps)
        own = [min(r["content_mass"][r["content_head"]], r["position_mass"][r["position_head"]]) for r in rows]
        other = [max(r["position_mass"][r["content_head"]], r["content_mass"][r["position_head"]]) for r in rows]
        alone = [r["one_head_content_accuracy"] + r["one_head_position_accuracy"] for r in rows]
        print(f"{setting:8s} lowest mass on a head's own target {min(own):.3f}, highest on the other's "
              f"{max(other):.3f}, one head's largest accuracy sum {max(alone):.3f}, "
              f"longest training {max(r['seconds'] for r in rows):.2f} s "
              f"({time.perf_counter() - start:.0f} s wall)", flush=True)
        table += [{"setting": setting, **row} for row in rows]
    all_split = all(row["splits_the_work"] for row in table)
    print(f"criterion: content head != position head, own mass > {MIN_OWN}, other mass < {MAX_OTHER}; "
          f"one head: accuracy sum < {ONE_HEAD_MAX_SUM}")
    print("EVERY RUN SPLITS THE WORK" if all_split else "SOME RUNS DO NOT SPLIT THE WORK")
    if args.write and args.steps is not None:
        print("not written: --steps overrides the toy's schedule")
    elif args.write:  # keep the rows of settings not run this time
        old = json.loads(RESULT.read_text())["rows"] if RESULT.exists() else []
        ran = {row["setting"] for row in table}
        rows = [row for row in old if row["setting"] not in ran] + table
        RESULT.write_text(json.dumps({
            "threads": args.threads, "held_out_sequences": HELD_OUT, "min_own": MIN_OWN, "max_other": MAX_OTHER,
            "one_head_max_sum": ONE_HEAD_MAX_SUM,
            "machine": platform.processor() or platform.machine(),
            "rows": sorted(rows, key=lambda r: (r["setting"], r["seed"]))}, indent=1) + "\n")
        print(f"wrote {RESULT.relative_to(ROOT)}")
    return 0 if all_split else 1


if __name__ == "__main__":
    sys.exit(main())
