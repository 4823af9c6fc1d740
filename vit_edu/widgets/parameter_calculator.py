"""Parameter calculator (the parameter-count lesson): parameters per component, FLOPs and weight memory of a ViT.

:class:`ParameterCalculatorState` holds the hyper-parameters (D, L, k, M, P, image size, K) and
computes everything from :mod:`vit_edu.counting`; an invalid combination (an image size that is not a
multiple of P, D not divisible by k, ...) gives a clear message instead of an exception.
:class:`ParameterCalculatorFigure` draws where the parameters go; :func:`parameter_calculator_widget`
wires ipywidgets controls to both.

For comparison, :func:`vit_pytorch_parameter_breakdown` is the closed-form count of vit-pytorch's
``ViT`` (``vit_pytorch/vit.py``) with the same keyword arguments:

    patch embedding   LN(P^2 C), Linear(P^2 C -> D), LN(D)    2 P^2 C + (P^2 C D + D) + 2D
    class token       D                                        (none when pool='mean')
    positions         (N + 1) D                                (N D when pool='mean')
    per block         LN(D) + qkv without bias + output proj   2D + 3 D I + (I D + D)
                      LN(D) + MLP                              2D + 2 D M + M + D
    final LayerNorm   2D;  head  D K + K
with I = heads * dim_head (dim_head defaults to 64) and no output projection when heads == 1 and
dim_head == D.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from typing import Any

from vit_edu.config import PRESET_NAMES, ViTConfig, preset
from vit_edu.counting import count_flops, parameter_breakdown
from vit_edu.language import tr
from vit_edu.viz.render import figure_to_png, new_figure

FORMULAS = OrderedDict(
    patch_projection="P²C·D + D", class_token="D", position_embeddings="(N+1)·D",
    attention="L·(4D² + 4D)", mlp="L·(2DM + M + D)", block_norms="L·4D", final_norm="2D", head="DK + K",
)
GROUPS = OrderedDict(
    embeddings=("patch_projection", "class_token", "position_embeddings"), attention=("attention",),
    mlp=("mlp",), layer_norms=("block_norms", "final_norm"), head=("head",),
)
FIELDS = ("image_size", "patch_size", "dim", "depth", "heads", "mlp_dim", "num_classes", "channels")


def vit_pytorch_parameter_breakdown(*, image_size, patch_size, num_classes: int, dim: int, depth: int, heads: int,
                                    mlp_dim: int, channels: int = 3, dim_head: int = 64,
                                    pool: str = "cls") -> OrderedDict[str, int]:
    """Parameters of vit-pytorch's ``ViT(...)`` per component, closed form (see the module docstring)."""
    cfg = ViTConfig(image_size=image_size, patch_size=patch_size, num_classes=num_classes, dim=dim, depth=depth,
                    heads=heads, mlp_dim=mlp_dim, channels=channels, dim_head=dim_head, pool=pool)
    d, m, inner, patch_dim = cfg.dim, cfg.mlp_dim, cfg.inner_dim, cfg.patch_dim
    has_cls = pool == "cls"
    output_projection = 0 if (heads == 1 and dim_head == dim) else inner * d + d
    return OrderedDict(
        patch_norms=2 * patch_dim + 2 * d,
        patch_projection=patch_dim * d + d,
        class_token=d if has_cls else 0,
        position_embeddings=(cfg.num_patches + int(has_cls)) * d,
        attention=cfg.depth * (d * 3 * inner + output_projection),
        mlp=cfg.depth * (2 * d * m + m + d),
        block_norms=cfg.depth * 4 * d,
        final_norm=2 * d,
        head=d * cfg.num_classes + cfg.num_classes,
    )


def vit_pytorch_parameter_count(**kwargs: Any) -> int:
    """Total of :func:`vit_pytorch_parameter_breakdown` (same keyword arguments)."""
    return sum(vit_pytorch_parameter_breakdown(**kwargs).values())


def vit_pytorch_differences(**kwargs: Any) -> list[tuple[str, int]]:
    """What each of vit-pytorch's deviations adds to our count, one at a time; the rows sum to the gap.

    Takes vit-pytorch's keyword arguments (``dim_head`` defaults to 64, ``pool`` to ``"cls"``). Our
    model is the paper's (qkv with bias, D_h = D / k, no extra LayerNorms); ``pool='mean'`` keeps the
    class token in our model.
    """
    kwargs = {"dim_head": 64, "pool": "cls", **kwargs}
    theirs = vit_pytorch_parameter_breakdown(**kwargs)
    ours_kwargs = {k: v for k, v in kwargs.items() if k not in ("dim_head", "pool")}
    ours = parameter_breakdown(ViTConfig(**ours_kwargs))
    depth, d, inner = kwargs["depth"], kwargs["dim"], kwargs["heads"] * kwargs["dim_head"]
    qkv_bias = depth * 3 * d
    with_projection = depth * (4 * d * inner + d)  # their attention if it kept the output projection
    rows = [
        (tr("LayerNorm(P²C) before the patch projection"), theirs["patch_norms"] - 2 * d),
        (tr("LayerNorm(D) after the patch projection"), 2 * d),
        (tr("no bias in the qkv projection"), -qkv_bias),
        (tr("dim_head = {dim_head} (ours: D/k = {ours})", dim_head=kwargs["dim_head"], ours=d // kwargs["heads"]),
         with_projection - (ours["attention"] - qkv_bias)),
    ]
    if theirs["attention"] != with_projection:
        rows.append((tr("no output projection (heads == 1 and dim_head == D)"),
                     theirs["attention"] - with_projection))
    rows += [
        (tr("pool='mean' drops the class token and its position"),
         theirs["class_token"] + theirs["position_embeddings"] - ours["class_token"] - ours["position_embeddings"]),
        (tr("dropout on the attention weights"), 0),
    ]
    if sum(delta for _, delta in rows) != sum(theirs.values()) - sum(ours.values()):  # pragma: no cover
        raise AssertionError("the listed differences do not add up to the gap; a structure changed.")
    return rows


class ParameterCalculatorState:
    """Hyper-parameters -> parameters per component, total, FLOPs and memory.

    Args:
        preset_name: one of ``vit_edu.PRESET_NAMES`` to start from.
    """

    def __init__(self, preset_name: str = "B/16") -> None:
        self.values: dict[str, int] = {}
        self.preset_name = "custom"
        self.set_preset(preset_name)

    def set_preset(self, name: str) -> ParameterCalculatorState:
        """Load a preset (224 px, 1000 classes) such as ``"B/16"``."""
        cfg = preset(name)
        self.values = dict(image_size=cfg.image_size[0], patch_size=cfg.patch_size[0], dim=cfg.dim, depth=cfg.depth,
                           heads=cfg.heads, mlp_dim=cfg.mlp_dim, num_classes=cfg.num_classes, channels=cfg.channels)
        self.preset_name = next(p for p in PRESET_NAMES if preset(p) == cfg)
        return self

    def set(self, **changes: int) -> ParameterCalculatorState:
        """Change some hyper-parameters, e.g. ``set(dim=512, heads=8)``; invalid values end up in :attr:`error`."""
        for key in changes:
            if key not in FIELDS:
                raise ValueError(f"unknown hyper-parameter {key!r}; the calculator has {', '.join(FIELDS)}.")
        self.values.update(changes)
        self.preset_name = next((p for p in PRESET_NAMES if self.config is not None and preset(p) == self.config),
                                "custom")
        return self

    @property
    def config(self) -> ViTConfig | None:
        """The :class:`ViTConfig`, or ``None`` when the values do not make a valid ViT."""
        try:
            return ViTConfig(**self.values)
        except (TypeError, ValueError):
            return None

    @property
    def error(self) -> str | None:
        """Why the current values are not a valid ViT, or ``None``."""
        try:
            ViTConfig(**self.values)
        except (TypeError, ValueError) as problem:
            return str(problem)
        return None

    def breakdown(self) -> OrderedDict[str, int]:
        """Parameters per component (empty when invalid)."""
        cfg = self.config
        return parameter_breakdown(cfg) if cfg is not None else OrderedDict()

    def groups(self) -> OrderedDict[str, int]:
        """Parameters in embeddings / attention / MLP / LayerNorms / head (all 0 when invalid)."""
        parts = self.breakdown()
        return OrderedDict((group, sum(parts.get(k, 0) for k in keys)) for group, keys in GROUPS.items())

    def summary(self) -> dict[str, Any]:
        """Total parameters, GFLOPs per image, weight memory (MB, 10^6 bytes) and the vit-pytorch total."""
        cfg = self.config
        if cfg is None:
            return dict(valid=False, message=self.error, total=None, gflops=None, fp32_mb=None, fp16_mb=None,
                        vit_pytorch_total=None, num_patches=None, seq_len=None)
        total = sum(self.breakdown().values())
        return dict(valid=True, message="", total=total, gflops=count_flops(cfg) / 1e9, fp32_mb=total * 4 / 1e6,
                    fp16_mb=total * 2 / 1e6, num_patches=cfg.num_patches, seq_len=cfg.seq_len,
                    vit_pytorch_total=vit_pytorch_parameter_count(**self.values))

    def table(self) -> list[tuple[str, str, int, float]]:
        """Rows (component, formula, parameters, share of the total in %)."""
        parts = self.breakdown()
        total = sum(parts.values()) or 1
        return [(name, FORMULAS[name], count, 100 * count / total) for name, count in parts.items()]

    def text(self) -> str:
        """The table and summary as fixed-width text (what the notebook prints)."""
        info = self.summary()
        if not info["valid"]:
            return tr("invalid: {message}", message=info["message"])
        lines = [f"{name:<20} {formula:<16} {count:>13,} {share:5.1f} %" for name, formula, count, share in
                 self.table()]
        total = tr("total")
        lines += [f"{total:<20} {'':<16} {info['total']:>13,}",
                  tr("N = {num_patches} patches, T = {seq_len} tokens, {gflops:.1f} GFLOPs per "
                     "image, weights {fp32_mb:.0f} MB (fp32) / {fp16_mb:.0f} MB (fp16)",
                     num_patches=info["num_patches"], seq_len=info["seq_len"], gflops=info["gflops"],
                     fp32_mb=info["fp32_mb"], fp16_mb=info["fp16_mb"])]
        return "\n".join(lines)

    def html(self) -> str:
        """The same as :meth:`text` as an HTML table (for ``ipywidgets.HTML``)."""
        info = self.summary()
        if not info["valid"]:
            return f"<p style='color:#b00020'><b>{tr('Not a valid ViT:')}</b> {html.escape(info['message'])}</p>"
        rows = "".join(f"<tr><td>{n}</td><td>{f}</td><td style='text-align:right'>{c:,}</td>"
                       f"<td style='text-align:right'>{s:.1f} %</td></tr>" for n, f, c, s in self.table())
        headers = "".join(f"<th>{header}</th>" for header in (tr("component"), tr("formula"), tr("parameters"),
                                                               tr("share")))
        numbers = tr("N = {num_patches}, T = {seq_len}; {gflops:.1f} GFLOPs per image; weights {fp32_mb:.0f} MB "
                     "(fp32), {fp16_mb:.0f} MB (fp16); vit-pytorch with the same arguments: {vit_pytorch_total:,}",
                     num_patches=info["num_patches"], seq_len=info["seq_len"], gflops=info["gflops"],
                     fp32_mb=info["fp32_mb"], fp16_mb=info["fp16_mb"], vit_pytorch_total=info["vit_pytorch_total"])
        return (f"<table><tr>{headers}</tr>{rows}"
                f"<tr><td><b>{tr('total')}</b></td><td></td><td style='text-align:right'><b>{info['total']:,}</b></td>"
                f"<td></td></tr></table><p>{numbers}</p>")


class ParameterCalculatorFigure:
    """Horizontal bars of :meth:`ParameterCalculatorState.groups`; :meth:`update` moves the bars in place."""

    def __init__(self, state: ParameterCalculatorState, width: float = 6.0, height: float = 2.6, dpi: int = 100):
        self.state = state
        self.figure = new_figure(width, height, dpi)
        self.axes = self.figure.add_axes((0.2, 0.2, 0.62, 0.66))
        names = list(GROUPS)
        self.bars = self.axes.barh(range(len(names)), [0.0] * len(names), color="#4c72b0")
        self.axes.set_yticks(range(len(names)), [n.replace("_", " ") for n in names])
        self.axes.invert_yaxis()
        self.axes.set_xlabel("parameters (millions)")
        self.labels = [self.axes.text(0, i, "", va="center", fontsize=9) for i in range(len(names))]
        self.title = self.axes.set_title("", fontsize=9)
        self.update()

    def update(self) -> ParameterCalculatorFigure:
        groups, info = self.state.groups(), self.state.summary()
        millions = [count / 1e6 for count in groups.values()]
        top = max(millions) or 1.0
        for bar, label, value in zip(self.bars, self.labels, millions):
            bar.set_width(value)
            label.set_position((value + 0.02 * top, label.get_position()[1]))
            label.set_text(f"{value:.2f} M" if info["valid"] else "")
        self.axes.set_xlim(0, 1.25 * top)
        name = self.state.preset_name
        self.title.set_text(f"{name}: {info['total'] / 1e6:.2f} M parameters" if info["valid"]
                            else "not a valid ViT (see the message)")
        return self


def parameter_calculator_figure(preset_name: str = "B/16", **changes: int):
    """The static figure (same drawing code as the widget)."""
    return ParameterCalculatorFigure(ParameterCalculatorState(preset_name).set(**changes)).figure


def parameter_calculator_widget(state: ParameterCalculatorState | None = None):
    """Preset dropdown + sliders for D, L, k, M, P, image size and K, a live table and the bar chart."""
    import ipywidgets as widgets

    from vit_edu.widgets.picture import picture as picture_widget
    from vit_edu.widgets.picture import show

    state = state or ParameterCalculatorState()
    view = ParameterCalculatorFigure(state)
    style = {"description_width": "initial"}
    chooser = widgets.Dropdown(options=[*((name, name) for name in PRESET_NAMES), (tr("custom"), "custom")],
                               value=state.preset_name, description=tr("preset"))
    bounds = dict(dim=(16, 2048), depth=(1, 48), heads=(1, 32), mlp_dim=(16, 8192), patch_size=(1, 64),
                  image_size=(8, 1024), num_classes=(0, 22000))
    controls = {key: widgets.IntSlider(value=state.values[key], min=low, max=high, description=key, style=style,
                                       continuous_update=False) for key, (low, high) in bounds.items()}
    table = widgets.HTML(state.html())
    picture = picture_widget(figure_to_png(view.figure))
    busy = {"flag": False}

    def redraw() -> None:
        view.update()
        table.value = state.html()
        show(picture, figure_to_png(view.figure))
        chooser.value = state.preset_name

    def on_preset(change: dict) -> None:
        if busy["flag"] or change["new"] == "custom":
            return
        busy["flag"] = True
        state.set_preset(change["new"])
        for key, control in controls.items():
            control.value = state.values[key]
        busy["flag"] = False
        redraw()

    def on_value(_change: dict) -> None:
        if busy["flag"]:
            return
        busy["flag"] = True
        state.set(**{key: control.value for key, control in controls.items()})
        redraw()
        busy["flag"] = False

    chooser.observe(on_preset, names="value")
    for control in controls.values():
        control.observe(on_value, names="value")
    box = widgets.VBox([chooser, widgets.HBox([widgets.VBox(list(controls.values())), picture]), table])
    box.state, box.view, box.controls, box.chooser = state, view, controls, chooser
    return box
