"""Input checks shared across the package, so each module opens with its math, not with guards.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, wrong value)
with a message that names the parameter, says what was expected and, where there is one, the fix.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

Size2d = int | tuple[int, int]


def to_2tuple(value: Size2d, name: str) -> tuple[int, int]:
    """Return ``(h, w)`` for an int or a pair of positive ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a (height, width) tuple of ints, got {value!r}.")
    if pair[0] <= 0 or pair[1] <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}.")
    return pair


def check_int(value: object, name: str, minimum: int = 1, hint: str = "") -> int:
    """``value`` as an int >= ``minimum`` (bools are refused: ``True`` is not a width)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
        bound = "a positive integer" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}{hint}, got {value}.")
    return value


TORCH_MAX_SEED = 2**64 - 1  # torch.manual_seed's largest seed
SKLEARN_MAX_SEED = 2**32 - 1  # scikit-learn's random_state range


def _power_of_two_minus_one(value: int) -> str:
    """``2**64 - 1`` rather than 18446744073709551615."""
    bits = (value + 1).bit_length() - 1
    return f"2**{bits} - 1" if value > 2**16 and value + 1 == 2**bits else str(value)


def check_seed(value: object, name: str = "seed", maximum: int | None = None) -> int:
    """A random seed: an int (or numpy integer) >= 0, and <= ``maximum`` if given.

    numpy refuses negative seeds, scikit-learn seeds above 2**32 - 1 and torch seeds above
    2**64 - 1, each in its own words; checking first names the parameter instead.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int (a random seed such as 0), got {value!r}.")
    if value < 0 or (maximum is not None and value > maximum):
        bound = f"in 0..{_power_of_two_minus_one(maximum)}" if maximum is not None else ">= 0"
        raise ValueError(f"{name} must be an int {bound}, got {value}; use e.g. 0, 1, 2 for repeated runs.")
    return int(value)


def check_number(value: object, name: str, minimum: float | None = None, maximum: float | None = None, *,
                 open_minimum: bool = False, open_maximum: bool = False, hint: str = "") -> float:
    """``value`` as a finite float, optionally within ``minimum``/``maximum`` (``open_*``: bound excluded);
    ``hint`` ends the message, e.g. ``"; 0.1 is typical"``.

    NaN and infinity are refused: both pass a plain ``x > 0`` test (or fail it silently) and then
    turn a model's or a training run's numbers into NaN far from the cause.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if minimum is not None and maximum is not None:
        bounds = f" in {'(' if open_minimum else '['}{minimum:g}, {maximum:g}{')' if open_maximum else ']'}"
    elif minimum is not None:
        bounds = f" {'>' if open_minimum else '>='} {minimum:g}"
    elif maximum is not None:
        bounds = f" {'<' if open_maximum else '<='} {maximum:g}"
    else:
        bounds = ""
    too_low = minimum is not None and (value <= minimum if open_minimum else value < minimum)
    too_high = maximum is not None and (value >= maximum if open_maximum else value > maximum)
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{name} must be a finite number{bounds}, got {value}{hint}.")
    return value


def check_probability(value: object, name: str) -> float:
    """A dropout rate: a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1), got {value!r}.")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}; 0.1 is a common choice.")
    return float(value)


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """One of a few named options."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
    return value


def check_divisible(size: tuple[int, int], patch: tuple[int, int], what: str = "image size") -> None:
    """A ViT cuts an image into whole P x P patches: H and W must be multiples of P_h and P_w."""
    if size[0] % patch[0] or size[1] % patch[1]:
        fixed = (max(size[0] // patch[0], 1) * patch[0], max(size[1] // patch[1], 1) * patch[1])
        raise ValueError(
            f"{what} {size[0]}x{size[1]} is not divisible by patch_size {patch[0]}x{patch[1]}: a ViT cuts the "
            f"image into whole patches. Crop or resize to a multiple of the patch size (e.g. {fixed[0]}x{fixed[1]}) "
            "or choose another patch size."
        )


_CONVERSIONS = {torch.float32: "float()", torch.float64: "double()", torch.float16: "half()",
                torch.bfloat16: "bfloat16()"}


def _conversion(dtype: torch.dtype) -> str:
    """The tensor/module method that converts to ``dtype``, e.g. ``float()``."""
    return _CONVERSIONS.get(dtype, f"to({dtype})")


def _autocast_accepts(images: torch.Tensor) -> bool:
    """Inside ``torch.autocast`` the layers cast float32/16 and bfloat16 inputs themselves (float64 stays as it is)."""
    return images.dtype != torch.float64 and torch.is_autocast_enabled(images.device.type)


def check_image_batch(
    images: object,
    channels: int | None = None,
    image_size: tuple[int, int] | None = None,
    patch_size: tuple[int, int] | None = None,
    floating: bool = True,
    dtype: torch.dtype | None = None,
) -> None:
    """``images`` must be a (B, C, H, W) tensor (float unless ``floating=False``); optionally with C
    channels, of size H x W, cut into whole P x P patches, or of the float ``dtype`` of the weights
    that receive them.

    A wrong size names the fix the model offers (resampling its position embeddings).
    """
    expected = f"(B, {channels}, H, W)" if channels else "(B, C, H, W)"
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape {expected}, got {type(images).__name__}.")
    if images.ndim != 4:
        hint = " For a single image use images.unsqueeze(0)." if images.ndim == 3 else ""
        raise ValueError(f"images must be 4-D (B, C, H, W), got shape {tuple(images.shape)}.{hint}")
    if floating and not torch.is_floating_point(images):
        raise TypeError(
            f"images must be floating point, got dtype {images.dtype}. Convert and normalise first, e.g. "
            "images.float() / 255 (then subtract the mean and divide by the std the model was trained with)."
        )
    if dtype is not None and images.dtype != dtype and not _autocast_accepts(images):
        why = " (torch.from_numpy keeps numpy's float64)" if images.dtype == torch.float64 else ""
        raise TypeError(
            f"images have dtype {images.dtype} but the model's weights are {dtype}; convert the images with "
            f"images.{_conversion(dtype)}{why}, or the model with model.{_conversion(images.dtype)}."
        )
    if channels is not None and images.shape[1] != channels:
        raise ValueError(
            f"images have {images.shape[1]} channels but the model expects channels={channels}; convert the "
            f"images (e.g. grey to RGB with images.expand(-1, 3, -1, -1)) or build the model with "
            f"channels={images.shape[1]}."
        )
    size = (int(images.shape[-2]), int(images.shape[-1]))
    if image_size is not None and size != tuple(image_size):
        raise ValueError(
            f"images are {size[0]}x{size[1]} but the model was built for image_size {image_size[0]}x{image_size[1]}: "
            "its position embeddings belong to that grid. Resize the images, or call "
            f"model.resample_position_embeddings({size}) to interpolate the embeddings to the new size."
        )
    if patch_size is not None:
        check_divisible(size, patch_size)


def check_output_path(path: str | os.PathLike, name: str, *, folder: bool = False, suffixes: Sequence[str] = (),
                      create_parents: bool = True) -> Path:
    """Raise unless ``path`` can be written now, so that a long computation never ends in a failed write.

    Does not check whether ``path`` exists (callers decide about overwriting).

    Args:
        path: the file (or, with ``folder=True``, the folder) that will be written.
        name: how the caller calls it in messages, e.g. ``"--out"`` or ``"outdir"``.
        folder: ``path`` is a folder to write files into (created if missing), not a file.
        suffixes: the file endings allowed, e.g. ``(".safetensors",)``; empty allows any.
        create_parents: missing parent folders will be created by the writer (else they must exist).

    Raises:
        ValueError: a folder where a file is expected (or the other way round), a wrong suffix, a parent
            that is a file or does not exist, or a folder where no file can be created (permissions,
            read-only file system).
    """
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"{name} {path} is a file, not a folder; give a folder to write into (created if missing).")
    if not folder:
        if path.is_dir():
            example = path / f"output{suffixes[0] if suffixes else ''}"
            raise ValueError(f"{name} {path} is a directory; give a file name such as {example}.")
        if suffixes and path.suffix.lower() not in suffixes:
            raise ValueError(f"{name} {path} must end in {' or '.join(suffixes)}, "
                             f"e.g. {path.with_suffix(suffixes[0])}.")
    anchor = path if folder else path.parent
    while not anchor.exists() and anchor.parent != anchor:  # the nearest folder that exists already
        if not create_parents:
            raise ValueError(f"the folder of {name} ({anchor}) does not exist; create it first.")
        anchor = anchor.parent
    if not anchor.is_dir():
        raise ValueError(f"{name} {path} cannot be written: {anchor} is a file, not a folder.")
    try:  # the one reliable test: permissions, ACLs and read-only mounts all show up here
        handle, probe = tempfile.mkstemp(prefix=".vit_edu-write-test-", dir=anchor)
    except OSError as problem:
        raise ValueError(f"{name} {path} cannot be written: no file can be created in {anchor} "
                         f"({problem.strerror or problem}); choose another location.") from problem
    os.close(handle)
    os.remove(probe)
    if path.is_file() and not os.access(path, os.W_OK):
        raise ValueError(f"{name} {path} is read-only; choose another file name or make it writable.")
    return path
