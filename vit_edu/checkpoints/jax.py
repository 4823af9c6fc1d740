"""The original JAX/Flax ``.npz`` checkpoints of the paper's authors <-> vit_edu names and layouts.

A Flax ``Dense`` stores its kernel as (in, out) and computes x K + b; PyTorch's ``Linear`` stores
(out, in) and computes x W^T + b, so W = K^T. The attention kernels keep the heads as an axis:
query/key/value (D, k, d_h) and out (k, d_h, D); flattening (k, d_h) gives the (D, k d_h) matrix
the heads came from, and the shape tells the number of heads k. The patch kernel is a Flax conv
kernel (P, P, C, D); PyTorch's Conv2d wants (D, C, P, P). LayerNorm's weight is Flax's ``scale``.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from vit_edu.checkpoints.formats import Converted, RawCheckpoint
from vit_edu.checkpoints.layouts import check_block_numbers, check_qkv_parts

_ATTN = "MultiHeadDotProductAttention_1/"
JAX_TOP = {"cls": "cls_token", "Transformer/posembed_input/pos_embedding": "pos_embed",
           "embedding/kernel": "patch_embed.proj.weight", "embedding/bias": "patch_embed.proj.bias",
           "Transformer/encoder_norm/scale": "norm.weight", "Transformer/encoder_norm/bias": "norm.bias",
           "head/kernel": "head.weight", "head/bias": "head.bias"}
_JAX_BLOCK = {"LayerNorm_0/scale": "norm1.weight", "LayerNorm_0/bias": "norm1.bias",
              "LayerNorm_2/scale": "norm2.weight", "LayerNorm_2/bias": "norm2.bias",
              _ATTN + "out/kernel": "attn.proj.weight", _ATTN + "out/bias": "attn.proj.bias",
              "MlpBlock_3/Dense_0/kernel": "mlp.fc1.weight", "MlpBlock_3/Dense_0/bias": "mlp.fc1.bias",
              "MlpBlock_3/Dense_1/kernel": "mlp.fc2.weight", "MlpBlock_3/Dense_1/bias": "mlp.fc2.bias"}
_JAX_QKV = ("query", "key", "value")


def jax_keys(keys: list[str]) -> list[str]:
    """The keys without a prefix that all of them share (``opt/target/``, ``params/``)."""
    for prefix in ("opt/target/", "params/"):  # optimizer and big_vision checkpoints nest the parameters
        if keys and all(k.startswith(prefix) for k in keys):
            return [k[len(prefix):] for k in keys]
    return keys


def _need_ndim(raw: RawCheckpoint, key: str, value: torch.Tensor, ndim: int, layout: str) -> torch.Tensor:
    if value.ndim != ndim:
        raise ValueError(f"{raw.source}: {key!r} has shape {tuple(value.shape)}, expected {layout}.")
    return value


def from_jax(raw: RawCheckpoint) -> Converted:
    """Rename and re-lay-out a JAX checkpoint's arrays to vit_edu keys; heads come from the q/k/v kernels."""
    converted = Converted("jax", {}, source=raw.source)
    qkv: dict[tuple[str, str], dict[int, tuple[str, torch.Tensor]]] = {}
    blocks: set[str] = set()
    head_layout: tuple[str, tuple[int, int]] | None = None  # (key, (k, d_h)) of the first attention kernel
    for key, value in zip(jax_keys(list(raw.tensors)), raw.tensors.values()):
        block = re.fullmatch(r"Transformer/encoderblock_([0-9]+)/(.+)", key)
        inner = block.group(2) if block else ""
        if block:
            blocks.add(block.group(1))
        part = re.fullmatch(_ATTN + r"(query|key|value)/(kernel|bias)", inner)
        if key == "embedding/kernel":  # (P, P, C, D) -> (D, C, P, P)
            value = _need_ndim(raw, key, value, 4, "(P, P, C, D)").permute(3, 2, 0, 1)
        elif key == "head/kernel" or inner in ("MlpBlock_3/Dense_0/kernel", "MlpBlock_3/Dense_1/kernel"):
            value = _need_ndim(raw, key, value, 2, "a 2-D (in, out) kernel").T
        elif inner == _ATTN + "out/kernel":  # (k, d_h, D) -> (D, k d_h)
            value = _need_ndim(raw, key, value, 3, "(heads, head_dim, D)")
            head_layout = _same_heads(raw, head_layout, key, tuple(value.shape[:2]))
            value = value.flatten(0, 1).T
        elif part:
            kind = "weight" if part.group(2) == "kernel" else "bias"
            expected = (3, "(D, heads, head_dim)") if kind == "weight" else (2, "(heads, head_dim)")
            value = _need_ndim(raw, key, value, *expected)
            head_layout = _same_heads(raw, head_layout, key, tuple(value.shape[-2:]))
            value = value.flatten(1).T if kind == "weight" else value.flatten()  # (k d_h, D) or (k d_h,)
            qkv.setdefault((block.group(1), kind), {})[_JAX_QKV.index(part.group(1))] = (key, value)
            continue
        if key.startswith("pre_logits/"):
            converted.features_only = True
        elif key in JAX_TOP:
            converted.tensors[JAX_TOP[key]] = value.contiguous()
            converted.origins[JAX_TOP[key]] = key
        elif block and inner in _JAX_BLOCK:
            name = f"blocks.{block.group(1)}.{_JAX_BLOCK[inner]}"
            converted.tensors[name], converted.origins[name] = value.contiguous(), key
        else:
            converted.unexpected.append(key)
    check_block_numbers(blocks, raw.source, "Transformer/encoderblock_{}")
    if head_layout is not None:  # the shape tells k and d_h
        converted.known.update(heads=head_layout[1][0], dim_head=head_layout[1][1])
    for (index, kind), parts in qkv.items():
        if sorted(parts) != [0, 1, 2]:
            raise ValueError(f"{raw.source}: encoderblock_{index} lacks some of the query/key/value {kind}s.")
        ordered = [parts[0], parts[1], parts[2]]
        check_qkv_parts(ordered, raw.source)
        name = f"blocks.{index}.attn.qkv.{kind}"
        converted.tensors[name] = torch.cat([v for _, v in ordered], dim=0).contiguous()  # (3 k d_h, D) or (3 k d_h,)
        converted.origins[name] = ", ".join(k for k, _ in ordered)
    return converted


def _same_heads(raw: RawCheckpoint, first: tuple[str, tuple[int, int]] | None, key: str,
                heads: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """Every attention kernel must split into the same (heads, head_dim): the model has one k for all blocks."""
    if first is not None and first[1] != heads:
        raise ValueError(f"{raw.source}: {key!r} has (heads, head_dim) = {heads} but {first[0]!r} has {first[1]}; "
                         "all blocks of a ViT have the same heads. The file is damaged.")
    return first or (key, heads)


def to_jax_arrays(model) -> dict[str, np.ndarray]:
    """A vit_edu ``ViT``'s weights in the original JAX ``.npz`` layout (save with ``numpy.savez``)."""
    cfg = model.config
    if cfg.position_embedding != "learned":
        raise ValueError(f"the original JAX layout has one learned (1, N + 1, D) position table; a model with "
                         f"position_embedding={cfg.position_embedding!r} has no counterpart there. Only "
                         "position_embedding='learned' models convert; save_checkpoint keeps any kind.")
    heads, head_dim = cfg.heads, cfg.head_dim
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state["patch_embed.proj.weight"] = model.patch_embed.linear_weight().detach().cpu().reshape(
        cfg.dim, *cfg.patch_size, cfg.channels).permute(0, 3, 1, 2)  # (D, C, P, P) whichever form is stored
    out = {}
    reverse_block = {v: k for k, v in _JAX_BLOCK.items()}
    for key, value in state.items():
        block = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
        prefix = f"Transformer/encoderblock_{block.group(1)}/" if block else ""
        inner = block.group(2) if block else key
        if key == "patch_embed.proj.weight":
            value = value.permute(2, 3, 1, 0)  # (D, C, P, P) -> (P, P, C, D)
        elif inner == "attn.proj.weight":
            value = value.T.reshape(heads, head_dim, cfg.dim)  # (k, d_h, D)
        elif value.ndim == 2:
            value = value.T  # Linear (out, in) -> Dense (in, out)
        if inner.startswith("attn.qkv."):
            for name, chunk in zip(_JAX_QKV, value.chunk(3, dim=-1 if value.ndim == 2 else 0)):
                kind = "kernel" if chunk.ndim == 2 else "bias"
                shaped = chunk.reshape(cfg.dim, heads, head_dim) if kind == "kernel" else chunk.reshape(heads, head_dim)
                out[f"{prefix}{_ATTN}{name}/{kind}"] = shaped.numpy().copy()
            continue
        name = reverse_block[inner] if block else {v: k for k, v in JAX_TOP.items()}[key]
        out[prefix + name] = value.contiguous().numpy().copy()
    return out
