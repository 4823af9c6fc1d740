"""``python -m vit_edu pretrain --out CKPT [--epochs N] [--seed S] [--threads T] [--force]``.

Pre-trains lesson 10's tiny ViT with :data:`vit_edu.transfer.PRETRAIN_RECIPE`, prints its test
accuracy on the pre-training task and saves a safetensors checkpoint whose metadata records the
accuracy and the seeds. The committed checkpoint was written by::

    python -m vit_edu pretrain --threads 2 --out vit_edu/assets/pretrained_shapes_vit.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run_pretrain(args: argparse.Namespace) -> int:
    import torch

    from .checkpoints import save_checkpoint
    from .transfer import PRETRAIN_RECIPE, pretrain

    out = Path(args.out)
    if out.is_dir():
        print(f"error: --out {out} is a directory; give a file name such as {out / 'pretrained.safetensors'}.",
              file=sys.stderr)
        return 2
    if out.exists() and not args.force:
        print(f"error: {out} already exists; pass --force to overwrite it or choose another --out.", file=sys.stderr)
        return 2
    if args.threads is not None:
        if args.threads <= 0:
            print(f"error: --threads must be a positive integer, got {args.threads}.", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    run = pretrain(epochs=args.epochs, seed=args.seed, device=args.device, progress=not args.no_progress)
    history = run.history
    metadata = {
        "task": "pretrain_glyph_shapes", "seed": args.seed, "epochs": len(history.train_loss),
        "num_train": PRETRAIN_RECIPE["data"]["num_train"], "num_test": PRETRAIN_RECIPE["data"]["num_test"],
        "test_accuracy": f"{run.test_accuracy:.4f}", "train_seconds": f"{history.total_seconds:.1f}",
    }
    save_checkpoint(run.model, out, overwrite=args.force, metadata=metadata)
    print(f"pre-training: test accuracy {run.test_accuracy:.2%} after {len(history.train_loss)} epochs "
          f"({history.total_seconds:.0f} s); saved {out}")
    return 0


def add_pretrain(commands) -> None:
    """Register the ``pretrain`` subcommand on an ``argparse`` subparsers object."""
    parser = commands.add_parser("pretrain", help="pre-train lesson 10's tiny ViT and save a checkpoint",
                                 description="Pre-train the tiny ViT of lesson 10 (transfer) and save it.")
    parser.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's number of epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, data order and augmentation")
    parser.add_argument("--device", default="cpu", help="cpu (reproduces the committed checkpoint), cuda, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_run_pretrain)
