"""Command line: ``python -m vit_edu <command> ...`` (also installed as ``vit-edu``).

Commands:
    train {digits,shapes} --out CKPT [--epochs N] [--seed S] [--data-seed S] [--force]
        Train a course model with its tuned recipe, print the test accuracy and save a
        safetensors checkpoint (config and results in its metadata).
    student-notebooks OUTDIR [--lessons 01,03] [--force]
        Write student editions of the lessons (solutions and hidden tests removed, outputs cleared).
    export-html OUTDIR [--no-execute] [--mathjax local|none|URL] [--force]
        Execute the lessons and export them with an index page: a static site that reads offline.
    params [PRESET] [--image-size S --patch-size P --dim D --depth L --heads k --mlp-dim M --num-classes K]
        Parameters and FLOPs per component (see vit_edu.cli.commands).
    attention IMAGE --checkpoint CKPT [--method rollout|cls|grad] --out FIG.png [--force]
        Save the class token's attention map of a model on an image beside the image.
    pretrain --out CKPT [--epochs N] [--seed S] [--threads T] [--force]
        Pre-train lesson 10's tiny ViT on glyph shapes in clutter and save it (see vit_edu.training.transfer).

Each command is a ``_add_<command>`` function that registers a subparser and a handler, so new
commands are added without touching the others.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _run_train(args: argparse.Namespace) -> int:
    import torch

    from vit_edu.checkpoints.loading import save_checkpoint
    from vit_edu.cli.commands import check_checkpoint_arguments
    from vit_edu.training.recipes import train_course_model

    failed = check_checkpoint_arguments(args, "model.safetensors")
    if failed is not None:
        return failed
    out = Path(args.out)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    run = train_course_model(args.model, epochs=args.epochs, seed=args.seed, data_seed=args.data_seed,
                             device=args.device, progress=not args.no_progress)
    history = run.history
    metadata = {
        "dataset": args.model, "seed": args.seed, "data_seed": args.data_seed, "epochs": len(history.train_loss),
        "test_accuracy": f"{history.final_test_accuracy:.4f}", "num_test": len(run.data.test_labels),
        "train_seconds": f"{history.total_seconds:.1f}",
    }
    save_checkpoint(run.model, out, overwrite=args.force, metadata=metadata)
    print(f"{args.model}: test accuracy {history.final_test_accuracy:.2%} after {len(history.train_loss)} epochs "
          f"({history.total_seconds:.0f} s); saved {out}")
    return 0


def _add_train(commands) -> None:
    from vit_edu.training.recipes import COURSE_MODEL_NAMES

    parser = commands.add_parser("train", help="train a course model and save a checkpoint",
                                 description="Train a course model with its tuned recipe and save it.")
    parser.add_argument("model", choices=COURSE_MODEL_NAMES, help="which course model")
    parser.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's number of epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, data order and augmentation")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the data split / generated data")
    parser.add_argument("--device", default="auto", help="auto (GPU if available), cpu, cuda, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_run_train)


def build_parser() -> argparse.ArgumentParser:
    """The ``vit_edu`` argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(prog="python -m vit_edu", description="vit_edu command line tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    _add_train(commands)
    from vit_edu.classroom.cli import add_classroom_commands  # student-notebooks, export-html

    add_classroom_commands(commands)
    from vit_edu.cli.commands import add_attention, add_params, add_pretrain  # params, attention, pretrain

    add_params(commands)
    add_attention(commands)
    add_pretrain(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command and return its exit code."""
    args = build_parser().parse_args(argv)
    if getattr(args, "epochs", None) is not None and args.epochs <= 0:
        print(f"error: --epochs must be a positive integer, got {args.epochs}.", file=sys.stderr)
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
