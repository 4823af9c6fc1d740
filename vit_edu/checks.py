"""Input checks shared by the model's files, so each of them opens with its math, not with guards.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, wrong value)
with a message that names the parameter, says what was expected and, where there is one, the fix.
"""

from __future__ import annotations

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


def check_image_batch(
    images: object,
    channels: int | None = None,
    image_size: tuple[int, int] | None = None,
    patch_size: tuple[int, int] | None = None,
    floating: bool = True,
) -> None:
    """``images`` must be a (B, C, H, W) tensor (float unless ``floating=False``); optionally with C
    channels, of size H x W, or cut into whole P x P patches.

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
