"""A shape trace: run a model once and list the input and output shape of every sub-module.

Forward hooks record each module call in the order the calls *finish*, which is the order the
data flows (a block's parts come before the block itself). For a :class:`~vit_edu.model.ViT`
the rows can be labelled with the paper's symbols (:func:`vit_stage`).

The trace works on the ``meta`` device too (tensors with a shape but no data), which gives the
shapes of a large model without allocating its weights or computing anything::

    with torch.device("meta"):
        model = ViT(image_size=256, patch_size=32, num_classes=1000, dim=1024, depth=6,
                    heads=16, mlp_dim=2048)
    rows = shape_trace(model, torch.empty(1, 3, 256, 256, device="meta"))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TraceRow:
    """One module call.

    Attributes:
        name: the module's name in ``model.named_modules()`` (``"input"`` for the first row).
        kind: the module's class name.
        input_shape: shape of the first tensor argument (``()`` if there is none).
        output_shape: shape of the output, or of its first tensor if it is a tuple/list.
        parameters: parameters of the module, including its children.
        stage: the paper's name for this output (see :func:`vit_stage`), or ``""``.
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    parameters: int
    stage: str = ""


def _first_tensor(value) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _shape(value) -> tuple[int, ...]:
    tensor = _first_tensor(value)
    return tuple(tensor.shape) if tensor is not None else ()


_STAGES = (
    (r"patch_embed\.proj", "x_p E (conv form: D x H/P x W/P grid)"),
    (r"patch_embed", "x_p E: N patch tokens (Eq. 1)"),
    (r"pos_drop", "z_0 = [x_class; x_p E] + E_pos (Eq. 1)"),
    (r"blocks\.(\d+)\.norm1", "LN(z_{l-1})"),
    (r"blocks\.(\d+)\.attn\.qkv", "[q, k, v] for all heads (Eq. 5)"),
    (r"blocks\.(\d+)\.attn\.proj", "[SA_1; ...; SA_k] U_msa (Eq. 8)"),
    (r"blocks\.(\d+)\.attn", "MSA(LN(z_{l-1}))"),
    (r"blocks\.(\d+)\.norm2", "LN(z'_l)"),
    (r"blocks\.(\d+)\.mlp\.fc1", "hidden layer, width M"),
    (r"blocks\.(\d+)\.mlp\.act", "GELU"),
    (r"blocks\.(\d+)\.mlp", "MLP(LN(z'_l))"),
    (r"blocks\.(\d+)", "z_l, block output (Eq. 2-3)"),
    (r"norm", "LN(z_L) (Eq. 4; row 0 is y)"),
    (r"head", "class scores from y"),
)


def vit_stage(name: str) -> str:
    """The paper's symbol for the output of the vit_edu module called ``name`` (``""`` if none).

    Example: ``vit_stage("blocks.3")`` -> ``"z_l, block output (Eq. 2-3)"``.
    """
    for pattern, label in _STAGES:
        if re.fullmatch(pattern, name):
            return label
    return ""


def shape_trace(
    model: nn.Module,
    images: torch.Tensor,
    include: Callable[[str], bool] | None = None,
    max_depth: int | None = None,
) -> list[TraceRow]:
    """Run ``model(images)`` once in eval mode without gradients and list every module call.

    Args:
        model: any ``nn.Module``; its training flag is restored afterwards.
        images: the input batch, e.g. (B, C, H, W).
        include: keep only modules whose name makes this return True (e.g. to show block 0
            in detail and the other blocks as one row each).
        max_depth: keep only names with at most this many dot-separated parts
            (``"blocks.0.attn"`` has 3).

    Returns:
        A first row ``"input"`` and one :class:`TraceRow` per call, in the order calls finish.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}.")
    if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1):
        raise ValueError(f"max_depth must be a positive int or None, got {max_depth!r}.")
    rows = [TraceRow("input", type(images).__name__, tuple(images.shape), tuple(images.shape), 0, "images")]
    handles = []

    def make_hook(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output) -> None:
            params = sum(p.numel() for p in module.parameters())
            rows.append(TraceRow(name, type(module).__name__, _shape(args), _shape(output), params, vit_stage(name)))

        return hook

    for name, module in model.named_modules():
        if not name:
            continue
        if max_depth is not None and name.count(".") + 1 > max_depth:
            continue
        if include is not None and not include(name):
            continue
        handles.append(module.register_forward_hook(make_hook(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            output = model(images)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    rows.append(TraceRow("output", type(model).__name__, tuple(images.shape), _shape(output),
                         sum(p.numel() for p in model.parameters()), "model output"))
    return rows


DEFAULT_COLUMNS = ("name", "output_shape", "parameters", "stage")


def format_trace(rows: list[TraceRow], columns: tuple[str, ...] = DEFAULT_COLUMNS) -> str:
    """A fixed-width text table of ``rows`` (stable across runs, for printing in a notebook)."""
    allowed = ("name", "kind", "input_shape", "output_shape", "parameters", "stage")
    for column in columns:
        if column not in allowed:
            raise ValueError(f"unknown column {column!r}; choose from {allowed}.")

    def cell(row: TraceRow, column: str) -> str:
        value = getattr(row, column)
        if column == "parameters":
            return f"{value:,}"
        if column.endswith("shape"):
            return "(" + ", ".join(str(v) for v in value) + ")"
        return str(value)

    table = [list(columns)] + [[cell(row, c) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = []
    for index, line in enumerate(table):
        parts = [text.rjust(w) if columns[i] == "parameters" else text.ljust(w)
                 for i, (text, w) in enumerate(zip(line, widths))]
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
