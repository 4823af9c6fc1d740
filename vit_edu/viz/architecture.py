"""The ViT at a glance, in the style of the paper's Fig. 1, and a "you are here" strip cut from it.

The figure reads from the bottom up, as the paper's does: the image is cut into patches, each
flattened patch goes through one linear projection, a learned [class] token is put in front and a
position embedding added to every token, L pre-norm encoder blocks mix the tokens, and an MLP head
reads the class token's output. To the right, one encoder block: LayerNorm, multi-head
self-attention, residual sum, LayerNorm, MLP, residual sum.

:func:`architecture_figure` draws all of it; ``highlight`` colours the parts one lesson is about
and greys the rest. :func:`architecture_strip` is the same drawing without the block detail, small
enough to open every lesson. Both return a pyplot-free :class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from vit_edu.viz.render import new_figure

# The parts of the model, bottom to top, and the colour each has when it is highlighted.
STAGES = {
    "patches": "#f4a261",  # the image and its patches
    "projection": "#e9c46a",  # linear projection of flattened patches
    "tokens": "#e76f51",  # [class] token and position embeddings
    "encoder": "#2a9d8f",  # the L encoder blocks (and the block detail)
    "attention": "#8ab17d",  # multi-head self-attention inside a block
    "mlp": "#a8dadc",  # the MLP inside a block
    "head": "#b5838d",  # the MLP head and the class
}
GREY = "#d9d9d9"
TEXT_SIZE = 10  # points at the figure's natural size: readable where the notebook shows it


def _check_highlight(highlight: str | tuple[str, ...] | None) -> frozenset[str]:
    if highlight is None:
        return frozenset(STAGES)
    names = (highlight,) if isinstance(highlight, str) else tuple(highlight)
    unknown = [name for name in names if name not in STAGES]
    if unknown or not names:
        raise ValueError(f"highlight must be None or stage names among {tuple(STAGES)}, got {highlight!r}.")
    return frozenset(names)


def _colour(stage: str, lit: frozenset[str]) -> str:
    return STAGES[stage] if stage in lit else GREY


def _box(ax: Axes, x: float, y: float, width: float, height: float, colour: str, text: str = "",
         size: float = TEXT_SIZE) -> None:
    ax.add_patch(FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=colour, edgecolor="black", linewidth=1.0))
    if text:
        ax.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=size)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, linewidth=1.0, color="black"))


def _demo_image(size: int = 48) -> np.ndarray:
    # a smooth colour field with a dark disc: something whose patches visibly differ
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    image = np.stack([0.55 + 0.4 * x, 0.75 - 0.3 * y, 0.9 - 0.5 * x * y], axis=-1)
    disc = (x - 0.62) ** 2 + (y - 0.4) ** 2 < 0.07
    image[disc] = (0.15, 0.25, 0.45)
    return image.clip(0, 1)


def _draw_model(ax: Axes, lit: frozenset[str], num_patches: int = 9) -> None:
    """The main column of Fig. 1 in data coordinates x in [0, 12], y in [0, 8]."""
    image = _demo_image()
    grid = round(num_patches ** 0.5)
    step = image.shape[0] // grid
    # the image, cut into patches
    ax.imshow(image, extent=(0.0, 1.8, 0.2, 2.0), alpha=1.0 if "patches" in lit else 0.35, zorder=2)
    for k in range(1, grid):
        ax.plot([0.0, 1.8], [0.2 + 1.8 * k / grid] * 2, color="white", linewidth=1.5, zorder=3)
        ax.plot([1.8 * k / grid] * 2, [0.2, 2.0], color="white", linewidth=1.5, zorder=3)
    ax.text(0.9, -0.1, "image", ha="center", va="top", fontsize=TEXT_SIZE)
    # the patch sequence
    slot = 0.95
    x0 = 3.0
    for index in range(num_patches):
        row, col = divmod(index, grid)
        patch = image[row * step:(row + 1) * step, col * step:(col + 1) * step]
        x = x0 + slot * (index + 1)
        ax.imshow(patch, extent=(x, x + 0.6, 0.5, 1.1), alpha=1.0 if "patches" in lit else 0.35, zorder=2)
        _arrow(ax, (x + 0.3, 1.15), (x + 0.3, 1.65))
    ax.text(x0 + slot * (num_patches + 1) / 2 + 0.3, 0.3, "flattened patches", ha="center", va="top",
            fontsize=TEXT_SIZE)
    _arrow(ax, (1.9, 1.1), (x0 + slot - 0.1, 0.8))
    # linear projection
    _box(ax, x0 + slot - 0.1, 1.7, slot * num_patches + 0.2, 0.55, _colour("projection", lit),
         "linear projection of flattened patches  ($E$)")
    # tokens: [class] and the patch embeddings, each with its position embedding
    for index in range(num_patches + 1):
        x = x0 + slot * index
        _arrow(ax, (x + 0.3, 2.3 if index else 2.9), (x + 0.3, 3.05))
        ax.add_patch(Rectangle((x + 0.3, 3.1), 0.32, 0.5, facecolor=_colour("projection", lit) if index else
                               _colour("tokens", lit), edgecolor="black", linewidth=0.8, zorder=3))
        ax.add_patch(FancyBboxPatch((x - 0.05, 3.15), 0.32, 0.4, boxstyle="round,pad=0.0,rounding_size=0.15",
                                    facecolor=_colour("tokens", lit), edgecolor="black", linewidth=0.8, zorder=3))
        ax.text(x + 0.11, 3.35, str(index), ha="center", va="center", fontsize=TEXT_SIZE - 1, zorder=4)
    ax.text(x0 + 0.46, 3.35, "*", ha="center", va="center", fontsize=TEXT_SIZE + 2, zorder=4)
    ax.text(x0 - 0.15, 3.5, "position\nembedding", ha="right", va="center", fontsize=TEXT_SIZE - 1)
    ax.text(x0 - 0.15, 2.55, "* [class] token\n(learned)", ha="right", va="center", fontsize=TEXT_SIZE - 1)
    # encoder
    width = slot * (num_patches + 1)
    _box(ax, x0 - 0.1, 4.0, width, 1.1, _colour("encoder", lit), r"Transformer encoder: $L\times$ block")
    for index in range(num_patches + 1):
        _arrow(ax, (x0 + slot * index + 0.3, 3.65), (x0 + slot * index + 0.3, 3.98))
    # head
    _arrow(ax, (x0 + 0.3, 5.15), (x0 + 0.3, 5.75))
    _box(ax, x0 - 0.1, 5.8, 2.2, 0.6, _colour("head", lit), "MLP head")
    _arrow(ax, (x0 + 1.0, 6.45), (x0 + 1.0, 6.95))
    ax.text(x0 + 1.0, 7.1, "class: cat, dog, digit 7, ...", ha="left", va="bottom", fontsize=TEXT_SIZE)


def _draw_block(ax: Axes, lit: frozenset[str], left: float = 13.6) -> None:
    """One pre-norm encoder block (Eq. 2-3), bottom to top, at x in [left, left + 2.6]."""
    colour = {"Norm": _colour("encoder", lit), "Multi-head\nattention": _colour("attention", lit),
              "MLP": _colour("mlp", lit)}
    centre = left + 1.3
    ax.add_patch(FancyBboxPatch((left - 0.3, 0.3), 3.2, 6.6, boxstyle="round,pad=0.02,rounding_size=0.1",
                                facecolor="white", edgecolor=_colour("encoder", lit) if "encoder" in lit else "grey",
                                linewidth=2.0, linestyle="--"))
    ax.text(centre, 7.05, r"one block ($L\times$)", ha="center", va="bottom", fontsize=TEXT_SIZE)
    ax.text(centre, 0.35, "tokens in", ha="center", va="bottom", fontsize=TEXT_SIZE - 1)
    steps = [("Norm", 1.0), ("Multi-head\nattention", 1.75), ("+", 2.8), ("Norm", 3.5), ("MLP", 4.25), ("+", 5.3)]
    previous = 0.75
    for name, y in steps:
        _arrow(ax, (centre, previous), (centre, y - 0.02))
        if name == "+":
            ax.add_patch(FancyBboxPatch((centre - 0.2, y), 0.4, 0.4, boxstyle="circle,pad=0.0", facecolor="white",
                                        edgecolor="black"))
            ax.text(centre, y + 0.2, "+", ha="center", va="center", fontsize=TEXT_SIZE + 1)
            previous = y + 0.42
        else:
            height = 0.75 if "\n" in name else 0.5
            _box(ax, left, y, 2.6, height, colour[name], name)
            previous = y + height + 0.02
    _arrow(ax, (centre, previous), (centre, 6.3))
    ax.text(centre, 6.35, "tokens out", ha="center", va="bottom", fontsize=TEXT_SIZE - 1)
    # the residual paths: from below each Norm, around its sub-layer, into the "+"
    for start, plus in ((0.87, 2.8), (3.36, 5.3)):
        side = left - 0.15
        ax.plot([centre, side, side], [start, start, plus + 0.2], color="black", linewidth=1.0)
        _arrow(ax, (side, plus + 0.2), (centre - 0.21, plus + 0.2))


def architecture_figure(highlight: str | tuple[str, ...] | None = None) -> Figure:
    """The ViT in the style of the paper's Fig. 1: the model and one encoder block.

    Args:
        highlight: a stage of :data:`STAGES` (or several) to colour, the rest grey; ``None``
            colours everything.
    """
    lit = _check_highlight(highlight)
    figure = new_figure(11.0, 5.0, dpi=100)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    _draw_model(ax, lit)
    _draw_block(ax, lit)
    ax.set_xlim(-1.2, 17.2)
    ax.set_ylim(-0.6, 7.6)
    ax.set_aspect("equal")
    ax.axis("off")
    return figure


def architecture_strip(highlight: str | tuple[str, ...]) -> Figure:
    """The "you are here" strip of a lesson: the stages of :func:`architecture_figure` in one row.

    The same stages and colours as the figure, left to right (image and patches, projection,
    [class] and positions, encoder blocks with attention and MLP, head); ``highlight`` in colour.
    """
    lit = _check_highlight(highlight)
    figure = new_figure(10.0, 1.3, dpi=100)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    image = _demo_image()
    faded = 1.0 if "patches" in lit else 0.35
    ax.imshow(image, extent=(0.0, 0.9, 0.15, 1.05), alpha=faded)
    third = image.shape[0] // 3
    for index, (row, col) in enumerate(((0, 1), (1, 1), (1, 2))):
        ax.imshow(image[row * third:(row + 1) * third, col * third:(col + 1) * third],
                  extent=(1.25 + 0.42 * index, 1.6 + 0.42 * index, 0.42, 0.77), alpha=faded)
    ax.text(1.9, 0.18, "patches", ha="center", va="bottom", fontsize=TEXT_SIZE)
    stages = [  # (stage, x, width, label)
        ("projection", 2.85, 1.35, "linear\nprojection $E$"),
        ("tokens", 4.55, 1.55, "[class] token\n+ positions"),
        ("attention", 6.6, 1.35, "multi-head\nattention"),
        ("mlp", 8.15, 0.9, "MLP"),
        ("head", 10.2, 1.15, "MLP head"),
    ]
    _arrow(ax, (0.95, 0.6), (1.2, 0.6))
    _arrow(ax, (2.55, 0.6), (2.8, 0.6))
    for (stage, x, width, label), following in zip(stages, [*stages[1:], None]):
        _box(ax, x, 0.3, width, 0.6, _colour(stage, lit), label, size=TEXT_SIZE - 0.5)
        if following is not None:
            start = x + width + 0.08
            _arrow(ax, (start, 0.6), (following[1] - 0.08 if following[0] != "mlp" else following[1] - 0.05, 0.6))
    # the encoder: a frame around attention and MLP, "L x" above it
    ax.add_patch(FancyBboxPatch((6.45, 0.14), 2.75, 0.95, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor="none", edgecolor=_colour("encoder", lit) if "encoder" in lit else "grey",
                                linewidth=2.0, linestyle="--"))
    ax.text(7.8, 1.12, r"encoder block, $L\times$", ha="center", va="bottom", fontsize=TEXT_SIZE - 0.5)
    _arrow(ax, (11.42, 0.6), (11.7, 0.6))
    ax.text(11.75, 0.6, "class", ha="left", va="center", fontsize=TEXT_SIZE)
    ax.set_xlim(-0.1, 12.4)
    ax.set_ylim(0.0, 1.45)
    ax.set_aspect("equal")
    ax.axis("off")
    return figure
