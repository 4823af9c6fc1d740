"""The data-scale sweep of the transfer lesson: ViT vs CNN pre-trained on 1k-64k images, then transferred.

For every model of ``vit_edu.training.crossover.MODELS``, every pre-training size of ``SIZES`` and
seeds 0/1/2: pre-train with the same number of optimiser steps (``CROSSOVER_RECIPE``), then evaluate
on the downstream digits by fine-tuning at 10 labels per class and by the paper's linear few-shot
ridge regression at 1/5/10/25 labels per class (``vit_edu.training.crossover.run_point``). Prints
the table and writes every per-seed row, the summary and the recipe to JSON, and the figure
(``vit_edu.viz.crossover.plot_crossover``) to a PNG beside it:

    python benchmarks/crossover.py                 # -> benchmarks/results/crossover.json and crossover.png
    python benchmarks/crossover.py --models vit --sizes 1000 --seeds 0 --out /tmp/point.json
    python benchmarks/crossover.py --figure-only   # redraw the PNG from the committed JSON

Every finished run is appended to ``<out>.partial.jsonl`` first; ``--resume`` skips the runs found
there (an interrupted hour is not lost), and the file is removed once the table is written.
Runs use ``--threads`` torch threads each (default 1) in ``--workers`` processes (default 2); a run
is deterministic for a machine and thread count, so the table does not depend on ``--workers``. Each
worker keeps freed memory for reuse (``common.keep_freed_memory``): without it the CNN's convolutions
spend a third of their time in page faults; the arithmetic, and so the table, is the same either way.
Nothing is overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

try:
    from benchmarks.common import keep_freed_memory
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from common import keep_freed_memory
from vit_edu.data.scenes import PRETRAIN_CLASSES, downstream_data
from vit_edu.training.crossover import (
    CROSSOVER_RECIPE,
    EVALUATIONS,
    MODELS,
    SIZES,
    SUMMARY_BY,
    SUMMARY_ORDER,
    TRANSFER_RECIPE,
    CrossoverRecipe,
    pretrain_pool,
    recipe_as_dict,
    run_point,
)
from vit_edu.training.results import summarize
from vit_edu.viz.crossover import plot_crossover
from vit_edu.viz.render import figure_to_png

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "crossover.json"
_CACHE: dict[str, object] = {}


def _recipe(steps: int | None) -> CrossoverRecipe:
    if steps is None:
        return CROSSOVER_RECIPE
    warmup = min(steps // 2, CROSSOVER_RECIPE.pretrain.training["warmup_steps"])
    pretrain = CROSSOVER_RECIPE.pretrain.updated(training={"steps": steps, "warmup_steps": warmup})
    return dataclasses.replace(CROSSOVER_RECIPE, pretrain=pretrain)


def _run(job: tuple[str, int, int, int, int, int | None]) -> dict:
    model, size, seed, threads, pool_size, steps = job
    torch.set_num_threads(threads)
    if "pool" not in _CACHE:  # one pool (the largest size asked for) and one downstream set per process
        keep_freed_memory()
        _CACHE["pool"] = pretrain_pool(pool_size)
        _CACHE["data"] = downstream_data(32, **TRANSFER_RECIPE.downstream.data)
    return run_point(model, size, seed, pool=_CACHE["pool"], data=_CACHE["data"], recipe=_recipe(steps))


def format_table(summary: list[dict]) -> str:
    """One line per (model, size): mean (min) in % of every evaluation."""
    header = f"{'model':<6}{'size':>7}" + "".join(f"{name.replace('_accuracy', ''):>18}" for name in EVALUATIONS)
    lines = [header, "-" * len(header)]
    for model, size in dict.fromkeys((row["model"], row["size"]) for row in summary[EVALUATIONS[0]]):
        cells = []
        for name in EVALUATIONS:
            row = next(r for r in summary[name] if r["model"] == model and r["size"] == size)
            cells.append(f"{100 * row['mean']:>10.1f} ({100 * row['min']:4.1f})")
        lines.append(f"{model:<6}{size:>7}" + "".join(cells))
    return "\n".join(lines)


def write_figure(table: dict, path: Path) -> None:
    figure = plot_crossover(table["summary"], chance=1 / 10)
    path.write_bytes(figure_to_png(figure))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, help="pre-training steps instead of the recipe's (a quick look)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="overwrite --out and its PNG")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in <out>.partial.jsonl")
    parser.add_argument("--figure-only", action="store_true", help="redraw <out>.png from <out>, no training")
    args = parser.parse_args(argv)
    figure_path = args.out.with_suffix(".png")
    if args.figure_only:
        if figure_path.exists() and not args.force:
            parser.error(f"{figure_path} exists; pass --force to redraw it.")
        write_figure(json.loads(args.out.read_text()), figure_path)
        return 0
    models, seeds = args.models.split(","), [int(s) for s in args.seeds.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(m not in MODELS for m in models) or any(s not in SIZES for s in sizes):
        parser.error(f"models must be among {MODELS} and sizes among {SIZES}.")
    if (args.out.exists() or figure_path.exists()) and not args.force:
        parser.error(f"{args.out} or {figure_path} exists; pass --force to overwrite them or choose another --out.")
    partial = args.out.with_suffix(".partial.jsonl")
    if partial.exists() and not args.resume:
        parser.error(f"{partial} holds runs of an interrupted sweep; pass --resume to keep them or delete it.")
    done = [json.loads(line) for line in partial.read_text().splitlines()] if partial.exists() else []
    have = {(r["model"], r["size"], r["seed"]) for r in done}
    # the ViT runs first (a few minutes, an early look at the result), each model's largest size first
    jobs = [(m, s, seed, args.threads, max(sizes), args.steps)
            for m in models for s in sorted(sizes, reverse=True) for seed in seeds if (m, s, seed) not in have]
    rows = list(done)
    start = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=args.workers) as executor:
        for future in as_completed([executor.submit(_run, job) for job in jobs]):
            row = future.result()
            rows.append(row)
            with partial.open("a", encoding="utf-8") as file:
                file.write(json.dumps(row) + "\n")
            print(f"[{time.perf_counter() - start:6.0f} s] {row['model']} {row['size']:>6} seed {row['seed']}: "
                  f"pre-train loss {row['pretrain_train_loss']:.3f}, test {100 * row['pretrain_test_accuracy']:.1f}%; "
                  f"fine-tune {100 * row['finetune_accuracy']:.1f}%, 10-shot {100 * row['fewshot_10']:.1f}% "
                  f"({row['seconds']:.0f} s)", file=sys.stderr, flush=True)
    order = {"model": MODELS, "size": SIZES, "seed": tuple(seeds)}
    rows.sort(key=lambda r: tuple(order[k].index(r[k]) for k in ("model", "size", "seed")))
    summary = {name: summarize(rows, by=SUMMARY_BY, value=name, order=SUMMARY_ORDER) for name in EVALUATIONS}
    print(format_table(summary))
    table = {"recipe": recipe_as_dict(_recipe(args.steps)), "threads": args.threads, "workers": args.workers,
             "torch": torch.__version__,
             "machine": platform.machine(), "seeds": seeds,
             # wall clock of this invocation (it resumed `resumed_rows` runs made earlier) and the runs' own total
             "wall_seconds": round(time.perf_counter() - start), "resumed_rows": len(done),
             "run_seconds_total": round(sum(row["seconds"] for row in rows)), "chance_accuracy": 0.1,
             "pretrain_chance_loss": math.log(len(PRETRAIN_CLASSES)), "rows": rows, "summary": summary}
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    write_figure(table, figure_path)
    partial.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
