"""How depth L, width D and patch size P change a tiny ViT's accuracy and training time (the training lesson).

    python benchmarks/training_sweep.py [--seeds 0 1 2] [--epochs 30] [--threads 2] [--out FILE.json]

Trains the digits recipe (``vit_edu.training.recipes.COURSE_RECIPES["digits"]``) and variants that change one
architecture knob each, with the recipe's training settings, for every seed; prints one row per
variant (parameters, N, mean and min test accuracy, mean training time) and optionally writes the
rows as JSON (refusing to overwrite an existing file without ``--force``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

from vit_edu.training.recipes import COURSE_RECIPES, course_data, train_with_recipe

VARIANTS = {
    "recipe (P=4, D=96, L=4)": {},
    "shallower (L=2)": dict(depth=2),
    "deeper (L=6)": dict(depth=6),
    "narrower (D=48)": dict(dim=48, mlp_dim=96),
    "wider (D=192)": dict(dim=192, mlp_dim=384),
    "smaller patches (P=2)": dict(patch_size=2),
}


def sweep(seeds: list[int], epochs: int | None) -> list[dict]:
    """One row per variant: parameters, N, accuracies per seed, seconds per seed."""
    recipe = COURSE_RECIPES["digits"]
    data = course_data("digits")
    rows = []
    for name, change in VARIANTS.items():
        accuracies, seconds = [], []
        for seed in seeds:
            model = recipe.build_model(seed=seed, **change)
            history = train_with_recipe(model, recipe, data.train_images, data.train_labels, data.test_images,
                                        data.test_labels, epochs=epochs, seed=seed, device="cpu")
            accuracies.append(history.final_test_accuracy)
            seconds.append(history.total_seconds)
        rows.append(dict(variant=name, change=change, parameters=model.num_parameters(),
                         num_patches=model.config.num_patches, epochs=len(history.train_loss), seeds=seeds,
                         accuracies=accuracies, seconds=seconds))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the rows as JSON")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    args = parser.parse_args()
    if args.out and Path(args.out).exists() and not args.force:
        print(f"error: {args.out} exists; pass --force to overwrite it.", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rows = sweep(args.seeds, args.epochs)
    print(f"{'variant':<26}{'params':>9}{'N':>4}{'mean acc':>10}{'min acc':>9}{'time':>9}")
    for row in rows:
        print(f"{row['variant']:<26}{row['parameters']:>9,}{row['num_patches']:>4}"
              f"{statistics.mean(row['accuracies']):>10.1%}{min(row['accuracies']):>9.1%}"
              f"{statistics.mean(row['seconds']):>8.1f}s")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
