"""The ``params``, ``attention`` and ``pretrain`` commands of ``python -m vit_edu`` (registered in ``__main__``).

- ``params PRESET`` or ``params --image-size 256 --patch-size 32 --dim 1024 --depth 6 --heads 16
  --mlp-dim 2048 --num-classes 1000``: parameters per component (paper Table 1) and FLOPs per
  component for one image, from the closed forms in :mod:`vit_edu.counting`.
- ``attention IMAGE --checkpoint CKPT [--method rollout|cls|grad] --out FIG.png``: the class token's
  attention map of a model on one image (resized to the model's input size), saved as the image,
  the map, and the overlay side by side.
- ``pretrain --out CKPT [--epochs N] [--seed S] [--threads T] [--force]``: pre-train lesson 10's
  tiny ViT (:func:`vit_edu.training.transfer.pretrain`) and save it with its recipe and test accuracy.

Handlers return an exit code: 0 success, 2 bad arguments or inputs (with a one-line ``error: ...``
on stderr that names the problem and the fix).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

METHODS = ("rollout", "cls", "grad")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
_ARCHITECTURE_FLAGS = ("patch_size", "dim", "depth", "heads", "mlp_dim")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def check_checkpoint_arguments(args: argparse.Namespace, example_name: str) -> int | None:
    """The checks shared by ``train`` and ``pretrain``: ``--out`` a new file (or ``--force``), ``--threads`` > 0.

    Returns the exit code 2 after printing the error, or None if the arguments are fine.
    """
    out = Path(args.out)
    if out.is_dir():
        return _error(f"--out {out} is a directory; give a file name such as {out / example_name}.")
    if out.exists() and not args.force:
        return _error(f"{out} already exists; pass --force to overwrite it or choose another --out.")
    if args.threads is not None and args.threads <= 0:
        return _error(f"--threads must be a positive integer, got {args.threads}.")
    return None


def _format_count(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:g}"


def _table(title: str, rows: dict[str, int]) -> list[str]:
    total = sum(rows.values())
    width = max(len(name) for name in (*rows, "total"))
    lines = [title, f"  {'component':<{width}}  {'count':>17}  {'share':>6}"]
    for name, value in rows.items():
        lines.append(f"  {name:<{width}}  {value:>17,}  {100 * value / total:>5.1f}%")
    lines.append(f"  {'total':<{width}}  {total:>17,}  100.0%  ({_format_count(total)})")
    return lines


def run_params(args: argparse.Namespace) -> int:
    """Print the parameter and FLOP tables of a preset or of the given architecture."""
    from vit_edu.config import ViTConfig, preset
    from vit_edu.counting import flops_breakdown, parameter_breakdown

    overrides = {name: getattr(args, name) for name in (*_ARCHITECTURE_FLAGS, "image_size", "num_classes", "channels")
                 if getattr(args, name) is not None}
    try:
        if args.preset is not None:
            config = preset(args.preset, **overrides)
        else:
            missing = [f"--{name.replace('_', '-')}" for name in _ARCHITECTURE_FLAGS if name not in overrides]
            if missing:
                return _error(f"give a preset (e.g. B/16) or all of the architecture flags; "
                              f"missing {' '.join(missing)}.")
            config = ViTConfig(**{"image_size": 224, "num_classes": 1000, **overrides})
    except (TypeError, ValueError) as problem:
        return _error(str(problem))
    grid = config.grid_size
    print(f"ViT: image {config.image_size[0]}x{config.image_size[1]}, patch {config.patch_size[0]}x"
          f"{config.patch_size[1]}, N = {config.num_patches} patches ({grid[0]}x{grid[1]}), D = {config.dim}, "
          f"L = {config.depth}, k = {config.heads}, MLP {config.mlp_dim}, C = {config.channels}, "
          f"K = {config.num_classes} classes")
    print("\n".join(_table("parameters", parameter_breakdown(config))))
    print("\n".join(_table("FLOPs per image (a multiply-add = 2 FLOPs; matrix products only)",
                           flops_breakdown(config))))
    return 0


def add_params(commands) -> None:
    """Register ``params`` on an ``argparse`` subparsers object."""
    parser = commands.add_parser(
        "params", help="parameter count and FLOPs per component",
        description="Parameters (paper Table 1) and FLOPs per component of a ViT preset or a custom architecture. "
                    "Flags given with a preset override it.")
    parser.add_argument("preset", nargs="?", default=None, help="Ti/16, S/16, B/16, B/32, L/16 or H/14 (optional)")
    parser.add_argument("--image-size", type=int, default=None, help="image side in pixels (default 224)")
    parser.add_argument("--patch-size", type=int, default=None, help="P, patch side in pixels")
    parser.add_argument("--dim", type=int, default=None, help="D, token width")
    parser.add_argument("--depth", type=int, default=None, help="L, number of encoder blocks")
    parser.add_argument("--heads", type=int, default=None, help="k, attention heads")
    parser.add_argument("--mlp-dim", type=int, default=None, help="MLP hidden width (4 D in the paper)")
    parser.add_argument("--num-classes", type=int, default=None, help="K (default 1000; 0 = no head)")
    parser.add_argument("--channels", type=int, default=None, help="C, image channels (default 3)")
    parser.set_defaults(handler=run_params)


def read_image(path: Path, channels: int, size: tuple[int, int]):
    """An image file -> float tensor (1, C, H, W) in [0, 1], converted to ``channels`` and resized to ``size``."""
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)
    return torch.from_numpy(np.ascontiguousarray(array))[None]  # (1, C, H, W)


def _class_names(checkpoint: Path, num_classes: int) -> list[str]:
    from vit_edu.checkpoints.loading import read_checkpoint_metadata
    from vit_edu.training.recipes import COURSE_RECIPES

    try:
        dataset = read_checkpoint_metadata(checkpoint).get("dataset")
    except Exception:  # not a safetensors file with metadata: fall back to indices
        dataset = None
    recipe = COURSE_RECIPES.get(dataset)
    if recipe is not None and len(recipe.class_names) == num_classes:
        return list(recipe.class_names)
    return [str(index) for index in range(num_classes)]


def attention_map(model, images, method: str, layer: int = -1, discard_ratio: float = 0.9):
    """The class token's (B, N) map of ``model`` on ``images`` with ``method`` in ``METHODS``."""
    import torch

    from vit_edu.analysis.attention_maps import (
        attention_rollout,
        class_token_map,
        cls_attention,
        gradient_weighted_attention,
    )

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if method == "grad":
        return class_token_map(gradient_weighted_attention(model, images))  # (B, N)
    with torch.no_grad():
        _, attentions = model(images, return_attention=True)  # L x (B, k, T, T)
    if method == "cls":
        return cls_attention(attentions, layer, "mean")  # (B, N)
    return class_token_map(attention_rollout(attentions, "mean", discard_ratio))  # (B, N)


def run_attention(args: argparse.Namespace) -> int:
    """Load a checkpoint and an image, compute an attention map, save the overlay figure."""
    image_path, checkpoint, out = Path(args.image), Path(args.checkpoint), Path(args.out)
    if not image_path.is_file():
        return _error(f"image file {image_path} not found (or it is a directory).")
    if not checkpoint.exists():
        return _error(f"checkpoint {checkpoint} not found; train one with `python -m vit_edu train digits --out "
                      f"{checkpoint}` or give the path of an existing one.")
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        return _error(f"--out {out} must end in one of {', '.join(FIGURE_SUFFIXES)}.")
    if out.exists() and not args.force:
        return _error(f"{out} already exists; pass --force to overwrite it or choose another --out.")
    if not out.parent.is_dir():
        return _error(f"the folder of --out ({out.parent}) does not exist; create it first.")
    if not 0.0 <= args.discard_ratio < 1.0:
        return _error(f"--discard-ratio must be in [0, 1), got {args.discard_ratio}; 0.9 is a common choice.")

    import torch
    from PIL import UnidentifiedImageError

    from vit_edu.analysis.attention_maps import upsample_map
    from vit_edu.checkpoints.loading import load_checkpoint
    from vit_edu.viz.render import new_figure

    try:
        model = load_checkpoint(checkpoint)
    except (OSError, ValueError, TypeError, KeyError) as problem:
        return _error(f"could not load checkpoint {checkpoint}: {problem}")
    config = model.config
    try:
        images = read_image(image_path, config.channels, config.image_size)  # (1, C, H, W)
    except (UnidentifiedImageError, OSError, ValueError) as problem:
        return _error(f"could not read image {image_path}: {problem}. Give a PNG or JPEG file.")
    try:
        maps = attention_map(model, images, args.method, args.layer, args.discard_ratio)  # (1, N)
    except (TypeError, ValueError) as problem:
        return _error(str(problem))
    with torch.no_grad():
        probabilities = model(images).softmax(dim=-1)[0]  # (K,)
    names = _class_names(checkpoint, len(probabilities))
    best = int(probabilities.argmax())
    overlay = upsample_map(maps[0], config.grid_size, config.image_size).numpy()  # (H, W)
    picture = images[0].permute(1, 2, 0).numpy()  # (H, W, C)
    label = {"rollout": f"rollout (discard {args.discard_ratio:g})", "cls": f"CLS attention, layer {args.layer}",
             "grad": "gradient-weighted"}[args.method]

    figure = new_figure(7.5, 2.8, dpi=100)
    axes = figure.subplots(1, 3)
    show = dict(cmap="gray", vmin=0, vmax=1) if config.channels == 1 else {}
    axes[0].imshow(picture[..., 0] if config.channels == 1 else picture, **show)
    axes[0].set_title(f"input ({names[best]}, p={probabilities[best]:.2f})", fontsize=9)
    axes[1].imshow(overlay, cmap="inferno")
    axes[1].set_title(label, fontsize=9)
    axes[2].imshow(picture[..., 0] if config.channels == 1 else picture, **show)
    axes[2].imshow(overlay, cmap="inferno", alpha=0.6)
    axes[2].set_title("overlay", fontsize=9)
    for ax in axes:
        ax.axis("off")
    figure.tight_layout()
    figure.savefig(out, dpi=figure.dpi)
    print(f"predicted {names[best]} (p = {probabilities[best]:.3f}); {label} map saved to {out}")
    return 0


def add_attention(commands) -> None:
    """Register ``attention`` on an ``argparse`` subparsers object."""
    parser = commands.add_parser(
        "attention", help="save an attention-map overlay of a model on an image",
        description="Run a checkpoint on an image (converted to the model's channels and resized to its input "
                    "size, pixels scaled to [0, 1]) and save the class token's attention map beside the image.")
    parser.add_argument("image", help="image file (PNG, JPEG, ...)")
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.safetensors, .npz, .pt, HF folder)")
    parser.add_argument("--method", choices=METHODS, default="rollout",
                        help="rollout (Abnar & Zuidema), cls (last layer's CLS attention), grad (Chefer et al.)")
    parser.add_argument("--out", required=True, help="figure to write (.png, .pdf, .svg, .jpg)")
    parser.add_argument("--layer", type=int, default=-1, help="layer for --method cls (default: the last)")
    parser.add_argument("--discard-ratio", type=float, default=0.9, help="rollout: share of the weakest weights "
                                                                         "dropped per row (default 0.9)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.set_defaults(handler=run_attention)


def run_pretrain(args: argparse.Namespace) -> int:
    """Pre-train the transfer lesson's tiny ViT (``PRETRAIN_RECIPE``) and save it with its results."""
    failed = check_checkpoint_arguments(args, "pretrained_vit.safetensors")
    if failed is not None:
        return failed
    out = Path(args.out)
    import json

    import torch

    from vit_edu.checkpoints.loading import save_checkpoint
    from vit_edu.training.transfer import PRETRAIN_RECIPE, pretrain

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    run = pretrain(epochs=args.epochs, seed=args.seed, device=args.device, progress=not args.no_progress)
    history = run.history
    recipe = {**PRETRAIN_RECIPE, "training": {**PRETRAIN_RECIPE["training"], "epochs": len(history.train_loss)}}
    metadata = {
        "task": "pretrain_glyph_shapes", "seed": args.seed, "epochs": len(history.train_loss),
        "recipe": json.dumps(recipe), "num_test": PRETRAIN_RECIPE["data"]["num_test"],
        "test_seed": PRETRAIN_RECIPE["data"]["test_seed"], "test_accuracy": f"{run.test_accuracy:.4f}",
        "train_seconds": f"{history.total_seconds:.1f}", "threads": torch.get_num_threads(),
    }
    save_checkpoint(run.model, out, overwrite=args.force, metadata=metadata)
    print(f"pre-training: test accuracy {run.test_accuracy:.2%} after {len(history.train_loss)} epochs "
          f"({history.total_seconds:.0f} s); saved {out}")
    return 0


def add_pretrain(commands) -> None:
    """Register ``pretrain`` on an ``argparse`` subparsers object."""
    parser = commands.add_parser("pretrain", help="pre-train lesson 10's tiny ViT and save a checkpoint",
                                 description="Pre-train the tiny ViT of lesson 10 (transfer) on twelve glyph shapes "
                                             "in clutter and save it with its test accuracy in the metadata.")
    parser.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's number of epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the data order")
    parser.add_argument("--device", default="cpu", help="cpu (reproduces the committed checkpoint), cuda, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=run_pretrain)
