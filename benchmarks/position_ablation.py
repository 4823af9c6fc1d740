"""The paper's position-embedding ablation (Appendix D.4, Table 8), retrained: one ViT per kind of E_pos and seed.

The paper trains ViTs with no position embedding, learned 1-D (its default), learned 2-D and
relative positions, and finds "no positions" clearly worse while the kinds with positions are about
equal. Here the same question on the course's digits: the digits recipe with P = 2 (an 8 x 8 digit
is a 4 x 4 grid of N = 16 patches, so where a stroke lies matters), the paper's initialisation
(``weight_init="jax"``) and inputs in [-1, 1], trained once for every ``position_embedding`` of
:class:`vit_edu.config.ViTConfig` ("learned", "learned_2d", "sincos_2d", "none"; relative positions
are not implemented) and every seed, with nothing else changed. Each row records the test accuracy,
the last epoch's training loss, the parameter count and the seconds the run took; the table also
records the recipe, the seeds and the versions:

    python benchmarks/position_ablation.py                  # prints the table, writes nothing
    python benchmarks/position_ablation.py --write          # -> benchmarks/results/position_ablation.json

The class-token-and-positions lesson shows the committed table and checks what it finds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from vit_edu.config import POSITION_EMBEDDING_CHOICES
from vit_edu.training.loop import evaluate
from vit_edu.training.recipes import COURSE_RECIPES, course_data, train_with_recipe
from vit_edu.training.results import summarize

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "position_ablation.json"
SEEDS = (0, 1, 2)
DATA_SEED = 0
# The course's digits recipe with 2 x 2 patches, the paper's initialisation and inputs in [-1, 1]; 20 epochs
# instead of the recipe's 40 keep a run near half a minute on one CPU thread, and the kinds with positions
# are close to their plateau by then.
RECIPE = COURSE_RECIPES["digits"].updated(model={"patch_size": 2, "weight_init": "jax"}, training={"epochs": 20},
                                          input_normalization=(0.5, 0.5))


def run(kind: str, seed: int, data) -> dict:
    """Train one ViT with ``position_embedding=kind`` from scratch; its row of the table."""
    recipe = RECIPE.updated(model={"position_embedding": kind})
    model = recipe.build_model(seed=seed)
    start = time.perf_counter()
    history = train_with_recipe(model, recipe, data.train_images, data.train_labels, seed=seed)
    seconds = time.perf_counter() - start
    return {"position_embedding": kind, "seed": seed,
            "test_accuracy": evaluate(model.eval(), data.test_images, data.test_labels),
            "final_train_loss": history.train_loss[-1], "parameters": model.num_parameters(),
            "seconds": round(seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=list(POSITION_EMBEDDING_CHOICES),
                        choices=list(POSITION_EMBEDDING_CHOICES))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--write", action="store_true", help=f"write the table to --out (default {DEFAULT_OUT})")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = course_data("digits", data_seed=DATA_SEED)
    load_before = os.getloadavg()
    rows = []
    for seed in args.seeds:  # kinds inside seeds: a burst of load from elsewhere hits every kind alike
        for kind in args.kinds:
            row = run(kind, seed, data)
            rows.append(row)
            print(f"{kind:11s} seed {seed}: test accuracy {row['test_accuracy']:.3f}, final train loss "
                  f"{row['final_train_loss']:.3f}, {row['parameters']:,} parameters, {row['seconds']:.0f} s",
                  flush=True)
    summary = summarize(rows, by=("position_embedding",), order={"position_embedding": POSITION_EMBEDDING_CHOICES})
    for line in summary:
        print(f"{line['position_embedding']:11s} mean {line['mean']:.3f}  min {line['min']:.3f}  max {line['max']:.3f}")
    table = {
        "experiment": "position-embedding ablation, retrained (paper Appendix D.4, Table 8)",
        "settings": {"recipe": RECIPE.as_dict(), "varied": "recipe.model['position_embedding']",
                     "task": "digits", "data_seed": DATA_SEED, "seeds": args.seeds, "threads": args.threads,
                     "num_train": len(data.train_labels), "num_test": len(data.test_labels)},
        "notes": "final_train_loss: mean training loss of the last epoch (dropout on, label smoothing); "
                 "seconds: wall clock of one training run on a shared machine (see machine.load_average_1_5_15_min).",
        "machine": {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    "load_average_1_5_15_min": {"before": [round(x, 1) for x in load_before],
                                                "after": [round(x, 1) for x in os.getloadavg()]}},
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
        "summary": summary,
    }
    if args.write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(table, indent=1) + "\n")
        print(f"wrote {args.out}")
    else:
        print("not written; pass --write to store the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
