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
        Pre-train the transfer lesson's tiny ViT on glyph shapes in clutter and save it (see vit_edu.training.transfer).

Each command is an ``add_<command>`` function (in :mod:`vit_edu.cli.commands` or
:mod:`vit_edu.classroom.cli`) that registers a subparser and its handler, so new commands are
added without touching the others. A handler returns the exit code: 0, or 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vit_edu.classroom.cli import add_classroom_commands
from vit_edu.cli.commands import add_attention, add_params, add_pretrain, add_train


def build_parser() -> argparse.ArgumentParser:
    """The ``vit_edu`` argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(prog="python -m vit_edu", description="vit_edu command line tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    add_train(commands)
    add_classroom_commands(commands)  # student-notebooks, export-html
    add_params(commands)
    add_attention(commands)
    add_pretrain(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command and return its exit code."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
