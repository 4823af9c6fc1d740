"""Turning a photo into the input a pretrained ViT expects: resize, crop, scale, normalise.

A checkpoint only works with the preprocessing it was trained with. Two conventions are common:

- ``"vit"``: the original JAX code, and ``transformers``' ``ViTImageProcessor`` for the
  ``google/vit-*`` models: resize the whole photo to 224 x 224 (the aspect ratio is *not* kept),
  scale to [0, 1], then x -> (x - 0.5) / 0.5, i.e. values in [-1, 1].
- ``"imagenet"``: the ResNet-era recipe of torchvision and many timm models: resize the shorter
  side to 256 (aspect ratio kept), cut the central 224 x 224, then normalise each channel with
  ImageNet's mean (0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225).

Resizing uses Pillow's bilinear filter, which (unlike ``torch.nn.functional.interpolate``) averages
over all covered pixels when shrinking, as both processors above do.

Shapes: photo (H, W, 3) uint8 -> tensor (3, S, S) float32 with S = ``image_size``.
"""

from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VIT_MEAN = (0.5, 0.5, 0.5)
VIT_STD = (0.5, 0.5, 0.5)
STYLES = {
    "vit": {"resize_size": None, "mean": VIT_MEAN, "std": VIT_STD},
    "imagenet": {"resize_size": 256, "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
}


def _to_uint8_rgb(image) -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4), uint8 or float in [0, 1], or a PIL image -> (H, W, 3) uint8."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)  # grey -> RGB
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4) (channels last), got shape {array.shape}.")
    array = array[..., :3]  # drop alpha
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"image is empty (shape {array.shape}); give a photo of at least 1 x 1 pixels.")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("a float image must hold finite values in [0, 1], got NaN or infinity; check how it "
                             "was loaded or computed.")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                f"a float image must hold values in [0, 1], got [{array.min():.3g}, {array.max():.3g}]; "
                "pass uint8 pixels (0..255) or divide by 255 first."
            )
        array = np.round(array * 255)
    elif array.dtype == np.uint16:
        raise TypeError("image must be uint8 (0..255) or float in [0, 1], got dtype uint16 (a 16-bit image); "
                        "pass image / 65535.0 (floats in [0, 1]) instead.")
    elif array.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (0..255) or float in [0, 1], got dtype {array.dtype}.")
    return array.astype(np.uint8)


def resize_and_crop(image, image_size: int = 224, resize_size: int | None = None) -> np.ndarray:
    """The geometric part: (H, W, 3) uint8 -> (S, S, 3) uint8.

    Args:
        image: the photo, see :func:`preprocess_image`.
        image_size: S, the side of the output.
        resize_size: ``None`` resizes straight to S x S; an int first resizes the shorter side to
            it (keeping the aspect ratio, the longer side rounded down) and then cuts the centre.
    """
    from PIL import Image

    pixels = _to_uint8_rgb(image)
    for name, value in (("image_size", image_size), ("resize_size", resize_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ValueError(f"{name} must be a positive int (pixels), got {value!r}.")
    if resize_size is None:
        return np.asarray(Image.fromarray(pixels).resize((image_size, image_size), Image.BILINEAR))
    if resize_size < image_size:
        raise ValueError(f"resize_size ({resize_size}) must be >= image_size ({image_size}) to crop from it.")
    height, width = pixels.shape[:2]
    if height <= width:
        new_h, new_w = resize_size, int(width * resize_size / height)
    else:
        new_h, new_w = int(height * resize_size / width), resize_size
    resized = np.asarray(Image.fromarray(pixels).resize((new_w, new_h), Image.BILINEAR))  # (new_h, new_w, 3)
    top, left = (new_h - image_size) // 2, (new_w - image_size) // 2
    return resized[top:top + image_size, left:left + image_size]  # (S, S, 3)


def preprocess_image(
    image,
    style: str = "vit",
    image_size: int = 224,
    resize_size: int | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> torch.Tensor:
    """A photo as a normalised (3, S, S) float tensor for a pretrained ViT.

    Args:
        image: (H, W, 3) uint8 pixels (0..255) or floats in [0, 1]; grey and RGBA are converted.
        style: ``"vit"`` or ``"imagenet"`` (see the module docstring); sets the defaults below.
        image_size: S.
        resize_size: overrides the style's (``None`` for ``"vit"``, 256 for ``"imagenet"``).
        mean, std: per-channel statistics; override the style's.

    Returns:
        (3, S, S) float32, (x / 255 - mean) / std. Add the batch axis with ``.unsqueeze(0)``.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, got {style!r}.")
    defaults = STYLES[style]
    resize_size = defaults["resize_size"] if resize_size is None else resize_size
    try:
        mean = np.asarray(defaults["mean"] if mean is None else mean, dtype=np.float32)
        std = np.asarray(defaults["std"] if std is None else std, dtype=np.float32)
    except (TypeError, ValueError) as problem:
        raise TypeError(f"mean and std must be 3 numbers each, got mean={mean!r}, std={std!r}.") from problem
    if mean.shape != (3,) or std.shape != (3,) or not (np.isfinite(mean).all() and np.isfinite(std).all()) \
            or (std <= 0).any():
        raise ValueError(f"mean and std must be 3 numbers (std > 0), got mean={mean.tolist()}, std={std.tolist()}.")
    pixels = resize_and_crop(image, image_size, resize_size).astype(np.float32) / 255.0  # (S, S, 3)
    normalised = (pixels - mean) / std
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1)))  # (3, S, S)


def unnormalize(tensor: torch.Tensor, style: str = "vit") -> np.ndarray:
    """Undo :func:`preprocess_image`'s normalisation for display: (3, S, S) -> (S, S, 3) in [0, 1]."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, got {style!r}.")
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 3 or tensor.shape[0] != 3:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"tensor must be one preprocessed image (3, S, S); got {shape}. For a batch, pass "
                         "tensor[i] (or tensor.squeeze(0) for a batch of one).")
    mean = torch.tensor(STYLES[style]["mean"]).view(3, 1, 1)
    std = torch.tensor(STYLES[style]["std"]).view(3, 1, 1)
    return (tensor.detach().cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()  # (S, S, 3)
