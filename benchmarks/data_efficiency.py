"""Data-efficiency sweep of the inductive-bias lesson: a small CNN vs a ViT of the same size, on 10-100 % of the data.

For every task in ``vit_edu.training.data_efficiency.TASKS`` (digits; shapes with colour clutter), the
three models (CNN, hybrid, ViT), the task's fractions (0.1/0.25/0.5/1.0 for digits) and seeds 0/1/2, train with the same
budget of optimiser steps (``vit_edu.training.data_efficiency.run_one``) and write one JSON table
with every per-seed row (test and training accuracy, the last epoch's training loss), the
per-(model, fraction) summary and the settings (recipe, seeds, parameter counts, the chance loss ln K):

    python benchmarks/data_efficiency.py                       # all tasks -> benchmarks/results/data_efficiency.json
    python benchmarks/data_efficiency.py --tasks digits --update   # recompute these runs, keep the others
    python benchmarks/data_efficiency.py --out /tmp/t.json --seeds 0 --fractions 0.1
    python benchmarks/data_efficiency.py --merge /tmp/t.json --update   # add runs made elsewhere, no training
    python benchmarks/data_efficiency.py --long shapes_colour:vit:1500 --update   # evidence runs only

``--long TASK:MODEL:STEPS`` trains that model on all of the task's data with STEPS in place of the shared
step budget (same seeds), stored apart in ``long_runs``: the evidence for a model whose training loss
stays near ln K within the shared budget (is it the budget, or the model?).

Each run uses ``--threads`` torch threads (default 1: tiny models gain nothing from more, and on a
shared CPU extra threads mostly spin); ``--workers`` runs that many runs in parallel processes.
A run is deterministic for a given machine and thread count, so the table does not depend on
``--workers``. The file is never overwritten without ``--force`` (or ``--update``, which replaces only the runs
computed now and keeps the others).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from vit_edu.training.data_efficiency import (
    MODEL_NAMES,
    SUMMARY_BY,
    TASKS,
    build_model,
    chance_loss,
    run_one,
    task_data,
)
from vit_edu.training.results import summarize

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "data_efficiency.json"


def _run(job: tuple[str, str, float, int, int, int | None]) -> dict:
    task, model, fraction, seed, threads, steps = job
    torch.set_num_threads(threads)
    spec = TASKS[task]
    if steps is not None:  # a longer run: the same recipe with another step budget
        spec = dataclasses.replace(spec, recipe=spec.recipe.updated(training={"steps": steps}))
    return run_one(spec, model, fraction, seed, data=_data(task))


def _long(text: str) -> tuple[str, str, int]:
    task, model, steps = text.split(":")
    if task not in TASKS or model not in MODEL_NAMES or not steps.isdigit():
        raise argparse.ArgumentTypeError(f"--long takes TASK:MODEL:STEPS with a task of {sorted(TASKS)} and a model "
                                         f"of {MODEL_NAMES}, e.g. shapes_colour:vit:1500; got {text!r}.")
    return task, model, int(steps)


_CACHE: dict[str, tuple] = {}


def _data(task: str) -> tuple:
    if task not in _CACHE:  # one dataset per worker process, built on first use
        _CACHE[task] = task_data(task)
    return _CACHE[task]


def _settings(task: str, rows: list[dict]) -> dict:
    spec = TASKS[task]
    data = spec.recipe.data
    cnn, hybrid, vit = (build_model(task, model, 0) for model in ("cnn", "hybrid", "vit"))
    return {
        "dataset": data["dataset"], "clutter": data.get("clutter"), "num_train": data.get("num_train"),
        "num_test": data.get("num_test"), "vit": spec.recipe.model, "vit_parameters": vit.num_parameters(),
        "vit_input_normalization": spec.recipe.input_normalization,
        "cnn": {"width": cnn.width, "depth": cnn.depth, "kernel_size": cnn.kernel_size, "pool_every": cnn.pool_every},
        "cnn_parameters": cnn.num_parameters(),
        "hybrid": {"stem_width": hybrid.stem_width, "stride": hybrid.stride, "tokens": hybrid.config.num_patches},
        "hybrid_parameters": hybrid.num_parameters(), "chance_loss": chance_loss(task), **spec.recipe.training,
        "fractions": sorted({r["fraction"] for r in rows if r["task"] == task}),
        "seeds": sorted({r["seed"] for r in rows if r["task"] == task}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=None, choices=list(TASKS),
                        help="tasks to train (default: all, or none with --merge)")
    parser.add_argument("--fractions", nargs="+", type=float, default=None, help="default: each task's own")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=list(MODEL_NAMES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel processes (default 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--update", action="store_true", help="replace only the runs computed now in --out")
    parser.add_argument("--merge", nargs="+", type=Path, default=[], help="tables whose rows to add to --out")
    parser.add_argument("--long", nargs="+", type=_long, default=[], metavar="TASK:MODEL:STEPS",
                        help="also train MODEL on all of TASK's data for STEPS steps (stored in long_runs)")
    args = parser.parse_args(argv)
    if args.tasks is None:
        args.tasks = [] if args.merge or args.long else list(TASKS)
    if args.out.exists() and not (args.force or args.update):
        print(f"error: {args.out} exists; pass --force to overwrite it or --update to replace only the runs "
              "computed (or merged) now.", file=sys.stderr)
        return 2
    jobs = [(t, m, f, s, args.threads, None) for t in args.tasks for f in (args.fractions or TASKS[t].fractions)
            for s in args.seeds for m in args.models]
    jobs += [(t, m, 1.0, s, args.threads, steps) for t, m, steps in args.long for s in args.seeds]
    start = time.perf_counter()
    rows, long_runs = [], []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for job, row in zip(jobs, pool.map(_run, jobs)):
            (rows if job[-1] is None else long_runs).append(row)
            print(f"{row['task']:>14} {row['model']:>6} {row['fraction']:>5.2f} seed {row['seed']}: "
                  f"test {row['test_accuracy']:.3f} train {row['train_accuracy']:.3f} loss {row['train_loss']:.3f} "
                  f"({row['seconds']:.0f} s)",
                  flush=True)
    for path in args.merge:
        rows += json.loads(path.read_text())["rows"]
    key = lambda r: (r["task"], r["model"], r["fraction"], r["seed"])  # noqa: E731
    table = {"rows": []}
    if args.update and args.out.exists():
        table = json.loads(args.out.read_text())
        new = {key(r) for r in rows}
        table["rows"] = [r for r in table["rows"] if key(r) not in new]
    table["rows"] = sorted(table["rows"] + rows, key=key)
    long_key = lambda r: (r["task"], r["model"], r["steps"], r["seed"])  # noqa: E731
    new_long = {long_key(r) for r in long_runs}
    table["long_runs"] = sorted([r for r in table.get("long_runs", []) if long_key(r) not in new_long] + long_runs,
                                key=long_key)
    table["tasks"] = {task: _settings(task, table["rows"]) for task in sorted({r["task"] for r in table["rows"]})}
    table["summary"] = summarize(table["rows"], by=SUMMARY_BY)
    table["environment"] = {"torch": torch.__version__, "python": platform.python_version(),
                            "machine": platform.machine(), "threads_per_run": args.threads,
                            "note": "seconds are wall-clock on a shared, loaded CPU; accuracies do not depend on it"}
    for stale in ("seeds", "total_seconds"):  # keys of earlier versions of this file
        table.pop(stale, None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    for s in table["summary"]:
        print(f"{s['task']:>14} {s['model']:>6} {s['fraction']:>5.2f}: {s['mean']:.3f} +- {s['std']:.3f}")
    print(f"wrote {args.out} ({len(rows)} runs trained or merged in {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
