"""Sample photos whose files ship inside the scikit-image wheel (no first-use download), for
qualitative attention maps. Images are float32 in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vit_edu.checks import check_int

# Colour photos whose files ship in the scikit-image wheel (checked in ``photo_path``).
PHOTO_NAMES: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket")
_PHOTO_FILES = {"astronaut": "astronaut.png", "chelsea": "chelsea.png", "coffee": "coffee.png",
                "rocket": "rocket.jpg", "camera": "camera.png"}


def photo_path(name: str) -> Path:
    """The file of a sample photo inside scikit-image's installed data directory.

    Raises:
        ValueError: unknown name.
        FileNotFoundError: the file is not in the installed wheel (it would need a download).
    """
    if not isinstance(name, str) or name not in _PHOTO_FILES:
        raise ValueError(f"unknown photo {name!r}; choose one of {sorted(_PHOTO_FILES)}.")
    import skimage.data

    path = Path(skimage.data.__file__).parent / _PHOTO_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is not installed; vit_edu only uses photos shipped in the scikit-image wheel "
            "(no downloads). Reinstall scikit-image or pick another photo."
        )
    return path


def load_photo(name: str, size: int | None = None) -> np.ndarray:
    """One photo as an (H, W, 3) float32 array in [0, 1]; grey photos are repeated to RGB.

    Args:
        name: one of ``PHOTO_NAMES`` (or ``"camera"``).
        size: if given, centre-crop to a square and resize (with anti-aliasing) to size x size.
    """
    if size is not None:
        check_int(size, "size", hint=" (pixels) or None")
    path = photo_path(name)  # checks the name before scikit-image loads
    from skimage.io import imread
    from skimage.transform import resize

    image = imread(path).astype(np.float32) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)  # (H, W, 3)
    image = image[..., :3]
    if size is not None:
        height, width = image.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top:top + side, left:left + side]  # (side, side, 3)
        image = resize(image, (size, size), anti_aliasing=True, order=1).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def sample_photos(size: int = 32, names: tuple[str, ...] = PHOTO_NAMES) -> torch.Tensor:
    """A batch of square photos (len(names), 3, size, size) float32 in [0, 1], in ``names`` order."""
    if isinstance(names, str) or not isinstance(names, (tuple, list)):
        raise TypeError(f"names must be a tuple of photo names such as ('chelsea',), got {names!r}.")
    if not names:
        raise ValueError(f"names must hold at least one photo name; choose from {sorted(_PHOTO_FILES)}.")
    check_int(size, "size", hint=" (pixels)")
    photos = np.stack([load_photo(name, size) for name in names])  # (n, S, S, 3)
    return torch.from_numpy(photos).permute(0, 3, 1, 2).contiguous()  # (n, 3, S, S)
