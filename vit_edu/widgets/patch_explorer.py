"""Patch explorer (the patching lesson): how the patch size P cuts an H x W x C image into N = HW/P^2 tokens.

:class:`PatchExplorerState` holds an image and P and computes everything the view shows: the
image with its patch grid, the first tokens of the sequence as an image strip, the patch matrix
x_p of shape (N, P^2 C) (paper Eq. 1), and the numbers N, N + 1 and P^2 C. When H or W is not a
multiple of P it does not fail: it says so, tints the pixels no patch covers, and (with ``crop``)
centre-crops to the largest multiple of P. :class:`PatchExplorerFigure` draws a state on a
pyplot-free figure and updates its artists in place; :func:`patch_explorer_figure` is the static
figure and :func:`patch_explorer_widget` the ipywidgets view, both drawn by the same code.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from vit_edu.data.photos import PHOTO_NAMES, load_photo
from vit_edu.language import speaking, tr
from vit_edu.patches import patchify
from vit_edu.viz.patches import as_picture
from vit_edu.viz.render import figure_to_png, new_figure

# Photos shipped inside the scikit-image wheel (see vit_edu.data); camera stays grey (C = 1).
SAMPLE_IMAGES: tuple[str, ...] = (*PHOTO_NAMES, "camera")
_GREY_PHOTOS = ("camera",)
MIN_P_FOR_GRID_LINES = 4  # below this, 1-pixel grid lines would hide most of the picture
_OUTSIDE_TINT = np.array([0.85, 0.1, 0.1])


def load_sample_image(name: str = "astronaut", size: int = 224) -> np.ndarray:
    """A square sample photo, (size, size, C) float32 in [0, 1], with C = 1 for the grey ``"camera"``."""
    image = load_photo(name, size)  # (S, S, 3); grey photos come repeated to RGB
    return image[:, :, :1] if name in _GREY_PHOTOS else image


class PatchExplorerState:
    """Image + patch size P -> grid image, token strip, patch matrix and the numbers N, N + 1, P^2 C.

    Args:
        images: name -> (H, W, C) array in [0, 1]; ``None`` loads :data:`SAMPLE_IMAGES` at 224 x 224.
        image: the name shown first (default: the first image).
        patch_size: P (square patches).
        crop: centre-crop to a multiple of P when H or W is not one (otherwise explain and show nothing).
        strip_tokens: how many tokens the strip shows before "...", then the last one.
    """

    def __init__(self, images: Mapping[str, Any] | None = None, image: str | None = None,
                 patch_size: int = 16, crop: bool = False, strip_tokens: int = 12) -> None:
        if images is None:
            images = {name: load_sample_image(name) for name in SAMPLE_IMAGES}
        if not images:
            raise ValueError("images must hold at least one image.")
        self.images = {name: as_picture(f"image {name!r}", array) for name, array in images.items()}
        if strip_tokens < 1:
            raise ValueError(f"strip_tokens must be >= 1, got {strip_tokens}.")
        self.strip_tokens = strip_tokens
        self.image_name = next(iter(self.images))
        self.patch_size = 1
        self.crop = bool(crop)
        self.set_image(image if image is not None else self.image_name)
        self.set_patch_size(patch_size)

    # --- setters ------------------------------------------------------------------------------
    def set_image(self, name: str) -> PatchExplorerState:
        """Show image ``name``; returns ``self`` so calls chain."""
        if name not in self.images:
            raise ValueError(f"image must be one of {list(self.images)}, got {name!r}.")
        if self.patch_size > min(self.images[name].shape[:2]):
            raise ValueError(f"patch_size {self.patch_size} is larger than image {name!r}; pick a smaller P first.")
        self.image_name = name
        return self

    def set_patch_size(self, patch_size: int) -> PatchExplorerState:
        """Set P (1 .. the image's shorter side; need not divide it); returns ``self``."""
        if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)):
            raise TypeError(f"patch_size must be an int, got {patch_size!r}.")
        if not 1 <= patch_size <= min(self.image.shape[:2]):
            raise ValueError(f"patch_size must be between 1 and {min(self.image.shape[:2])} (the image's shorter "
                             f"side), got {patch_size}.")
        self.patch_size = int(patch_size)
        return self

    def set_crop(self, crop: bool) -> PatchExplorerState:
        """Centre-crop to a multiple of P when needed (``True``) or only explain (``False``); returns ``self``."""
        self.crop = bool(crop)
        return self

    # --- what the view shows ------------------------------------------------------------------
    @property
    def image(self) -> np.ndarray:
        """The current image, (H, W, C)."""
        return self.images[self.image_name]

    @property
    def divisible(self) -> bool:
        height, width = self.image.shape[:2]
        return height % self.patch_size == 0 and width % self.patch_size == 0

    @property
    def has_sequence(self) -> bool:
        """True when the patches tile the (possibly cropped) image, so a token sequence exists."""
        return self.divisible or self.crop

    @property
    def window(self) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the pixels the patches cover: all of them when H and W are
        multiples of P; the centre crop with ``crop``; otherwise the top-left part a bare Conv2d with
        stride P would read, silently dropping the rest."""
        height, width = self.image.shape[:2]
        kept_h, kept_w = height - height % self.patch_size, width - width % self.patch_size
        if self.crop:
            return (height - kept_h) // 2, (width - kept_w) // 2, kept_h, kept_w
        return 0, 0, kept_h, kept_w

    @property
    def patches(self) -> np.ndarray | None:
        """x_p, (N, P^2 C) in ``vit_edu.patchify`` order; ``None`` when not divisible and not cropping."""
        if not self.has_sequence:
            return None
        top, left, kept_h, kept_w = self.window
        pixels = torch.from_numpy(self.image[top:top + kept_h, left:left + kept_w]).permute(2, 0, 1)  # (C, H, W)
        return patchify(pixels[None], self.patch_size)[0].numpy()  # (N, P^2 C)

    @property
    def summary(self) -> dict[str, Any]:
        """The numbers: N, sequence length N + 1, patch dimension P^2 C, pixels dropped, and a message."""
        height, width, channels = self.image.shape
        p = self.patch_size
        kept_h, kept_w = self.window[2:]
        grid = (kept_h // p, kept_w // p)
        num_patches = grid[0] * grid[1] if self.has_sequence else None
        if self.divisible:
            message = tr("{height} x {width} is a multiple of P = {p}: N = {rows} x {cols} = {num_patches} patches.",
                         height=height, width=width, p=p, rows=grid[0], cols=grid[1], num_patches=num_patches)
        elif self.crop:
            message = tr("centre-cropped {height} x {width} to {kept_h} x {kept_w} (dropped {dropped_rows} "
                         "pixel rows and {dropped_cols} columns): N = {rows} x {cols} = {num_patches} patches.",
                         height=height, width=width, kept_h=kept_h, kept_w=kept_w, dropped_rows=height - kept_h,
                         dropped_cols=width - kept_w, rows=grid[0], cols=grid[1], num_patches=num_patches)
        else:
            sides = [f"{side} = {count} x {p} + {side % p}" for side, count in ((height, grid[0]), (width, grid[1]))]
            message = tr("{height} x {width} is not divisible by P = {p} ({sides}): patchify "
                         "raises a ValueError. A bare Conv2d would silently ignore the red pixels. Crop to {kept_h} x "
                         "{kept_w}, resize, or pick another P.", height=height, width=width, p=p,
                         sides=", ".join(dict.fromkeys(sides)), kept_h=kept_h, kept_w=kept_w)
        return {"image": self.image_name, "height": height, "width": width, "channels": channels,
                "patch_size": p, "divisible": self.divisible, "crop": self.crop, "grid": grid,
                "num_patches": num_patches, "sequence_length": None if num_patches is None else num_patches + 1,
                "patch_dim": p * p * channels, "dropped": (height - kept_h, width - kept_w), "message": message}

    @property
    def labels(self) -> list[str]:
        """Three short lines for the figure: N, sequence length and patch dimension (or the problem)."""
        s = self.summary
        p, c = s["patch_size"], s["channels"]
        n = "N = not defined (see below)" if s["num_patches"] is None else (
            f"N = {s['grid'][0]} x {s['grid'][1]} = {s['num_patches']} patches")
        length = "-" if s["sequence_length"] is None else s["sequence_length"]
        return [n, f"sequence length N + 1 = {length} (with the class token)",
                f"patch dimension P^2 C = {p}^2 x {c} = {s['patch_dim']}"]

    @property
    def grid_image(self) -> np.ndarray:
        """(H, W, 3) picture with white lines between patches and uncovered pixels tinted red."""
        rgb = np.repeat(self.image, 3, axis=2) if self.image.shape[2] == 1 else self.image.copy()
        top, left, kept_h, kept_w = self.window
        outside = np.ones(rgb.shape[:2], dtype=bool)
        outside[top:top + kept_h, left:left + kept_w] = False
        rgb[outside] = 0.4 * rgb[outside] + 0.6 * _OUTSIDE_TINT
        p = self.patch_size
        if p >= MIN_P_FOR_GRID_LINES:
            rgb[top + p:top + kept_h:p, left:left + kept_w] = 1.0  # first row of every patch row but the top one
            rgb[top:top + kept_h, left + p:left + kept_w:p] = 1.0
        return rgb

    def _strip_layout(self) -> list[int | None]:
        """Token indices shown in the strip, ``None`` marking the "..." gap."""
        num_patches = self.summary["num_patches"] or 0
        if num_patches <= self.strip_tokens + 2:
            return list(range(num_patches))
        return [*range(self.strip_tokens), None, num_patches - 1]

    @property
    def token_strip(self) -> np.ndarray:
        """(P, width, 3): the first tokens (and the last) in sequence order, each patch un-flattened
        back to P x P, with white gaps; a 1 x 1 white image when there is no sequence."""
        patches = self.patches
        if patches is None:
            return np.ones((1, 1, 3), dtype=np.float32)
        p, channels = self.patch_size, self.image.shape[2]
        gap = max(1, p // 8)
        tiles = []
        for index in self._strip_layout():
            tile = np.ones((p, p, 3), dtype=np.float32) if index is None else patches[index].reshape(p, p, channels)
            tiles += [np.broadcast_to(tile, (p, p, 3)), np.ones((p, gap, 3), dtype=np.float32)]
        return np.concatenate(tiles[:-1], axis=1)

    @property
    def strip_ticks(self) -> tuple[list[float], list[str]]:
        """x positions (tile centres in strip pixels) and labels (token index, or "...")."""
        p = self.patch_size
        step = p + max(1, p // 8)
        layout = self._strip_layout()
        return ([i * step + (p - 1) / 2 for i in range(len(layout))],
                ["..." if index is None else str(index) for index in layout])


class PatchExplorerFigure:
    """Draws a :class:`PatchExplorerState` on a pyplot-free figure; :meth:`update` redraws in place."""

    def __init__(self, state: PatchExplorerState, width: float = 8.0, height: float = 3.7, dpi: int = 100) -> None:
        self.state = state
        self.figure = new_figure(width, height, dpi)
        grid = self.figure.add_gridspec(2, 2, width_ratios=[1.0, 1.35], height_ratios=[1.0, 2.0],
                                        left=0.02, right=0.98, top=0.82, bottom=0.08, wspace=0.15, hspace=0.55)
        self.ax_image = self.figure.add_subplot(grid[:, 0])
        self.ax_strip = self.figure.add_subplot(grid[0, 1])
        self.ax_matrix = self.figure.add_subplot(grid[1, 1])
        self.ax_matrix.tick_params(labelsize=9)
        self.image_artist = self.ax_image.imshow(state.grid_image, interpolation="nearest")
        self.strip_artist = self.ax_strip.imshow(state.token_strip, interpolation="nearest")
        self.matrix_artist = self.ax_matrix.imshow(np.zeros((1, 1)), aspect="auto", cmap="gray", vmin=0, vmax=1,
                                                   interpolation="nearest")
        self.ax_image.set_axis_off()
        self.ax_strip.set_yticks([])
        self.ax_matrix.xaxis.set_major_locator(MaxNLocator(integer=True))
        self.ax_matrix.yaxis.set_major_locator(MaxNLocator(integer=True))
        self.message = self.ax_matrix.text(0.5, 0.5, "", ha="center", va="center", fontsize=9,
                                           transform=self.ax_matrix.transAxes)
        self.title = self.figure.suptitle("", fontsize=10)
        self.update()

    def update(self) -> PatchExplorerFigure:
        state = self.state
        grid_image, strip, patches = state.grid_image, state.token_strip, state.patches
        height, width = grid_image.shape[:2]
        self.image_artist.set_data(grid_image)
        self.image_artist.set_extent((-0.5, width - 0.5, height - 0.5, -0.5))
        self.ax_image.set_xlim(-0.5, width - 0.5)
        self.ax_image.set_ylim(height - 0.5, -0.5)
        self.ax_image.set_title(f"{state.image_name}, {height} x {width} x {state.image.shape[2]}, P = "
                                f"{state.patch_size}", fontsize=9)
        self.strip_artist.set_data(strip)
        self.strip_artist.set_extent((-0.5, strip.shape[1] - 0.5, strip.shape[0] - 0.5, -0.5))
        self.ax_strip.set_xlim(-0.5, strip.shape[1] - 0.5)
        self.ax_strip.set_ylim(strip.shape[0] - 0.5, -0.5)
        self.ax_strip.set_xticks(*state.strip_ticks)
        self.ax_strip.set_title("the sequence: token 0, 1, 2, ... (reading order)", fontsize=9)
        matrix = np.ones((1, 1)) if patches is None else patches
        self.matrix_artist.set_data(matrix)
        self.matrix_artist.set_extent((-0.5, matrix.shape[1] - 0.5, matrix.shape[0] - 0.5, -0.5))
        self.ax_matrix.set_xlim(-0.5, matrix.shape[1] - 0.5)
        self.ax_matrix.set_ylim(matrix.shape[0] - 0.5, -0.5)
        self.ax_matrix.set_title("" if patches is None else f"$x_p$: one row per patch ($N \\times P^2C$) "
                                 f"{patches.shape[0]} x {patches.shape[1]}", fontsize=9)
        with speaking("en"):  # the figure stays English
            message = state.summary["message"]
        self.message.set_text("" if patches is not None else textwrap.fill(message, 62))
        for axes in (self.ax_strip, self.ax_matrix):
            axes.set_frame_on(patches is not None)
            axes.tick_params(left=patches is not None, bottom=patches is not None,
                             labelleft=patches is not None and axes is self.ax_matrix, labelbottom=patches is not None)
        number, length, dim = state.labels
        self.title.set_text(f"{number}     {length}\n{dim}")
        return self


def patch_explorer_figure(image: str = "astronaut", patch_size: int = 16, crop: bool = False,
                          state: PatchExplorerState | None = None):
    """The static figure of the explorer (same drawing code as the widget)."""
    state = state or PatchExplorerState()
    state.set_crop(crop).set_image(image).set_patch_size(patch_size)
    return PatchExplorerFigure(state).figure


def patch_explorer_widget(state: PatchExplorerState | None = None, max_patch_size: int = 64):
    """Image chooser + patch-size slider + crop checkbox over a :class:`PatchExplorerState`."""
    import ipywidgets as widgets

    from vit_edu.widgets.picture import picture as picture_widget
    from vit_edu.widgets.picture import show

    state = state or PatchExplorerState()
    view = PatchExplorerFigure(state)
    chooser = widgets.Dropdown(options=list(state.images), value=state.image_name, description=tr("image"))
    slider = widgets.IntSlider(value=state.patch_size, min=1, max=max_patch_size, description=tr("patch size P"),
                               continuous_update=False, style={"description_width": "initial"})
    crop = widgets.Checkbox(value=state.crop, description=tr("crop to a multiple of P"))
    picture = picture_widget(figure_to_png(view.figure))

    def redraw(_change: Any = None) -> None:
        state.set_crop(crop.value).set_patch_size(slider.value).set_image(chooser.value)
        view.update()
        show(picture, figure_to_png(view.figure))

    for control in (chooser, slider, crop):
        control.observe(redraw, names="value")
    box = widgets.VBox([widgets.HBox([chooser, slider, crop]), picture])
    box.state, box.view = state, view  # handles for tests and curious students
    return box
