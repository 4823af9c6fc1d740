"""The ``train``, ``pretrain``, ``params`` and ``attention`` commands of ``python -m vit_edu`` (see ``__main__``).

- ``train {digits,shapes} --out CKPT [--epochs N] [--seed S] [--data-seed S] [--threads T] [--force]``:
  train a course model with its recipe (:func:`vit_edu.training.recipes.train_course_model`) and
  save it with its test accuracy and seeds in the metadata.
- ``pretrain --out CKPT [--epochs N] [--seed S] [--threads T] [--force]``: pre-train the transfer lesson's
  tiny ViT (:func:`vit_edu.training.transfer.pretrain`) and save it with its recipe and test accuracy.
- ``params PRESET`` or ``params --image-size 256 --patch-size 32 --dim 1024 --depth 6 --heads 16
  --mlp-dim 2048 --num-classes 1000``: parameters per component (paper Table 1) and FLOPs per
  component for one image, from the closed forms in :mod:`vit_edu.counting`.
- ``attention IMAGE --checkpoint CKPT [--method rollout|cls|grad] --out FIG.png``: the class token's
  attention map of a model on one image (resized to the model's input size), saved as the image,
  the map, and the overlay side by side.

Handlers return an exit code: 0 success, 2 bad arguments or inputs (with a one-line ``error: ...``
on stderr that names the problem and the fix).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

METHODS = ("rollout", "cls", "grad")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
_ARCHITECTURE_FLAGS = ("patch_size", "dim", "depth", "heads", "mlp_dim")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _one_line(problem: BaseException) -> str:
    """An exception as one line of text (an error message's own line breaks become spaces)."""
    return " ".join(str(problem).split()) or type(problem).__name__


def _add_command(commands, name: str, handler, summary: str, description: str, parents=()) -> argparse.ArgumentParser:
    """Register the sub-command ``name`` (``summary``: its line in the list of commands) and its ``handler``."""
    parser = commands.add_parser(name, help=summary, description=description, parents=list(parents))
    parser.set_defaults(handler=handler)
    return parser


def check_checkpoint_arguments(args: argparse.Namespace, example_name: str) -> int | None:
    """The checks shared by ``train`` and ``pretrain``, all made before any work: ``--out`` a new, writable
    ``.safetensors`` file (or ``--force``), ``--threads`` and ``--epochs`` > 0, seeds >= 0 and a device this
    machine has.

    Returns the exit code 2 after printing the error, or None if the arguments are fine.
    """
    from vit_edu.checks import SKLEARN_MAX_SEED, TORCH_MAX_SEED, check_output_path, check_seed
    from vit_edu.training.loop import resolve_device

    out = Path(args.out)
    if out.is_dir():
        return _error(f"--out {out} is a directory; give a file name such as {out / example_name}.")
    for flag, value in (("--threads", args.threads), ("--epochs", args.epochs)):
        if value is not None and value <= 0:
            return _error(f"{flag} must be a positive integer, got {value}.")
    try:
        check_output_path(out, "--out", suffixes=(".safetensors",))
        check_seed(args.seed, "--seed", maximum=TORCH_MAX_SEED)
        if getattr(args, "data_seed", None) is not None:  # digits split with scikit-learn: its range
            check_seed(args.data_seed, "--data-seed", maximum=SKLEARN_MAX_SEED)
        resolve_device(args.device)
    except (TypeError, ValueError) as problem:
        return _error(str(problem).replace("device=", "--device "))
    if out.exists() and not args.force:
        return _error(f"{out} already exists; pass --force to overwrite it or choose another --out.")
    return None


def _save_or_rescue(model, out: Path, overwrite: bool, metadata: dict) -> tuple[Path | None, Exception | None]:
    """Save the trained model to ``out``. If that fails after all (the folder vanished, the disk filled, a file
    appeared there meanwhile), save it to a new file in the temporary folder instead: no training run is lost
    and no file is overwritten.

    Returns:
        ``(None, None)`` when ``out`` was written, else ``(rescue file or None, the error)``.
    """
    from vit_edu.checkpoints.loading import save_checkpoint

    try:
        save_checkpoint(model, out, overwrite=overwrite, metadata=metadata)
        return None, None
    except (OSError, ValueError) as problem:
        failure = problem
    rescue = None
    try:
        handle, rescue = tempfile.mkstemp(prefix=f"{out.stem}-", suffix=".safetensors")
        os.close(handle)
        save_checkpoint(model, rescue, overwrite=True, metadata=metadata)
    except (OSError, ValueError):
        if rescue is not None and os.path.exists(rescue):
            os.remove(rescue)
        return None, failure
    return Path(rescue), failure


def _train_and_save(args: argparse.Namespace, example_name: str,
                    run_training: Callable[[argparse.Namespace], tuple]) -> int:
    """Check the arguments, train with ``run_training(args)`` and save the model with its metadata.

    ``run_training`` returns ``(label, model, history, metadata)``: the name printed, the trained
    model, its :class:`~vit_edu.training.loop.History` and the metadata that only its command records.
    """
    failed = check_checkpoint_arguments(args, example_name)
    if failed is not None:
        return failed
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    label, model, history, metadata = run_training(args)
    accuracy, epochs, seconds = history.final_test_accuracy, len(history.train_loss), history.total_seconds
    metadata = {"seed": args.seed, "epochs": epochs, "test_accuracy": f"{accuracy:.4f}",
                "train_seconds": f"{seconds:.1f}", **metadata}
    out = Path(args.out)
    rescue, problem = _save_or_rescue(model, out, args.force, metadata)
    if problem is not None:
        where = f"the trained model was saved to {rescue} instead; move it where you want it" if rescue else \
            "it could not be saved in the temporary folder either"
        return _error(f"could not write {out} ({_one_line(problem)}); {where}.")
    print(f"{label}: test accuracy {accuracy:.2%} after {epochs} epochs ({seconds:.0f} s); saved {out}")
    return 0


def _train_course(args: argparse.Namespace) -> tuple:
    """``train``'s run for :func:`_train_and_save`."""
    from vit_edu.training.recipes import train_course_model

    run = train_course_model(args.model, epochs=args.epochs, seed=args.seed, data_seed=args.data_seed,
                             device=args.device, progress=not args.no_progress)
    return args.model, run.model, run.history, {"dataset": args.model, "data_seed": args.data_seed,
                                                "num_test": len(run.data.test_labels)}


def _pretrain(args: argparse.Namespace) -> tuple:
    """``pretrain``'s run for :func:`_train_and_save`; the metadata holds the recipe as trained (its epochs)."""
    import json

    import torch

    from vit_edu.training.transfer import PRETRAIN_RECIPE, pretrain

    run = pretrain(epochs=args.epochs, seed=args.seed, device=args.device, progress=not args.no_progress)
    recipe = PRETRAIN_RECIPE.updated(training={"epochs": len(run.history.train_loss)})
    data = PRETRAIN_RECIPE.data
    return "pre-training", run.model, run.history, {
        "task": "pretrain_glyph_shapes", "recipe": json.dumps(recipe.as_dict()), "num_test": data["num_test"],
        "test_seed": data["test_seed"], "threads": torch.get_num_threads(),
    }


def run_train(args: argparse.Namespace) -> int:
    """Train a course model with its recipe and save it with its results."""
    return _train_and_save(args, "model.safetensors", _train_course)


def run_pretrain(args: argparse.Namespace) -> int:
    """Pre-train the transfer lesson's tiny ViT (``PRETRAIN_RECIPE``) and save it with its results."""
    return _train_and_save(args, "pretrained_vit.safetensors", _pretrain)


def _training_flags(device: str, device_help: str) -> argparse.ArgumentParser:
    """The flags ``train`` and ``pretrain`` share, as an ``argparse`` parent parser."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    flags.add_argument("--epochs", type=int, default=None, help="override the recipe's number of epochs")
    flags.add_argument("--seed", type=int, default=0, help="seed of the weights, data order and augmentation")
    flags.add_argument("--device", default=device, help=device_help)
    flags.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    flags.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    flags.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return flags


def add_train(commands) -> None:
    """Register ``train`` on an ``argparse`` subparsers object."""
    from vit_edu.training.recipes import COURSE_MODEL_NAMES

    flags = _training_flags("auto", "auto (GPU if available), cpu, cuda, ...")
    parser = _add_command(commands, "train", run_train, "train a course model and save a checkpoint",
                          "Train a course model with its tuned recipe and save it.", parents=[flags])
    parser.add_argument("model", choices=COURSE_MODEL_NAMES, help="which course model")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the data split / generated data")


def add_pretrain(commands) -> None:
    """Register ``pretrain`` on an ``argparse`` subparsers object."""
    flags = _training_flags("cpu", "cpu (reproduces the committed checkpoint), cuda, ...")
    _add_command(commands, "pretrain", run_pretrain, "pre-train the transfer lesson's tiny ViT and save a checkpoint",
                 "Pre-train the tiny ViT of the transfer lesson on twelve glyph shapes in clutter and save it with "
                 "its test accuracy in the metadata.", parents=[flags])


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
    parser = _add_command(commands, "params", run_params, "parameter count and FLOPs per component",
                          "Parameters (paper Table 1) and FLOPs per component of a ViT preset or a custom "
                          "architecture. Flags given with a preset override it.")
    parser.add_argument("preset", nargs="?", default=None, help="Ti/16, S/16, B/16, B/32, L/16 or H/14 (optional)")
    parser.add_argument("--image-size", type=int, default=None, help="image side in pixels (default 224)")
    parser.add_argument("--patch-size", type=int, default=None, help="P, patch side in pixels")
    parser.add_argument("--dim", type=int, default=None, help="D, token width")
    parser.add_argument("--depth", type=int, default=None, help="L, number of encoder blocks")
    parser.add_argument("--heads", type=int, default=None, help="k, attention heads")
    parser.add_argument("--mlp-dim", type=int, default=None, help="MLP hidden width (4 D in the paper)")
    parser.add_argument("--num-classes", type=int, default=None, help="K (default 1000; 0 = no head)")
    parser.add_argument("--channels", type=int, default=None, help="C, image channels (default 3)")


# Grey images with more than 8 bits per pixel, as Pillow opens them, and their full-scale value. (Pillow opens
# 16-bit RGB(A) PNGs as 8-bit RGB(A) itself.) Its convert("L") would clip them at 255, i.e. turn them white.
HIGH_BIT_DEPTH_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535}


def _open_image(path: Path):
    """``PIL.Image.open``, refusing with a ``ValueError`` an image over Pillow's pixel limit (naming the limit, not
    Pillow's decompression-bomb traceback) and pixels without a known white level (32-bit integer or float)."""
    import re
    import warnings

    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    advice = "shrink it first (e.g. to 4000 pixels on its longer side)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below with a clear message
            image = Image.open(path)
    except Image.DecompressionBombError as problem:
        found = re.search(r"\((\d+) pixels\)", str(problem))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ValueError(f"the image has {size}, more than the limit of {limit:,} pixels (PIL.Image.MAX_IMAGE_PIXELS, "
                         f"a guard against decompression bombs); {advice}") from None
    width, height = image.size
    if limit is not None and width * height > limit:
        image.close()
        raise ValueError(f"the image is {width} x {height} = {width * height:,} pixels, more than the limit of "
                         f"{limit:,} pixels (PIL.Image.MAX_IMAGE_PIXELS, a guard against decompression bombs); "
                         f"{advice}")
    mode = image.mode
    if mode == "F" or (mode == "I" and image.format != "PNG"):  # a PNG holds at most 16 bits a channel
        image.close()
        kind = "32-bit integer" if mode == "I" else "floating-point"
        raise ValueError(f"{kind} pixels (Pillow mode {mode!r}) have no fixed white level; save the image "
                         "as an 8- or 16-bit PNG or a JPEG")
    return image


def _image_error(path: Path, problem: Exception) -> int:
    """The one-line error for an image that cannot be used (``ValueError``: ours, which name their fix)."""
    advice = "" if isinstance(problem, ValueError) else " Give a PNG or JPEG file."
    return _error(f"could not read image {path}: {_one_line(problem).rstrip('.')}.{advice}")


def read_image(path: Path, channels: int, size: tuple[int, int]):
    """An image file -> float tensor (1, C, H, W) in [0, 1], converted to ``channels`` and resized to ``size``.

    8-bit images are scaled by 255, 16-bit grey images by 65535.

    Raises:
        ValueError: an image over Pillow's pixel limit, or a pixel format without a known full scale (32-bit
            integer or float images).
        OSError, PIL.UnidentifiedImageError: not a readable image file.
    """
    import numpy as np
    import torch
    from PIL import Image

    with _open_image(path) as image:
        if image.mode in HIGH_BIT_DEPTH_MODES or image.mode == "I":  # "I": older Pillows' 16-bit grey PNG
            grey = np.asarray(image, dtype=np.float32) / HIGH_BIT_DEPTH_MODES.get(image.mode, 65535)  # (H, W), [0, 1]
            resized = Image.fromarray(grey).resize((size[1], size[0]), Image.Resampling.BILINEAR)
            grey = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)  # (H, W)
            array = grey if channels == 1 else np.repeat(grey[..., None], 3, axis=-1)
        else:
            image = image.convert("L" if channels == 1 else "RGB")
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)
    return torch.from_numpy(np.ascontiguousarray(array))[None]  # (1, C, H, W)


def _class_names(checkpoint: Path, num_classes: int) -> list[str]:
    from vit_edu.checkpoints.loading import read_checkpoint_metadata
    from vit_edu.training.recipes import COURSE_CLASS_NAMES

    try:
        dataset = read_checkpoint_metadata(checkpoint).get("dataset")
    except Exception:  # not a safetensors file with metadata: fall back to indices
        dataset = None
    names = COURSE_CLASS_NAMES.get(dataset, ())
    if len(names) == num_classes:
        return list(names)
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
    from vit_edu.checks import check_output_path

    try:  # matplotlib does not create folders: the folder must exist
        check_output_path(out, "--out", suffixes=FIGURE_SUFFIXES, create_parents=False)
    except ValueError as problem:
        return _error(str(problem))
    if out.exists() and not args.force:
        return _error(f"{out} already exists; pass --force to overwrite it or choose another --out.")
    if not 0.0 <= args.discard_ratio < 1.0:
        return _error(f"--discard-ratio must be in [0, 1), got {args.discard_ratio}; 0.9 is a common choice.")

    import torch
    from PIL import UnidentifiedImageError

    from vit_edu.analysis.attention_maps import upsample_map
    from vit_edu.checkpoints.loading import load_checkpoint
    from vit_edu.viz.render import new_figure

    try:  # the header only: a broken or oversized image is refused before the model loads
        _open_image(image_path).close()
    except (UnidentifiedImageError, OSError, ValueError) as problem:
        return _image_error(image_path, problem)
    try:
        model = load_checkpoint(checkpoint)
    except (OSError, ValueError, TypeError, KeyError) as problem:
        return _error(f"could not load checkpoint {checkpoint}: {_one_line(problem)}")
    config = model.config
    try:
        images = read_image(image_path, config.channels, config.image_size)  # (1, C, H, W)
    except (UnidentifiedImageError, OSError, ValueError) as problem:
        return _image_error(image_path, problem)
    weight = next(model.parameters(), None)
    if weight is not None:
        images = images.to(weight.dtype)  # a checkpoint may hold float16 or float64 weights
    try:
        maps = attention_map(model, images, args.method, args.layer, args.discard_ratio)  # (1, N)
    except (TypeError, ValueError) as problem:
        return _error(str(problem))
    with torch.no_grad():
        probabilities = model(images).softmax(dim=-1)[0]  # (K,)
    names = _class_names(checkpoint, len(probabilities))
    best = int(probabilities.argmax())
    overlay = upsample_map(maps[0].float(), config.grid_size, config.image_size).numpy()  # (H, W)
    picture = images[0].float().permute(1, 2, 0).numpy()  # (H, W, C)
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
    try:
        figure.savefig(out, dpi=figure.dpi)
    except OSError as problem:
        return _error(f"could not write {out}: {_one_line(problem)}.")
    print(f"predicted {names[best]} (p = {probabilities[best]:.3f}); {label} map saved to {out}")
    return 0


def add_attention(commands) -> None:
    """Register ``attention`` on an ``argparse`` subparsers object."""
    parser = _add_command(commands, "attention", run_attention, "save an attention-map overlay of a model on an image",
                          "Run a checkpoint on an image (converted to the model's channels and resized to its "
                          "input size, pixels scaled to [0, 1]) and save the class token's attention map beside "
                          "the image.")
    parser.add_argument("image", help="image file (PNG, JPEG, ...)")
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.safetensors, .npz, .pt, HF folder)")
    parser.add_argument("--method", choices=METHODS, default="rollout",
                        help="rollout (Abnar & Zuidema), cls (last layer's CLS attention), grad (Chefer et al.)")
    parser.add_argument("--out", required=True, help="figure to write (.png, .pdf, .svg, .jpg)")
    parser.add_argument("--layer", type=int, default=-1, help="layer for --method cls (default: the last)")
    parser.add_argument("--discard-ratio", type=float, default=0.9, help="rollout: share of the weakest weights "
                                                                         "dropped per row (default 0.9)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
