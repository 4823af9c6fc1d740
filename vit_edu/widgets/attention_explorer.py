"""Attention explorer (the attention-maps lesson): where does a trained ViT look, layer by layer, head by head?

:class:`AttentionExplorerState` holds a model and a few images and computes everything the view
shows: the attention map of the class token or of a clicked patch (one row of A, paper §4.5) in
one layer and head (or the mean over the k heads), or of attention rollout / gradient-weighted
relevance (both fuse heads and layers), upsampled to the image and blended as an RGBA overlay,
and the predicted class with its probabilities. One forward pass per image: the L attention
tensors (1, k, T, T) of the current image are cached, so changing the layer, head or patch only
indexes them.

:class:`AttentionExplorerFigure` draws a state on a pyplot-free figure and updates its artists in
place (``set_data``); :func:`attention_explorer_figure` is the static figure (it reads on GitHub and
in exported HTML) and :func:`attention_explorer_widget` the JupyterLab view, both drawn by the same
code. Clicks: the picture is a :class:`~vit_edu.widgets.clickable_image.ClickableImage`, a small
``anywidget`` that reports the clicked PNG pixel (see that module for why anywidget rather than
ipympl); :meth:`AttentionExplorerFigure.image_pixel` maps it to image pixels and
:meth:`AttentionExplorerState.click` to a patch.
"""

from __future__ import annotations

import html
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

from vit_edu.analysis.attention_maps import (
    attention_rollout,
    class_token_map,
    gradient_weighted_attention,
    query_attention,
    upsample_map,
)
from vit_edu.language import speaking, tr
from vit_edu.viz.render import BlitRenderer, new_figure

FUSED_VIEWS = ("rollout", "gradient")  # layer choices that combine all layers and heads
_CMAP = colormaps["inferno"]


def _label(value: Any, index: int, num_classes: int) -> int | None:
    """An image's true class: an index in 0..K-1 or None (a negative index would silently name another class)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or isinstance(value, float) or (
            isinstance(value, torch.Tensor) and (value.ndim != 0 or value.is_floating_point())):
        raise TypeError(f"labels[{index}] must be a class index (int) or None, got {value!r}.")
    try:
        label = operator.index(value)  # int, numpy and 0-d torch integers
    except TypeError:
        raise TypeError(f"labels[{index}] must be a class index (int) or None, got {value!r}.") from None
    if not 0 <= label < num_classes:
        raise ValueError(f"labels[{index}] must be a class index in 0..{num_classes - 1} (K = {num_classes}) or None, "
                         f"got {label}.")
    return label


def _int(value: Any, name: str, size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in 0..{size - 1}, got {value!r}.")
    if not 0 <= value < size:
        raise ValueError(f"{name} must be in 0..{size - 1}, got {value}.")
    return int(value)


class AttentionExplorerState:
    """Model + images -> attention map, overlay and prediction for the current choices.

    Args:
        model: a ``vit_edu.ViT`` (anything with ``.config.patch_size``/``image_size`` whose
            ``forward(images, return_attention=True)`` returns ``(logits, attentions)``).
        images: (n, C, H, W) in [0, 1] (channels 1 or 3 are shown as RGB).
        labels: the true class of each image, or ``None`` where unknown (photos).
        class_names: K names for the model's classes (default ``"class 0"``, ...).
        names: a display name per image (default: true class and index, or ``"image i"``).
        head_fusion, discard_ratio: settings of the ``"rollout"`` view (see ``attention_rollout``).
    """

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, labels: Sequence[int | None] | None = None,
                 class_names: Sequence[str] | None = None, names: Sequence[str] | None = None,
                 head_fusion: str = "mean", discard_ratio: float = 0.9) -> None:
        images = torch.as_tensor(images, dtype=torch.float32)
        if images.ndim != 4 or images.shape[0] == 0:
            raise ValueError(f"images must be (n, C, H, W) with n >= 1, got shape {tuple(images.shape)}.")
        config = model.config
        self.model, self.images = model, images
        self.patch_size = int(config.patch_size if isinstance(config.patch_size, int) else config.patch_size[0])
        self.image_size = tuple(images.shape[-2:])
        if self.image_size[0] % self.patch_size or self.image_size[1] % self.patch_size:
            raise ValueError(f"images of {self.image_size} do not split into {self.patch_size}-pixel patches.")
        self.grid_size = (self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size)
        self.num_layers, self.num_heads, self.num_classes = config.depth, config.heads, config.num_classes
        self.class_names = [f"class {c}" for c in range(self.num_classes)] if class_names is None else list(class_names)
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"class_names must hold K = {self.num_classes} names, got {len(self.class_names)}.")
        self.labels = [None] * len(images) if labels is None else [
            _label(value, index, self.num_classes) for index, value in enumerate(labels)]
        if len(self.labels) != len(images):
            raise ValueError(f"labels must hold one entry per image ({len(images)}), got {len(self.labels)}.")
        if names is None:
            names = [f"image {i}" if y is None else f"{i}: {self.class_names[y]}" for i, y in enumerate(self.labels)]
        self.names = list(names)
        if len(self.names) != len(images):
            raise ValueError(f"names must hold one entry per image ({len(images)}), got {len(self.names)}.")
        self.head_fusion, self.discard_ratio = head_fusion, discard_ratio
        self.layer: int | str = self.num_layers - 1
        self.head: int | str = "mean"
        self.patch: int | None = None  # None = the class token's view
        self.opacity = 0.5  # the plain image is shown beside it, so the map may cover the shape
        self.forward_passes = 0  # how many times the model ran (tests check the cache)
        self._cache: dict[str, Any] = {}
        self.index = -1
        self.set_image(0)

    # --- setters (each returns self) --------------------------------------------------------------
    def set_image(self, index: int) -> AttentionExplorerState:
        index = _int(index, "image index", len(self.images))
        if index != self.index:
            self.index, self._cache = index, {}
            was_training = self.model.training
            self.model.eval()
            try:
                with torch.no_grad():
                    logits, attentions = self.model(self.images[index:index + 1], return_attention=True)
            finally:
                self.model.train(was_training)
            self.forward_passes += 1
            self._cache.update(attentions=[a.detach() for a in attentions],  # L x (1, k, T, T)
                               probabilities=logits.softmax(dim=-1)[0].double().numpy())  # (K,)
        return self

    def set_layer(self, layer: int | str) -> AttentionExplorerState:
        """0..L-1 (one layer's A), ``"rollout"`` or ``"gradient"`` (gradient-weighted relevance)."""
        if isinstance(layer, str):
            if layer not in FUSED_VIEWS:
                raise ValueError(f"layer must be an int in 0..{self.num_layers - 1} or one of {FUSED_VIEWS}, "
                                 f"got {layer!r}.")
            self.layer = layer
        else:
            self.layer = _int(layer, "layer", self.num_layers)
        return self

    def set_head(self, head: int | str) -> AttentionExplorerState:
        """0..k-1 or ``"mean"`` (the average over heads; rollout and gradient always fuse heads)."""
        if isinstance(head, str) and head != "mean":
            raise TypeError(f"head must be an int in 0..{self.num_heads - 1} or 'mean', got {head!r}.")
        self.head = "mean" if head == "mean" else _int(head, "head", self.num_heads)
        return self

    def select_patch(self, patch: int) -> AttentionExplorerState:
        """Query view: where patch p (row-major, p = row * W/P + col) looks."""
        self.patch = _int(patch, "patch", self.grid_size[0] * self.grid_size[1])
        return self

    def select_class_token(self) -> AttentionExplorerState:
        """Class-token view: where the class token (row 0 of A) looks."""
        self.patch = None
        return self

    def set_opacity(self, opacity: float) -> AttentionExplorerState:
        if isinstance(opacity, bool) or not isinstance(opacity, (int, float)) or not 0 <= opacity <= 1:
            raise ValueError(f"opacity must be a number in [0, 1], got {opacity!r}.")
        self.opacity = float(opacity)
        return self

    def patch_at(self, x: float, y: float) -> int | None:
        """The patch under image pixel (x right, y down; pixel (c, r) covers [c, c+1) x [r, r+1)), or None."""
        height, width = self.image_size
        if not (0 <= x < width and 0 <= y < height):
            return None
        return int(y // self.patch_size) * self.grid_size[1] + int(x // self.patch_size)

    def click(self, x: float, y: float) -> int | None:
        """Select the patch under image pixel (x, y) and return its index; outside the image: no change, None."""
        patch = self.patch_at(x, y)
        if patch is not None:
            self.select_patch(patch)
        return patch

    # --- what the view shows -----------------------------------------------------------------------
    @property
    def query_index(self) -> int:
        """Token index of the query: 0 = class token, p + 1 = patch p."""
        return 0 if self.patch is None else self.patch + 1

    def _fused(self, kind: str) -> torch.Tensor:
        if kind not in self._cache:
            if kind == "rollout":
                self._cache[kind] = attention_rollout(self._cache["attentions"], self.head_fusion, self.discard_ratio)
            else:  # one forward and backward pass, for the predicted class
                self._cache[kind] = gradient_weighted_attention(self.model, self.images[self.index:self.index + 1])
                self.forward_passes += 1
        return self._cache[kind]  # (1, T, T)

    @property
    def grid_map(self) -> np.ndarray:
        """The current map, one value per patch: (H/P, W/P)."""
        if isinstance(self.layer, str):
            row = class_token_map(self._fused(self.layer), self.query_index)  # (1, N)
        else:
            row = query_attention(self._cache["attentions"], self.layer, self.head, self.query_index)  # (1, N)
        return row[0].double().numpy().reshape(self.grid_size)

    @property
    def map(self) -> np.ndarray:
        """The current map upsampled to the image (nearest: one flat square per patch), (H, W)."""
        grid = torch.from_numpy(self.grid_map).flatten()  # (N,)
        return upsample_map(grid, self.grid_size, self.image_size).numpy()

    @property
    def image_rgb(self) -> np.ndarray:
        """The current image as (H, W, 3) in [0, 1]."""
        image = self.images[self.index].permute(1, 2, 0).numpy()  # (H, W, C)
        return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]

    @property
    def overlay(self) -> np.ndarray:
        """(H, W, 4) RGBA: the map scaled to its maximum, coloured with inferno, alpha = opacity."""
        values = self.map
        top = values.max()
        rgba = _CMAP(values / top if top > 0 else values)
        rgba[..., 3] = self.opacity
        return rgba

    @property
    def probabilities(self) -> np.ndarray:
        """Softmax of the logits for the current image, (K,)."""
        return self._cache["probabilities"]

    @property
    def predicted_class(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def description(self) -> str:
        """One line naming what the map shows."""
        if self.layer == "rollout":
            method = tr("rollout ({fusion} over heads, discard {ratio:g})", fusion=self.head_fusion,
                        ratio=self.discard_ratio)
        elif self.layer == "gradient":
            method = tr("gradient-weighted attention (for '{name}')", name=self.class_names[self.predicted_class])
        else:
            head = tr("mean over heads") if self.head == "mean" else tr("head {head}", head=self.head)
            method = tr("layer {layer}, {head}", layer=self.layer, head=head)
        if self.patch is None:
            return tr("{method}: where the class token looks", method=method)
        row, col = divmod(self.patch, self.grid_size[1])
        return tr("{method}: where patch {patch} (row {row}, col {col}) looks", method=method, patch=self.patch,
                  row=row, col=col)

    @property
    def title(self) -> str:
        """The image's name and :attr:`description`."""
        return f"{self.names[self.index]} | {self.description}"

    @property
    def prediction_text(self) -> str:
        probability = self.probabilities[self.predicted_class]
        text = tr("predicted: {name} ({probability:.0%})", name=self.class_names[self.predicted_class],
                  probability=probability)
        truth = self.labels[self.index]
        return text if truth is None else text + "\n" + tr("true: {name}", name=self.class_names[truth])

    def top_classes(self, count: int = 3) -> list[tuple[str, float]]:
        """The ``count`` most probable classes with their probabilities, most probable first."""
        order = np.argsort(-self.probabilities, kind="stable")[:count]
        return [(self.class_names[c], float(self.probabilities[c])) for c in order]


class AttentionExplorerFigure:
    """Draws a state: the plain image (left) and the image under the attention map (right), both clickable.

    The two pictures show the same patch grid and the selected patch; a colour bar reads the map
    (its values divided by its maximum). At the default size each picture is 330 pixels tall, so a
    patch of a 32-pixel image is about 40 pixels on screen. The class probabilities are text: in the
    figure's title (static figure) or beside the picture (widget), never a chart that looks clickable.

    :meth:`update` sets the new data on the existing artists. :meth:`render` returns the PNG
    fast by blitting: the static parts (axes, colour bar, panel titles) are drawn once and cached,
    and each render restores that background and redraws only the artists that change.
    ``figure_to_png(view.figure)`` draws everything from scratch and gives the same picture.

    Args:
        state: what to draw.
        show_text: draw the description and the prediction as the title. The widget shows them as
            HTML beside the picture instead: text is the slowest thing Agg draws.
    """

    def __init__(self, state: AttentionExplorerState, width: float = 8.0, height: float = 4.4, dpi: int = 100,
                 show_text: bool = True) -> None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        self.state, self.show_text = state, show_text
        self.figure = new_figure(width, height, dpi)
        self.ax_plain = self.figure.add_axes((0.01, 0.03, 0.42, 0.75))
        self.ax_image = self.figure.add_axes((0.45, 0.03, 0.42, 0.75))
        ax_bar = self.figure.add_axes((0.885, 0.08, 0.02, 0.65))
        colorbar = self.figure.colorbar(ScalarMappable(Normalize(0, 1), _CMAP), cax=ax_bar, ticks=[0, 0.5, 1])
        colorbar.set_label("attention / its maximum", fontsize=10)
        ax_bar.tick_params(labelsize=9)
        self.ax_plain.set_title("the image: click a patch", fontsize=10)
        self.ax_image.set_title("where it looks", fontsize=10)
        height_px, width_px = state.image_size
        p = state.patch_size
        self.plain_artist = self.ax_plain.imshow(state.image_rgb, interpolation="nearest")
        self.image_artist = self.ax_image.imshow(state.image_rgb, interpolation="nearest")
        self.overlay_artist = self.ax_image.imshow(state.overlay, interpolation="nearest")
        lines = [[(x - 0.5, -0.5), (x - 0.5, height_px - 0.5)] for x in range(p, width_px, p)]
        lines += [[(-0.5, y - 0.5), (width_px - 0.5, y - 0.5)] for y in range(p, height_px, p)]
        self.markers, self.grid_lines = [], []
        for ax in (self.ax_plain, self.ax_image):
            ax.set_axis_off()
            self.grid_lines.append(ax.add_collection(LineCollection(lines, colors="white", alpha=0.3, linewidths=0.6)))
            self.markers.append(ax.add_patch(Rectangle((0, 0), p, p, fill=False, edgecolor="cyan", linewidth=2.5)))
        self.marker = self.markers[1]
        self.title = self.figure.suptitle("", fontsize=10, y=0.985, va="top")
        self._dynamic = [self.plain_artist, self.image_artist, self.overlay_artist, *self.grid_lines, *self.markers,
                         self.title]
        self._renderer = BlitRenderer(self.figure, self._dynamic)
        self.update()

    def update(self) -> AttentionExplorerFigure:
        """Set the current state on the existing artists (nothing is drawn yet)."""
        state = self.state
        self.plain_artist.set_data(state.image_rgb)
        self.image_artist.set_data(state.image_rgb)
        self.overlay_artist.set_data(state.overlay)
        for marker in self.markers:
            if state.patch is not None:
                row, col = divmod(state.patch, state.grid_size[1])
                marker.set_xy((col * state.patch_size - 0.5, row * state.patch_size - 0.5))
            marker.set_visible(state.patch is not None)
        with speaking("en"):  # the figure stays English
            text = f"{state.title}\n{state.prediction_text.replace(chr(10), ', ')}" if self.show_text else ""
        self.title.set_text(text)
        return self

    def render(self) -> bytes:
        """PNG bytes of the current artists, by blitting over the cached static background."""
        return self._renderer.render()

    def image_pixel(self, x: float, y: float) -> tuple[float, float]:
        """PNG pixel (x right, y down, as ClickableImage reports) -> image pixel coordinates (x, y).

        A click on either picture counts; anywhere else maps outside the image (no patch).
        """
        height = self.figure.canvas.get_width_height()[1]
        point = (x, height - y)
        axes = next((ax for ax in (self.ax_plain, self.ax_image) if ax.get_window_extent().contains(*point)),
                    self.ax_image)
        data_x, data_y = axes.transData.inverted().transform(point)
        return float(data_x + 0.5), float(data_y + 0.5)  # imshow puts pixel c's centre at c


def attention_explorer_figure(state: AttentionExplorerState, **choices: Any):
    """The static figure of the explorer for ``state`` (same drawing code as the widget).

    ``choices`` are applied first: ``image``, ``layer``, ``head``, ``patch`` (an int, or None
    for the class token) and ``opacity``.
    """
    setters = {"image": state.set_image, "layer": state.set_layer, "head": state.set_head,
               "opacity": state.set_opacity}
    for name, value in choices.items():
        if name == "patch":
            state.select_class_token() if value is None else state.select_patch(value)
        elif name in setters:
            setters[name](value)
        else:
            raise TypeError(f"unknown choice {name!r}; use image, layer, head, patch or opacity.")
    return AttentionExplorerFigure(state).figure


def attention_explorer_widget(state: AttentionExplorerState):
    """Dropdowns (image, layer, head), a view toggle, an opacity slider and a clickable picture.

    Returns a ``VBox`` with handles ``.state``, ``.view``, ``.canvas`` and ``.controls`` (a dict).
    """
    import ipywidgets as widgets

    from vit_edu.widgets.clickable_image import ClickableImage

    view = AttentionExplorerFigure(state, show_text=False)
    style = {"description_width": "initial"}
    layers = [(tr("layer {layer}", layer=i), i) for i in range(state.num_layers)] + [
        (tr("rollout"), "rollout"), (tr("gradient-weighted"), "gradient")]
    controls = {
        "image": widgets.Dropdown(options=[(n, i) for i, n in enumerate(state.names)], value=state.index,
                                  description=tr("image")),
        "layer": widgets.Dropdown(options=layers, value=state.layer, description=tr("layer")),
        "head": widgets.Dropdown(options=[(tr("mean over heads"), "mean")] + [(tr("head {head}", head=h), h)
                                 for h in range(state.num_heads)], value=state.head, description=tr("head")),
        "query": widgets.ToggleButtons(options=[(tr("class token"), "cls"), (tr("clicked patch"), "patch")],
                                       value="cls" if state.patch is None else "patch", description=tr("query"),
                                       style=style),
        "opacity": widgets.FloatSlider(value=state.opacity, min=0.0, max=1.0, step=0.05, description=tr("opacity"),
                                       continuous_update=True, style=style),
    }
    canvas = ClickableImage()
    caption = widgets.HTML()
    last_patch = {"value": state.patch if state.patch is not None else state.patch_at(*(s / 2 for s in
                                                                                       state.image_size[::-1]))}

    def redraw() -> None:
        view.update()
        canvas.set_png(view.render())
        truth = state.labels[state.index]
        classes = " · ".join((f"<b>{html.escape(name)} {p:.0%}</b>" if rank == 0 else f"{html.escape(name)} {p:.0%}")
                             for rank, (name, p) in enumerate(state.top_classes()))
        known = "" if truth is None else tr(" (true: {name})", name=html.escape(state.class_names[truth]))
        predicted = tr("predicted: {classes}{known}", classes=classes, known=known)
        hint = tr("Click a patch on either picture to see where that patch looks.")
        caption.value = f"<b>{html.escape(state.title)}</b><br>{predicted}<br><i>{hint}</i>"

    def on_control(_change: Any = None) -> None:
        state.set_image(controls["image"].value).set_layer(controls["layer"].value)
        state.set_head(controls["head"].value).set_opacity(controls["opacity"].value)
        if controls["query"].value == "cls":
            state.select_class_token()
        else:
            state.select_patch(last_patch["value"])
        redraw()

    def on_click(change: dict) -> None:
        click = change["new"]
        if not click or "x" not in click:
            return
        patch = state.click(*view.image_pixel(click["x"], click["y"]))
        if patch is None:
            return
        last_patch["value"] = patch
        if controls["query"].value != "patch":
            controls["query"].value = "patch"  # triggers on_control, which redraws
        else:
            redraw()

    for control in controls.values():
        control.observe(on_control, names="value")
    canvas.observe(on_click, names="click")
    redraw()
    box = widgets.VBox([widgets.HBox([controls["image"], controls["layer"], controls["head"]]),
                        widgets.HBox([controls["query"], controls["opacity"]]), caption, canvas])
    box.state, box.view, box.canvas, box.controls = state, view, canvas, controls
    return box
