"""Why the shapes recipe initialises and scales as it does: 4 variants, one schedule (the training lesson, section 5).

Trains the shapes course model with its recipe (seed 0, data seed 0) four times, changing only
the weight initialisation (``"jax"``, the paper's code, or ``"timm"``, std 0.02) and the input
scale (``[-1, 1]`` as the paper, or the raw ``[0, 1]``), and writes the test accuracy after every
epoch and the training time of each to a JSON table that the training lesson shows:

    python benchmarks/shapes_recipe.py                 # -> benchmarks/results/shapes_recipe.json
    python benchmarks/shapes_recipe.py --out /tmp/t.json --variants "timm init, [0, 1]"

The file is not overwritten without ``--force``. ``tests/training/test_shapes_recipe.py`` checks the table
against the recipe and the committed checkpoint (same seed, so the recipe row's accuracy must be
the checkpoint's).
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

from vit_edu.training.recipes import COURSE_RECIPES, course_data, train_course_model

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "shapes_recipe.json"
RECIPE = COURSE_RECIPES["shapes"]
VARIANTS = {  # name -> (weight_init, input_normalization)
    "jax init, [-1, 1] (the recipe)": ("jax", (0.5, 0.5)),
    "jax init, [0, 1]": ("jax", None),
    "timm init, [-1, 1]": ("timm", (0.5, 0.5)),
    "timm init, [0, 1]": ("timm", None),
}


def variant_recipe(name: str):
    """The shapes recipe with this variant's initialisation and input scale."""
    weight_init, normalization = VARIANTS[name]
    return RECIPE.updated(model={"weight_init": weight_init}, input_normalization=normalization)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    args = parser.parse_args()
    if args.out.exists() and not args.force:
        parser.error(f"{args.out} exists; pass --force to overwrite it or --out to write elsewhere.")
    torch.set_num_threads(args.threads)
    data = course_data("shapes", data_seed=0)
    rows = []
    for name in args.variants:
        run = train_course_model("shapes", seed=0, data=data, progress=False, recipe=variant_recipe(name))
        history = run.history
        rows.append({"variant": name, "weight_init": VARIANTS[name][0],
                     "input_normalization": VARIANTS[name][1], "test_accuracy": history.test_accuracy,
                     "train_loss": history.train_loss, "seconds": round(history.total_seconds, 1)})
        print(f"{name:32s} test accuracy per epoch "
              f"{' '.join(f'{a:.3f}' for a in history.test_accuracy)}  ({history.total_seconds:.0f} s)", flush=True)
    table = {
        "settings": {"model": RECIPE.model, "training": RECIPE.training, "data": RECIPE.data, "seed": 0,
                     "data_seed": 0, "threads": args.threads},
        "machine": {"torch": torch.__version__, "platform": platform.platform(), "cpus": os.cpu_count()},
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
