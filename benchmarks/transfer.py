"""The transfer lesson's sweep: scratch ViT vs fine-tuned vs linear probe vs small CNN, few labels per class.

For every method of ``vit_edu.training.transfer.METHODS`` at 32 px, every budget of labels per class
(5, 10, 20, 50, all) and seeds 0/1/2, train with the same budget of optimiser steps
(``vit_edu.training.transfer.run_transfer``) on digits pasted into clutter, starting from the committed
pre-trained checkpoint; then fine-tune at 48 px with resampled position embeddings. Prints the
table (mean and min over seeds) and writes every per-seed row (test and training accuracy, the last
epoch's training loss), the summary and the recipes. ``--long-steps`` adds the evidence for a model that
stays near chance: the ViT from scratch on all labels, trained that many steps instead of the shared
budget (``long_runs`` in the table):

    python benchmarks/transfer.py                              # -> benchmarks/results/transfer.json
    python benchmarks/transfer.py --methods linear_probe --budgets 5 --seeds 0 --long-steps 0 --out /tmp/row.json

Runs use ``--threads`` torch threads (default 1: tiny models gain nothing from more, and on a shared
CPU extra threads mostly spin). The file is never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
from pathlib import Path

import torch

from vit_edu.checkpoints import read_checkpoint_metadata
from vit_edu.data.scenes import downstream_data
from vit_edu.training.results import summarize
from vit_edu.training.transfer import (
    BUDGETS,
    METHODS,
    NUM_CLASSES,
    SUMMARY_BY,
    SUMMARY_ORDER,
    TRANSFER_RECIPE,
    load_pretrained,
    pretrained_path,
    recipe_as_dict,
    run_transfer,
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "transfer.json"


def _budget(text: str) -> int | None:
    return None if text == "all" else int(text)


def jobs(methods: list[str], budgets: list[int | None], seeds: list[int], high_res: int | None) -> list[tuple]:
    """(method, image size, labels per class, seed) of every run, cheapest data first."""
    runs = [(m, 32, k, s) for k in budgets for m in methods for s in seeds]
    if high_res is not None and "finetune" in methods:
        runs += [("finetune", high_res, k, s) for k in budgets for s in seeds]
    return runs


def format_table(summary: list[dict]) -> str:
    """One line per (method, size): mean (min) test accuracy in % per budget."""
    budgets = sorted({row["per_class"] for row in summary}, key=lambda k: (k is None, k or 0))
    header = f"{'method':<14}{'px':>4}" + "".join(f"{'all' if k is None else k:>14}" for k in budgets)
    lines = [header, "-" * len(header)]
    for method, size in dict.fromkeys((row["method"], row["image_size"]) for row in summary):
        cells = {row["per_class"]: row for row in summary if row["method"] == method and row["image_size"] == size}
        text = "".join(f"{100 * cells[k]['mean']:>7.1f} ({100 * cells[k]['min']:4.1f})" if k in cells else f"{'':>14}"
                       for k in budgets)
        lines.append(f"{method:<14}{size:>4}{text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--budgets", default="5,10,20,50,all", help="labels per class, 'all' = every image")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--high-res", type=int, default=48, help="also fine-tune at this size (0: skip)")
    parser.add_argument("--long-steps", type=int, default=1500,
                        help="also train the scratch ViT on all labels this many steps (0: skip)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    args = parser.parse_args(argv)
    methods, seeds = args.methods.split(","), [int(s) for s in args.seeds.split(",")]
    budgets = [_budget(k) for k in args.budgets.split(",")]
    if any(m not in METHODS for m in methods) or any(k not in BUDGETS for k in budgets):
        parser.error(f"methods must be among {METHODS} and budgets among 5,10,20,50,all.")
    if args.out.exists() and not args.force:
        parser.error(f"{args.out} exists; pass --force to overwrite it or choose another --out.")
    torch.set_num_threads(args.threads)
    pretrained, data = load_pretrained(), {}
    rows = []
    for method, size, per_class, seed in jobs(methods, budgets, seeds, args.high_res or None):
        if size not in data:
            data[size] = downstream_data(size, **TRANSFER_RECIPE.downstream.data)
        row = run_transfer(method, per_class, seed, image_size=size, data=data[size], pretrained=pretrained)
        rows.append(row)
        print(f"{method:<13} {size} px  {'all' if per_class is None else per_class:>4}/class  seed {seed}: "
              f"{100 * row['test_accuracy']:5.1f}%  ({row['seconds']:.0f} s)", file=sys.stderr, flush=True)
    summary = summarize(rows, by=SUMMARY_BY, order=SUMMARY_ORDER)
    print(format_table(summary))
    long_runs = []
    if args.long_steps:
        steps = args.long_steps
        longer = dataclasses.replace(TRANSFER_RECIPE, downstream=TRANSFER_RECIPE.downstream.updated(
            training={"steps": steps, "warmup_steps": steps // 10}))
        for seed in seeds:
            row = run_transfer("scratch", None, seed, data=data.setdefault(32, downstream_data(
                32, **TRANSFER_RECIPE.downstream.data)), pretrained=pretrained, recipe=longer)
            long_runs.append(row)
            print(f"scratch, all labels, {steps} steps, seed {seed}: {100 * row['test_accuracy']:5.1f}%, "
                  f"training loss {row['train_loss']:.3f} (ln 10 = {math.log(NUM_CLASSES):.3f})", file=sys.stderr,
                  flush=True)
    info = read_checkpoint_metadata(pretrained_path())
    table = {"recipe": recipe_as_dict(), "pretrained": {k: info[k] for k in ("test_accuracy", "seed", "epochs")},
             "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
             "num_test": len(data[32].test_labels) if 32 in data else None, "chance_loss": math.log(NUM_CLASSES),
             "rows": rows, "summary": summary, "long_runs": long_runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
