"""The ViT explainer: one view of a whole forward pass of a course model on one image.

Top: the stages of the model (image, patches, embedding, class token, positions, blocks, final
norm, head), click one to read its tensors. Left: the image under a class-token map (raw attention
of the chosen layer, rollout, attention flow or the gradient-weighted map of the class asked
about), click a patch to follow it. Middle: every layer x head, each thumbnail the attention of the
query (the class token, or the clicked patch) over the patches, click one to choose a layer and a
head. Bottom: the logit lens, the class-token prediction read after every block. Right (static
figure) or beside the picture (widget): the chosen stage's real shapes and values.

:class:`ExplainerState` holds the model and the images and computes everything (per image once:
:func:`~vit_edu.analysis.forward_trace.trace_forward` and
:func:`~vit_edu.analysis.forward_trace.explanation_maps`, cached); :class:`ExplainerFigure` draws a
state and redraws only what changes (blitting, as the attention explorer does);
:func:`explainer_figure` is the static figure and :func:`explainer_widget` the JupyterLab view.

Without a kernel (the course's static HTML site) the explainer stays interactive:
:func:`explainer_bundle` precomputes everything the view shows for every image (see its docstring for
the layout), the widget's picture, an :class:`ExplainerCanvas`, stores it in its synced ``bundle``
text, and ``vit_edu/classroom/static/vit_explainer.js`` draws the view from it in the browser.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

from vit_edu.analysis.attention_maps import upsample_map
from vit_edu.analysis.forward_trace import MAP_KINDS, STAGES, ForwardTrace, explanation_maps, trace_forward
from vit_edu.checks import check_choice
from vit_edu.language import speaking, tr
from vit_edu.training.progress import track
from vit_edu.viz.render import BlitRenderer, figure_to_png, new_figure

_CMAP = colormaps["inferno"]


def map_labels() -> dict[str, str]:
    """What each map kind of :data:`~vit_edu.analysis.forward_trace.MAP_KINDS` shows, in the course's current
    language (see :func:`vit_edu.use_language`)."""
    return {"raw": tr("attention of the chosen layer (mean of heads)"), "rollout": tr("attention rollout"),
            "flow": tr("attention flow"), "gradient": tr("gradient-weighted, for the class asked about")}


def static_words() -> dict[str, str]:
    """The words of the kernel-free explainer (``vit_explainer.js``) in the current language; the script fills
    the ``{fields}`` itself."""
    return {
        "image": tr("image"), "map": tr("map"), "class_asked": tr("class asked"),
        "predicted_class": tr("the predicted class"), "class_token": tr("the class token"),
        "patch": tr("patch ({row}, {col})"), "head": tr("head {head}"), "layer": tr("layer {layer}"),
        "after_block": tr("after block {block}"),
        "title": tr("{image}: predicted {label} ({percent}%); query: {query}; map: {map}"),
        "help": tr("Click a stage, a patch (again: back to the class token), a head thumbnail or a column of the "
                   "logit lens. Computed when the lesson ran; stage details are for the class token."),
    }


def _index(value: Any, name: str, size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < size:
        raise ValueError(f"{name} must be an int in 0..{size - 1}, got {value!r}.")
    return int(value)


def _vector(values: torch.Tensor, count: int = 4) -> str:
    shown = ", ".join(f"{float(v):.2f}" for v in values[:count])
    return f"[{shown}, ...]" if values.numel() > count else f"[{shown}]"


class ExplainerState:
    """A model, some images, and what the explainer shows for them.

    Args:
        model: a ``vit_edu.ViT`` with a head and ``pool='cls'``.
        images: (n, C, H, W) in [0, 1].
        class_names: K names (default ``class 0``, ...).
        names: a name per image (default ``image i``).
    """

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, class_names: Sequence[str] | None = None,
                 names: Sequence[str] | None = None) -> None:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a (n, C, H, W) tensor with n >= 1, got {shape}.")
        config = model.config
        self.model, self.images = model, images.float()
        self.patch_size = config.patch_size[0]
        self.grid_size = config.grid_size
        self.num_layers, self.num_heads, self.num_classes = config.depth, config.heads, config.num_classes
        self.class_names = [f"class {c}" for c in range(self.num_classes)] if class_names is None else list(class_names)
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"class_names must hold K = {self.num_classes} names, got {len(self.class_names)}.")
        self.names = [f"image {i}" for i in range(len(images))] if names is None else list(names)
        if len(self.names) != len(images):
            raise ValueError(f"names must hold one name per image ({len(images)}), got {len(self.names)}.")
        self.stage, self.layer, self.head = "blocks", self.num_layers - 1, 0
        self.patch: int | None = None  # None: the class token is the query
        self.map_kind, self.target = "rollout", None  # target None: the predicted class
        self._traces: dict[int, tuple[ForwardTrace, dict[str, torch.Tensor]]] = {}
        self.index = -1
        self.set_image(0)

    # --- choices (each returns self) -------------------------------------------------------------
    def set_image(self, index: int) -> ExplainerState:
        self.index = _index(index, "image index", len(self.images))
        if self.index not in self._traces:
            trace = trace_forward(self.model, self.images[self.index])
            self._traces[self.index] = (trace, explanation_maps(self.model, self.images[self.index], trace))
        self.trace, self.maps = self._traces[self.index]
        return self

    def set_stage(self, stage: str) -> ExplainerState:
        self.stage = check_choice(stage, "stage", STAGES)
        return self

    def set_head(self, layer: int, head: int) -> ExplainerState:
        self.layer = _index(layer, "layer", self.num_layers)
        self.head = _index(head, "head", self.num_heads)
        self.stage = "blocks"
        return self

    def set_layer(self, layer: int) -> ExplainerState:
        self.layer = _index(layer, "layer", self.num_layers)
        self.stage = "blocks"
        return self

    def select_patch(self, patch: int | None) -> ExplainerState:
        """Follow patch ``patch`` (0..N-1, row by row) as the query, or the class token (``None``)."""
        num_patches = self.grid_size[0] * self.grid_size[1]
        self.patch = None if patch is None else _index(patch, "patch", num_patches)
        return self

    def set_map(self, kind: str, target: int | None = None) -> ExplainerState:
        """The map under the image: one of :data:`MAP_KINDS`; ``target`` = the class asked about (gradient)."""
        self.map_kind = check_choice(kind, "map kind", MAP_KINDS)
        self.target = None if target is None else _index(target, "target class", self.num_classes)
        return self

    def patch_at(self, x: float, y: float) -> int | None:
        """Image pixel (x right, y down) -> the patch there, or None outside the image."""
        height, width = self.images.shape[-2:]
        if not (0 <= x < width and 0 <= y < height):
            return None
        return int(y // self.patch_size) * self.grid_size[1] + int(x // self.patch_size)

    # --- what the view shows -----------------------------------------------------------------------
    @property
    def prediction(self) -> int:
        return int(self.trace.logits.argmax())

    @property
    def asked_class(self) -> int:
        return self.prediction if self.target is None else self.target

    @property
    def query(self) -> int:
        """The query token: 0 for the class token, 1 + patch for a patch."""
        return 0 if self.patch is None else 1 + self.patch

    def current_map(self) -> torch.Tensor:
        """(N,) the map under the image, divided by its maximum (so 1 = the map's top patch)."""
        kind = self.map_kind
        if kind == "raw":
            values = self.maps["raw"][self.layer]
        elif kind == "gradient":
            values = self.maps["gradient"][self.asked_class]
        else:
            values = self.maps[kind]
        return values / values.max().clamp_min(1e-12)

    def head_rows(self) -> torch.Tensor:
        """(L, k, N) the query's attention over the patches in every layer and head."""
        return self.trace.attentions[:, :, self.query, 1:]

    def head_mosaic(self) -> np.ndarray:
        """The thumbnails as one array: L x k tiles of the patch grid, each divided by its own maximum,
        separated by one row/column of NaN (drawn as the background)."""
        rows = self.head_rows()
        rows = rows / rows.amax(dim=-1, keepdim=True).clamp_min(1e-12)
        gh, gw = self.grid_size
        mosaic = np.full((self.num_layers * (gh + 1) - 1, self.num_heads * (gw + 1) - 1), np.nan)
        for layer in range(self.num_layers):
            for head in range(self.num_heads):
                top, left = layer * (gh + 1), head * (gw + 1)
                mosaic[top:top + gh, left:left + gw] = rows[layer, head].reshape(gh, gw).numpy()
        return mosaic

    def lens_grid(self) -> np.ndarray:
        """(K, L) probability of each class for the class token after every block (the logit lens)."""
        return self.trace.lens_probabilities(0).T.numpy()

    def image_rgb(self) -> np.ndarray:
        picture = self.images[self.index].permute(1, 2, 0).clamp(0, 1).numpy()
        return np.repeat(picture, 3, axis=2) if picture.shape[2] == 1 else picture

    def overlay(self, opacity: float = 0.55) -> np.ndarray:
        """(H, W, 4) RGBA: the current map, upsampled with nearest so each patch stays a square."""
        full = upsample_map(self.current_map().float(), self.grid_size, tuple(self.images.shape[-2:])).numpy()
        rgba = _CMAP(full)
        rgba[..., 3] = opacity
        return rgba

    def query_name(self) -> str:
        if self.patch is None:
            return tr("the class token")
        row, col = divmod(self.patch, self.grid_size[1])
        return tr("patch ({row}, {col})", row=row, col=col)

    def title(self) -> str:
        probability = float(self.trace.probabilities[self.prediction])
        return tr("{name}: predicted {prediction} ({probability:.0%}); query: {query}; map: {map}",
                  name=self.names[self.index], prediction=self.class_names[self.prediction], probability=probability,
                  query=self.query_name(), map=self.map_kind)

    def detail(self) -> list[str]:
        """The chosen stage with its real shapes and values, one line per fact."""
        trace, stage = self.trace, self.stage
        num_patches, dim = trace.patch_embeddings.shape
        token = self.patch if self.patch is not None else 0
        name = self.query_name() if self.patch is not None else tr("patch ({row}, {col})", row=0, col=0)
        if stage == "image":
            c, h, w = trace.image.shape
            return [tr("image x: {c} x {h} x {w} (C x H x W)", c=c, h=h, w=w),
                    tr("values from {low:.2f} to {high:.2f}", low=float(trace.image.min()),
                       high=float(trace.image.max())),
                    f"P = {self.patch_size}: N = HW / P^2 = {num_patches}"]
        if stage == "patches":
            return [f"x_p: N x P^2 C = {num_patches} x {trace.patches.shape[1]}",
                    f"{name}: {_vector(trace.patches[token])}", tr("one row per patch, row by row")]
        if stage == "embedding":
            return [f"x_p E: N x D = {num_patches} x {dim}", f"E: P^2 C x D = {trace.patches.shape[1]} x {dim}",
                    f"{name}: {_vector(trace.patch_embeddings[token])}",
                    tr("its length |x_p E| = {length:.2f}", length=float(trace.patch_embeddings[token].norm()))]
        if stage == "class token":
            return [tr("x_class: D = {dim} numbers, learned", dim=dim), f"{_vector(trace.class_token)}",
                    tr("put first: T = N + 1 = {seq_len} tokens", seq_len=trace.seq_len)]
        if stage == "positions":
            q = self.query
            return [f"E_pos: T x D = {trace.seq_len} x {dim}", f"{self.query_name()}: {_vector(trace.positions[q])}",
                    f"z_0 = [x_class; x_p E] + E_pos: {trace.seq_len} x {dim}"]
        if stage == "blocks":
            q, layer, head = self.query, self.layer, self.head
            keys = trace.attentions[layer, head, q]
            top = torch.topk(keys, 3).indices.tolist()
            named = ", ".join(tr("class token") if k == 0 else
                              tr("patch {position}", position=divmod(k - 1, self.grid_size[1])) for k in top)
            norms = trace.stream[:, q].norm(dim=-1)
            return [tr("block {layer}: z_{next} = z_{layer} + MSA(LN(z)) + MLP(LN(.))", layer=layer, next=layer + 1),
                    tr("A of layer {layer}: k x T x T = {heads} x {seq_len} x {seq_len}", layer=layer,
                       heads=self.num_heads, seq_len=trace.seq_len),
                    tr("head {head}, {query} reads most from: {named}", head=head, query=self.query_name(),
                       named=named),
                    tr("|z| of the query: {before:.1f} -> {after:.1f}", before=float(norms[layer]),
                       after=float(norms[layer + 1])),
                    tr("attention adds {attention:.1f}, the MLP adds {mlp:.1f}",
                       attention=float(trace.attention_out[layer, q].norm()),
                       mlp=float(trace.mlp_out[layer, q].norm()))]
        if stage == "final norm":
            normed = trace.normed[0]
            return [tr("LN(z_L^0): D = {dim} numbers", dim=dim), f"{_vector(normed)}",
                    tr("mean {mean:.2f}, std {std:.2f} (gain and bias applied)", mean=float(normed.mean()),
                       std=float(normed.std()))]
        order = torch.argsort(trace.probabilities, descending=True).tolist()
        return [tr("logits: K = {classes} = head(LN(z_L^0))", classes=self.num_classes), *(
            tr("{name}: logit {logit:.2f}, p = {p:.1%}", name=self.class_names[c], logit=float(trace.logits[c]),
               p=float(trace.probabilities[c])) for c in order[:4])]


class ExplainerFigure:
    """Draws an :class:`ExplainerState`; :meth:`click` maps a PNG pixel to a choice, :meth:`render` gives PNG bytes.

    Args:
        state: what to draw.
        show_text: draw the stage detail and the title in the figure (the static figure). The widget
            shows them as HTML instead: text is the slowest thing Agg draws.
    """

    def __init__(self, state: ExplainerState, show_text: bool = True, width: float = 10.5, height: float = 6.4) -> None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        self.state, self.show_text = state, show_text
        self.figure = figure = new_figure(width, height)
        gh, gw = state.grid_size
        p = state.patch_size
        h_px, w_px = state.images.shape[-2:]

        self.ax_stages = figure.add_axes((0.01, 0.875, 0.98, 0.075))
        self.ax_stages.set_xlim(0, len(STAGES))
        self.ax_stages.set_ylim(0, 1)
        self.ax_stages.set_axis_off()
        for index, stage in enumerate(STAGES):
            self.ax_stages.add_patch(Rectangle((index + 0.04, 0.05), 0.92, 0.9, facecolor="#e8eef7", edgecolor="0.6"))
            self.ax_stages.text(index + 0.5, 0.5, stage, ha="center", va="center", fontsize=10)
        self.stage_marker = self.ax_stages.add_patch(Rectangle((0, 0.05), 0.92, 0.9, fill=False, edgecolor="tab:red",
                                                              linewidth=2.5))

        self.ax_image = figure.add_axes((0.02, 0.30, 0.27, 0.48))
        self.ax_image.set_axis_off()
        self.ax_image.set_title("the image: click a patch", fontsize=10)
        self.image_artist = self.ax_image.imshow(state.image_rgb(), interpolation="nearest")
        self.overlay_artist = self.ax_image.imshow(state.overlay(), interpolation="nearest")
        lines = [[(x - 0.5, -0.5), (x - 0.5, h_px - 0.5)] for x in range(p, w_px, p)]
        lines += [[(-0.5, y - 0.5), (w_px - 0.5, y - 0.5)] for y in range(p, h_px, p)]
        self.grid_lines = self.ax_image.add_collection(LineCollection(lines, colors="white", alpha=0.3, linewidths=0.6))
        self.patch_marker = self.ax_image.add_patch(Rectangle((0, 0), p, p, fill=False, edgecolor="cyan", linewidth=2))

        self.ax_heads = figure.add_axes((0.36, 0.30, 0.33, 0.48))
        cmap = _CMAP.with_extremes(bad="white")
        self.heads_artist = self.ax_heads.imshow(state.head_mosaic(), cmap=cmap, vmin=0, vmax=1,
                                                 interpolation="nearest")
        self.ax_heads.set_xticks([h * (gw + 1) + (gw - 1) / 2 for h in range(state.num_heads)],
                                 [f"head {h}" for h in range(state.num_heads)])
        self.ax_heads.set_yticks([layer * (gh + 1) + (gh - 1) / 2 for layer in range(state.num_layers)],
                                 [f"layer {layer}" for layer in range(state.num_layers)])
        self.ax_heads.tick_params(length=0)
        for spine in self.ax_heads.spines.values():
            spine.set_visible(False)
        self.ax_heads.set_title("attention of the query, every layer and head: click one", fontsize=10)
        self.head_marker = self.ax_heads.add_patch(Rectangle((0, 0), gw + 1, gh + 1, fill=False, edgecolor="tab:red",
                                                             linewidth=2))
        ax_bar = figure.add_axes((0.70, 0.33, 0.012, 0.42))
        bar = figure.colorbar(ScalarMappable(Normalize(0, 1), _CMAP), cax=ax_bar, ticks=[0, 0.5, 1])
        bar.set_label("share of the largest value", fontsize=9)

        self.ax_lens = figure.add_axes((0.12, 0.05, 0.52, 0.16))
        self.lens_artist = self.ax_lens.imshow(state.lens_grid(), cmap="viridis", vmin=0, vmax=1, aspect="auto",
                                               interpolation="nearest")
        self.ax_lens.set_yticks(range(state.num_classes), state.class_names)
        self.ax_lens.set_xticks(range(state.num_layers), [f"after block {layer}" for layer in range(state.num_layers)])
        self.ax_lens.set_title("logit lens: the class token's prediction after every block", fontsize=10)
        self.lens_marker = self.ax_lens.add_patch(Rectangle((-0.5, -0.5), 1, state.num_classes, fill=False,
                                                            edgecolor="tab:red", linewidth=2))
        ax_lens_bar = figure.add_axes((0.655, 0.05, 0.012, 0.16))
        figure.colorbar(self.lens_artist, cax=ax_lens_bar, ticks=[0, 1]).set_label("p", fontsize=9)

        self.detail_text = figure.text(0.765, 0.78, "", fontsize=9, va="top", ha="left", family="monospace")
        self.title_text = figure.text(0.5, 0.975, "", fontsize=10, ha="center", va="center")
        # in matplotlib's drawing order (images, patches, lines, spines); what lies on top of a changing image
        # (grid lines, the frame) is redrawn with it
        self._dynamic = [self.stage_marker, self.image_artist, self.overlay_artist, self.patch_marker, self.grid_lines,
                         self.heads_artist, self.head_marker, self.lens_artist, self.lens_marker,
                         *self.ax_lens.spines.values(), self.detail_text, self.title_text]
        self._renderer = BlitRenderer(self.figure, self._dynamic)
        self.update()

    def update(self) -> ExplainerFigure:
        """Put the state on the artists (nothing is drawn yet)."""
        state = self.state
        gh, gw = state.grid_size
        self.stage_marker.set_x(STAGES.index(state.stage) + 0.04)
        self.image_artist.set_data(state.image_rgb())
        self.overlay_artist.set_data(state.overlay())
        if state.patch is not None:
            row, col = divmod(state.patch, gw)
            self.patch_marker.set_xy((col * state.patch_size - 0.5, row * state.patch_size - 0.5))
        self.patch_marker.set_visible(state.patch is not None)
        self.heads_artist.set_data(state.head_mosaic())
        self.head_marker.set_xy((state.head * (gw + 1) - 1, state.layer * (gh + 1) - 1))
        self.lens_artist.set_data(state.lens_grid())
        self.lens_marker.set_x(state.layer - 0.5)
        with speaking("en"):  # the figure stays English
            lines = [f"{state.stage}:", *state.detail()]
            title = state.title()
        self.detail_text.set_text("\n".join(textwrap.fill(line, 29, subsequent_indent="  ") for line in lines)
                                  if self.show_text else "")
        self.title_text.set_text(title if self.show_text else "")
        return self

    def render(self) -> bytes:
        """PNG bytes of the current view, redrawing only the artists that change."""
        return self._renderer.render()

    def _data_point(self, ax, x: float, y: float) -> tuple[float, float] | None:
        point = (x, self.figure.canvas.get_width_height()[1] - y)
        if not ax.get_window_extent().contains(*point):
            return None
        data_x, data_y = ax.transData.inverted().transform(point)
        return float(data_x), float(data_y)

    def click(self, x: float, y: float) -> str | None:
        """A click at PNG pixel (x right, y down): change the state; returns what was clicked (or None)."""
        state = self.state
        gh, gw = state.grid_size
        if (point := self._data_point(self.ax_stages, x, y)) is not None:
            state.set_stage(STAGES[min(int(point[0]), len(STAGES) - 1)])
            return "stage"
        if (point := self._data_point(self.ax_image, x, y)) is not None:
            patch = state.patch_at(point[0] + 0.5, point[1] + 0.5)  # imshow puts pixel c's centre at c
            if patch is not None:
                state.select_patch(None if patch == state.patch else patch)  # a second click returns to [class]
                return "patch"
        if (point := self._data_point(self.ax_heads, x, y)) is not None:
            head, layer = int((point[0] + 0.5) // (gw + 1)), int((point[1] + 0.5) // (gh + 1))
            if 0 <= layer < state.num_layers and 0 <= head < state.num_heads:
                state.set_head(layer, head)
                return "head"
        if (point := self._data_point(self.ax_lens, x, y)) is not None:
            layer = round(point[0])
            if 0 <= layer < state.num_layers:
                state.set_layer(layer)
                return "layer"
        return None

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save the full view (with its text) as PNG or SVG, chosen by the suffix; never overwrites
        unless ``overwrite``."""
        path = Path(path)
        if path.suffix.lower() not in (".png", ".svg"):
            raise ValueError(f"path must end in .png or .svg, got {path.name!r}.")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another name or pass overwrite=True.")
        full = ExplainerFigure(self.state, show_text=True).figure
        if path.suffix.lower() == ".png":
            path.write_bytes(figure_to_png(full))
        else:
            full.savefig(path, format="svg")
        return path


def explainer_figure(state: ExplainerState, **choices: Any):
    """The static figure of the explainer, after applying ``choices``: ``image``, ``stage``, ``layer`` and
    ``head`` (together), ``patch`` (an int, or None for the class token), ``map`` and ``target``."""
    unknown = set(choices) - {"image", "stage", "layer", "head", "patch", "map", "target"}
    if unknown:
        raise TypeError(f"unknown choices {sorted(unknown)}; use image, stage, layer, head, patch, map, target.")
    if "image" in choices:
        state.set_image(choices["image"])
    if "layer" in choices or "head" in choices:
        state.set_head(choices.get("layer", state.layer), choices.get("head", state.head))
    if "stage" in choices:
        state.set_stage(choices["stage"])
    if "patch" in choices:
        state.select_patch(choices["patch"])
    if "map" in choices or "target" in choices:
        state.set_map(choices.get("map", state.map_kind), choices.get("target", state.target))
    return ExplainerFigure(state).figure


BUNDLE_FORMAT = "vit_edu.explainer/1"


def _encode(array: np.ndarray | torch.Tensor) -> dict[str, Any]:
    """An array as ``{"dtype": "uint8" | "float32", "shape": [...], "data": base64 of its C-order bytes}``
    (float32 little-endian, as JavaScript's ``Float32Array`` reads it on every common machine)."""
    array = np.ascontiguousarray(array.numpy() if isinstance(array, torch.Tensor) else array)
    array = array.astype("<f4") if array.dtype.kind == "f" else array.astype(np.uint8)
    return {"dtype": "float32" if array.dtype.kind == "f" else "uint8", "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes()).decode("ascii")}


def _quantise(values: torch.Tensor) -> np.ndarray:
    """Values in [0, 1] (clipped) -> uint8 0..255 (rounded: error <= 1/510)."""
    return np.rint(values.clamp(0, 1).numpy() * 255).astype(np.uint8)


def _share_of_max(values: torch.Tensor) -> np.ndarray:
    """Each row (last axis) divided by its maximum, as uint8 (255 = the row's top value)."""
    return _quantise(values / values.amax(dim=-1, keepdim=True).clamp_min(1e-12))


def _image_bundle(state: ExplainerState) -> dict[str, Any]:
    """What the static view needs for the state's current image (see :func:`explainer_bundle`)."""
    trace, maps = state.trace, state.maps
    attentions = trace.attentions.float()  # (L, k, T, T)
    row_max = attentions.amax(dim=-1)  # (L, k, T)
    details: dict[str, Any] = {}
    state.select_patch(None)
    for stage in STAGES:
        if stage != "blocks":
            details[stage] = state.set_stage(stage).detail()
    details["blocks"] = [[state.set_head(layer, head).detail() for head in range(state.num_heads)]
                         for layer in range(state.num_layers)]
    return {
        "name": state.names[state.index], "grid_size": list(state.grid_size), "patch_size": state.patch_size,
        "pixels": _encode(np.rint(state.image_rgb() * 255).astype(np.uint8)),  # (H, W, 3)
        "attention": _encode(_quantise(attentions / row_max[..., None].clamp_min(1e-12))),  # (L, k, T, T)
        "attention_max": _encode(row_max),  # (L, k, T)
        "maps": {"raw": _encode(_share_of_max(maps["raw"])),  # (L, N)
                 "rollout": _encode(_share_of_max(maps["rollout"])),  # (N,)
                 "flow": _encode(_share_of_max(maps["flow"])),  # (N,)
                 "gradient": _encode(_share_of_max(maps["gradient"]))},  # (K, N)
        "lens": _encode(trace.lens_probabilities(0)),  # (L, K)
        "probabilities": _encode(trace.probabilities),  # (K,)
        "prediction": state.prediction,
        "details": details,
    }


def explainer_bundle(state: ExplainerState, progress: bool = True) -> dict[str, Any]:
    """Everything the kernel-free explainer (``vit_explainer.js``) shows, for every image of ``state``.

    The state's choices (image, stage, layer, head, patch) are restored afterwards; every image is traced once
    (and cached in the state). Arrays are ``{"dtype", "shape", "data"}`` (see :func:`_encode`); quantised
    ones are uint8 with 255 = the maximum they were divided by. T = N + 1 tokens, class token first.
    ``progress`` shows a bar while the images are traced (about a second each on 2 cores).

    Returns:
        ``format`` (:data:`BUNDLE_FORMAT`), ``stages``, ``map_kinds``, ``map_labels``, ``words``
        (:func:`static_words`), ``class_names``,
        ``num_layers`` (L), ``num_heads`` (k), ``num_classes`` (K), ``colormaps`` (``inferno`` for the maps and
        thumbnails, ``viridis`` for the logit lens: (256, 3) uint8 lookup tables), and ``images``, one dict each:

        - ``name``, ``grid_size`` [gh, gw], ``patch_size`` P, ``pixels`` (H, W, 3) uint8 RGB;
        - ``attention`` (L, k, T, T) uint8: each query's row divided by that row's maximum, and
          ``attention_max`` (L, k, T) float32 those maxima, so A = attention / 255 * attention_max
          (within attention_max / 510);
        - ``maps``: the class-token maps of :func:`~vit_edu.analysis.forward_trace.explanation_maps`, each
          row divided by its maximum, uint8: ``raw`` (L, N), ``rollout`` (N,), ``flow`` (N,), ``gradient`` (K, N);
        - ``lens`` (L, K) float32, the class token's logit-lens probabilities after every block;
          ``probabilities`` (K,) float32; ``prediction`` (int);
        - ``details``: :meth:`ExplainerState.detail` with the class token as the query, a list of lines for
          every stage but ``blocks``, and for ``blocks`` an L x k nested list (layer, head) of line lists.
    """
    if not isinstance(state, ExplainerState):
        raise TypeError(f"state must be an ExplainerState, got {type(state).__name__}.")
    saved = (state.index, state.stage, state.layer, state.head, state.patch)
    try:
        indices = track(range(len(state.images)), tr("explainer: every image for the static site"), unit="image",
                        enabled=progress)
        images = [_image_bundle(state.set_image(index)) for index in indices]
    finally:
        index, stage, layer, head, patch = saved
        state.set_image(index).set_head(layer, head).set_stage(stage).select_patch(patch)
    ramp = np.linspace(0, 1, 256)
    return {
        "format": BUNDLE_FORMAT, "stages": list(STAGES), "map_kinds": list(MAP_KINDS), "map_labels": map_labels(),
        "words": static_words(),
        "class_names": list(state.class_names), "num_layers": state.num_layers, "num_heads": state.num_heads,
        "num_classes": state.num_classes,
        "colormaps": {name: _encode(np.rint(colormaps[name](ramp)[:, :3] * 255).astype(np.uint8))
                      for name in ("inferno", "viridis")},
        "images": images,
    }


@functools.cache
def _explainer_canvas_class() -> type:
    """:class:`ExplainerCanvas`, made on first use: ``anywidget`` is imported only by the views (see the package)."""
    import traitlets

    from vit_edu.widgets.clickable_image import ClickableImage

    class ExplainerCanvas(ClickableImage):
        """The explainer's clickable picture, plus ``bundle``: the JSON of :func:`explainer_bundle`.

        The bundle is synced so that a notebook executed with its widget state stored keeps it; the course's
        static site then draws the explainer from it in the browser, without a kernel.
        """

        bundle = traitlets.Unicode("").tag(sync=True)

        def _repr_keys(self):
            # hundreds of kilobytes of JSON: not for the text repr
            return [key for key in super()._repr_keys() if key != "bundle"]

    ExplainerCanvas.__qualname__ = "ExplainerCanvas"
    return ExplainerCanvas


def __getattr__(name: str) -> Any:
    if name == "ExplainerCanvas":  # built lazily, see _explainer_canvas_class
        return _explainer_canvas_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _free_name(folder: Path, stem: str, suffix: str) -> Path:
    path, number = folder / f"{stem}{suffix}", 1
    while path.exists():
        number += 1
        path = folder / f"{stem}_{number}{suffix}"
    return path


def explainer_widget(state: ExplainerState, save_folder: str | Path = ".", bundle: bool = True):
    """The clickable explainer: image and map choices, the picture, the stage detail and save buttons.

    With ``bundle`` (default) the picture, an :class:`ExplainerCanvas`, also carries
    :func:`explainer_bundle` (every image is traced now, not on first choice), so that the exported
    static site can show the explainer interactively without a kernel.

    Returns a ``VBox`` with handles ``.state``, ``.view``, ``.canvas``, ``.controls`` (a dict) and ``.detail``.
    """
    import ipywidgets as widgets

    view = ExplainerFigure(state, show_text=False)
    controls = {
        "image": widgets.Dropdown(options=[(n, i) for i, n in enumerate(state.names)], value=state.index,
                                  description=tr("image")),
        "map": widgets.ToggleButtons(options=[(kind, kind) for kind in MAP_KINDS], value=state.map_kind,
                                     description=tr("map"), style={"description_width": "initial"}),
        "target": widgets.Dropdown(options=[(tr("the predicted class"), None)] + [(name, c) for c, name in
                                   enumerate(state.class_names)], value=state.target, description=tr("class asked")),
        "save_png": widgets.Button(description=tr("save PNG")),
        "save_svg": widgets.Button(description=tr("save SVG")),
    }
    canvas = _explainer_canvas_class()()
    if bundle:
        canvas.bundle = json.dumps(explainer_bundle(state), separators=(",", ":"))
    canvas.layout.width = f"{view.figure.canvas.get_width_height()[0]}px"
    detail = widgets.HTML()
    saved = widgets.HTML()

    def redraw() -> None:
        view.update()
        canvas.set_png(view.render())
        lines = "<br>".join(html.escape(line) for line in state.detail())
        label = map_labels()[state.map_kind]
        hint = tr("Click a stage, a patch, a head thumbnail or a column of the logit lens.")
        detail.value = (f"<b>{html.escape(state.title())}</b><br><i>{html.escape(label)}</i>"
                        f"<br><b>{html.escape(state.stage)}</b><br><code>{lines}</code><br><i>{hint}</i>")

    def on_control(_change: Any = None) -> None:
        state.set_image(controls["image"].value).set_map(controls["map"].value, controls["target"].value)
        redraw()

    def on_click(change: dict) -> None:
        click = change["new"]
        if click and "x" in click and view.click(click["x"], click["y"]) is not None:
            redraw()

    def on_save(suffix: str):
        def save(_button: Any) -> None:
            stem = f"vit_explainer_{state.names[state.index]}_{state.stage}".replace(" ", "_").replace(":", "")
            path = view.save(_free_name(Path(save_folder), stem, suffix))
            saved.value = tr("saved {path}", path=html.escape(str(path)))
        return save

    for name in ("image", "map", "target"):
        controls[name].observe(on_control, names="value")
    controls["save_png"].on_click(on_save(".png"))
    controls["save_svg"].on_click(on_save(".svg"))
    canvas.observe(on_click, names="click")
    redraw()
    box = widgets.VBox([widgets.HBox([controls["image"], controls["target"]]), controls["map"], canvas, detail,
                        widgets.HBox([controls["save_png"], controls["save_svg"], saved])])
    box.state, box.view, box.canvas, box.controls, box.detail = state, view, canvas, controls, detail
    return box
