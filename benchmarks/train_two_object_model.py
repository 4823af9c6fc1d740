"""Train the two-object ViT (multi-label, both shapes of a scene) and write the committed checkpoint.

    python benchmarks/train_two_object_model.py            # -> vit_edu/assets/two_objects_vit.safetensors
    python benchmarks/train_two_object_model.py --force    # replace it
    python benchmarks/train_two_object_model.py --out /tmp/try.safetensors --seed 1

Trains ``vit_edu.training.multilabel.train_two_object_model`` on one thread (the recipe is sized for about
two minutes there), prints the accuracy (both top-2 logits are the image's two classes) on the test scenes
and on scenes from a seed neither training nor testing used, and saves the model with its metadata
(test accuracy, seeds, epochs, training time, the recipe). An existing file is not overwritten without
``--force``; that is checked before training.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "vit_edu" / "assets" / "two_objects_vit.safetensors"
HELD_OUT_SEED = 101  # training uses seed 2 * data_seed, the test split 2 * data_seed + 1
HELD_OUT_SCENES = 2000


def main() -> int:
    from vit_edu.checkpoints.loading import save_checkpoint
    from vit_edu.checks import check_output_path
    from vit_edu.training.multilabel import (
        checkpoint_metadata,
        train_two_object_model,
        two_object_accuracy,
        two_object_scenes,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    parser.add_argument("--data-seed", type=int, default=0, help="training scenes 2 * s, test scenes 2 * s + 1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads must be a positive integer, got {args.threads}.")
    try:
        check_output_path(args.out, "--out", suffixes=(".safetensors",))
    except ValueError as problem:
        parser.error(str(problem))
    if args.out.exists() and not args.force:
        parser.error(f"{args.out} exists; pass --force to overwrite it or --out to write elsewhere.")
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    run = train_two_object_model(seed=args.seed, progress=not args.no_progress, data_seed=args.data_seed)
    seconds = time.perf_counter() - start
    held_out = two_object_accuracy(run.model, two_object_scenes(HELD_OUT_SCENES, HELD_OUT_SEED))
    metadata = checkpoint_metadata(run, args.seed, args.data_seed)
    save_checkpoint(run.model, args.out, overwrite=args.force, metadata=metadata)
    print(f"both classes right (top-2 == the two classes; chance 1/6):\n"
          f"  test scenes (seed {2 * args.data_seed + 1}, {len(run.data.test.images)}): "
          f"{run.history.final_test_accuracy:.3f}\n"
          f"  held-out scenes (seed {HELD_OUT_SEED}, {HELD_OUT_SCENES}): {held_out:.3f}")
    print(f"training {run.history.total_seconds:.0f} s ({seconds:.0f} s with data) on {args.threads} thread(s), "
          f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.1f}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
