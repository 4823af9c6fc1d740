"""Checkpoint layouts -> vit_edu parameter names (ours are timm's), and back to the JAX layout.

===========================  ==================================  =========================================
vit_edu / timm               transformers (see ``convert.py``)   original JAX ``.npz`` (Flax names)
===========================  ==================================  =========================================
patch_embed.proj (D,C,P,P)   ...patch_embeddings.projection      embedding/kernel (P, P, C, D)
cls_token (1, 1, D)          embeddings.cls_token                cls
pos_embed (1, N + 1, D)      embeddings.position_embeddings      Transformer/posembed_input/pos_embedding
blocks.i.norm1 / norm2       layernorm_before / _after           encoderblock_i/LayerNorm_0 / LayerNorm_2
blocks.i.attn.qkv (3D, D)    q/k/v, separate (D, D) each         .../query|key|value/kernel (D, k, d_h)
blocks.i.attn.proj (D, D)    o_proj / output.dense               .../out/kernel (k, d_h, D)
blocks.i.mlp.fc1 / fc2       mlp.fc1 / intermediate.dense        .../MlpBlock_3/Dense_0 / Dense_1 (in, out)
norm, head (K, D)            layernorm, classifier               Transformer/encoder_norm, head/kernel (D, K)
===========================  ==================================  =========================================

PyTorch's Linear stores (out, in) and computes x W^T; Flax's Dense stores (in, out) and computes
x W, hence the transposes. LayerNorm's weight is Flax's ``scale``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import ViTConfig
from .convert import from_transformers_state_dict

CONFIG_KEY = "vit_edu_config"
FORMATS = ("vit_edu", "timm", "transformers", "jax")
_ATTN = "MultiHeadDotProductAttention_1/"
_JAX_TOP = {"cls": "cls_token", "Transformer/posembed_input/pos_embedding": "pos_embed",
            "embedding/kernel": "patch_embed.proj.weight", "embedding/bias": "patch_embed.proj.bias",
            "Transformer/encoder_norm/scale": "norm.weight", "Transformer/encoder_norm/bias": "norm.bias",
            "head/kernel": "head.weight", "head/bias": "head.bias"}
_JAX_BLOCK = {"LayerNorm_0/scale": "norm1.weight", "LayerNorm_0/bias": "norm1.bias",
              "LayerNorm_2/scale": "norm2.weight", "LayerNorm_2/bias": "norm2.bias",
              _ATTN + "out/kernel": "attn.proj.weight", _ATTN + "out/bias": "attn.proj.bias",
              "MlpBlock_3/Dense_0/kernel": "mlp.fc1.weight", "MlpBlock_3/Dense_0/bias": "mlp.fc1.bias",
              "MlpBlock_3/Dense_1/kernel": "mlp.fc2.weight", "MlpBlock_3/Dense_1/bias": "mlp.fc2.bias"}
_JAX_QKV = ("query", "key", "value")
_PRE_LOGITS_NOTE = (
    "{source} has a pre-logits layer (a Linear + tanh before the classifier, used by the paper for ImageNet-21k "
    "pre-training). vit_edu's ViT has no such layer, so the model loads as a feature extractor (num_classes=0) "
    "and the pre-logits and head weights are not used; put a new head on it and fine-tune."
)
_POOLER_NOTE = (
    "{source}: ignored ViTModel's pooler ({keys}: a Linear + tanh on the class token). It is not part of the "
    "paper's classification path (Eq. 4, then the head), and ViTForImageClassification does not use it either."
)


@dataclass
class RawCheckpoint:
    """Tensors as read from a file or given in memory, before renaming."""

    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str] = field(default_factory=dict)
    hf_config: dict | None = None  # the config.json of a Hugging Face folder
    source: str = "state dict"


@dataclass
class Converted:
    """Tensors renamed to vit_edu keys plus what the source says about the config."""

    format: str
    tensors: dict[str, torch.Tensor]
    known: dict = field(default_factory=dict)  # config fields the source states (config file, JAX kernels)
    unexpected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # messages for the user (ignored layers, ...)
    features_only: bool = False
    labels: list[str] | None = None  # class names from a config.json
    source: str = "state dict"


def config_to_json(config: ViTConfig) -> str:
    """A ViTConfig as a JSON string (tuples become lists)."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def config_from_json(text: str) -> ViTConfig:
    """Inverse of :func:`config_to_json`, with a clear error for a damaged string."""
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"the stored {CONFIG_KEY!r} is not valid JSON ({error}); the file is damaged.") from None
    names = {f.name for f in dataclasses.fields(ViTConfig)}
    unknown = set(fields) - names
    if unknown:
        raise ValueError(f"the stored config has unknown fields {sorted(unknown)}; was it written by a newer vit_edu?")
    for name in ("image_size", "patch_size"):
        if isinstance(fields.get(name), list):
            fields[name] = tuple(fields[name])
    return ViTConfig(**fields)


def detect_format(raw: RawCheckpoint) -> str:
    """Guess the layout from the metadata and the key names."""
    if CONFIG_KEY in raw.metadata:
        return "vit_edu"
    keys = list(raw.tensors)
    if any("/" in k for k in keys) and any(k in _JAX_TOP or "encoderblock_" in k for k in _jax_keys(keys)):
        return "jax"
    if raw.hf_config is not None or any(
        re.match(r"(vit\.)?(embeddings\.|layers\.\d|encoder\.layer\.\d)", k) for k in keys
    ):
        return "transformers"
    if any(re.match(r"(module\.)?(blocks\.|patch_embed\.|cls_token|pos_embed)", k) for k in keys):
        return "timm"
    shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
    raise ValueError(
        f"cannot recognise the checkpoint layout of {raw.source} (keys: {shown or 'none'}). Supported: "
        f"{', '.join(FORMATS)}; pass format=... if you know it."
    )


def _strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if tensors and all(k.startswith(prefix) for k in tensors):
        return {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def _jax_keys(keys: list[str]) -> list[str]:
    for prefix in ("opt/target/", "params/"):  # optimizer and big_vision checkpoints nest the parameters
        if keys and all(k.startswith(prefix) for k in keys):
            return [k[len(prefix):] for k in keys]
    return keys


def _from_timm(raw: RawCheckpoint, fmt: str) -> Converted:
    converted = Converted(fmt, {}, source=raw.source)
    for key, value in _strip_prefix(dict(raw.tensors), "module.").items():
        if key.startswith("pre_logits."):  # old timm ports of the 21k models
            converted.features_only = True
        else:
            converted.tensors[key] = value
    if fmt == "vit_edu":
        converted.known = dataclasses.asdict(config_from_json(raw.metadata[CONFIG_KEY]))
    return converted


def _from_transformers(raw: RawCheckpoint) -> Converted:
    ours, unused = from_transformers_state_dict(raw.tensors)
    converted = Converted("transformers", ours, source=raw.source)
    pooler = [k for k in unused if "pooler." in k]
    converted.unexpected = [k for k in unused if k not in pooler]
    if pooler:
        converted.notes.append(_POOLER_NOTE.format(source=raw.source, keys=", ".join(pooler)))
    config = raw.hf_config
    if config is None:  # a bare state dict: transformers' default LayerNorm epsilon
        converted.known["layer_norm_eps"] = 1e-12
        return converted
    converted.known.update(heads=config.get("num_attention_heads"), layer_norm_eps=config.get("layer_norm_eps", 1e-12))
    if "image_size" in config:
        size = config["image_size"]
        converted.known["image_size"] = tuple(size) if isinstance(size, list) else size
    if config.get("hidden_act", "gelu") != "gelu":
        converted.notes.append(f"{raw.source} uses hidden_act={config['hidden_act']!r}; vit_edu uses exact GELU, "
                               "so outputs differ slightly.")
    if not config.get("qkv_bias", True):  # no q/k/v biases: zeros compute the same function
        for key in [k for k in ours if k.endswith("attn.qkv.weight")]:
            ours.setdefault(key[: -len("weight")] + "bias", torch.zeros(ours[key].shape[0], dtype=ours[key].dtype))
    if isinstance(config.get("id2label"), dict) and "head.weight" in ours:
        converted.labels = [config["id2label"][k] for k in sorted(config["id2label"], key=int)]
    return converted


def _need_ndim(raw: RawCheckpoint, key: str, value: torch.Tensor, ndim: int, layout: str) -> torch.Tensor:
    if value.ndim != ndim:
        raise ValueError(f"{raw.source}: {key!r} has shape {tuple(value.shape)}, expected {layout}.")
    return value


def _from_jax(raw: RawCheckpoint) -> Converted:
    converted = Converted("jax", {}, source=raw.source)
    qkv: dict[tuple[str, str], dict[int, torch.Tensor]] = {}
    for key, value in zip(_jax_keys(list(raw.tensors)), raw.tensors.values()):
        block = re.fullmatch(r"Transformer/encoderblock_(\d+)/(.+)", key)
        inner = block.group(2) if block else ""
        part = re.fullmatch(_ATTN + r"(query|key|value)/(kernel|bias)", inner)
        if key == "embedding/kernel":  # (P, P, C, D) -> (D, C, P, P)
            value = _need_ndim(raw, key, value, 4, "(P, P, C, D)").permute(3, 2, 0, 1)
        elif key == "head/kernel" or inner in ("MlpBlock_3/Dense_0/kernel", "MlpBlock_3/Dense_1/kernel"):
            value = _need_ndim(raw, key, value, 2, "a 2-D (in, out) kernel").T
        elif inner == _ATTN + "out/kernel":  # (k, d_h, D) -> (D, k d_h)
            value = _need_ndim(raw, key, value, 3, "(heads, head_dim, D)").flatten(0, 1).T
        elif part:
            kind = "weight" if part.group(2) == "kernel" else "bias"
            expected = (3, "(D, heads, head_dim)") if kind == "weight" else (2, "(heads, head_dim)")
            value = _need_ndim(raw, key, value, *expected)
            if kind == "weight":  # (D, k, d_h) -> (k d_h, D); the shape tells k and d_h
                converted.known.update(heads=value.shape[1], dim_head=value.shape[2])
            value = value.flatten(1).T if kind == "weight" else value.flatten()
            qkv.setdefault((block.group(1), kind), {})[_JAX_QKV.index(part.group(1))] = value
            continue
        if key.startswith("pre_logits/"):
            converted.features_only = True
        elif key in _JAX_TOP:
            converted.tensors[_JAX_TOP[key]] = value.contiguous()
        elif block and inner in _JAX_BLOCK:
            converted.tensors[f"blocks.{block.group(1)}.{_JAX_BLOCK[inner]}"] = value.contiguous()
        else:
            converted.unexpected.append(key)
    for (index, kind), parts in qkv.items():
        if sorted(parts) != [0, 1, 2]:
            raise ValueError(f"{raw.source}: encoderblock_{index} lacks some of the query/key/value {kind}s.")
        stacked = torch.cat([parts[0], parts[1], parts[2]], dim=0)  # (3 k d_h, D) or (3 k d_h,)
        converted.tensors[f"blocks.{index}.attn.qkv.{kind}"] = stacked.contiguous()
    return converted


def to_vit_edu(raw: RawCheckpoint, fmt: str = "auto") -> Converted:
    """Rename the tensors of ``raw`` to vit_edu keys (``fmt``: one of FORMATS or ``"auto"``)."""
    if fmt == "auto":
        fmt = detect_format(raw)
    if fmt == "vit_edu" and CONFIG_KEY not in raw.metadata:
        raise ValueError(f"{raw.source} has no {CONFIG_KEY!r} metadata; load it with format='timm' and heads=...")
    if fmt in ("vit_edu", "timm"):
        converted = _from_timm(raw, fmt)
    elif fmt == "transformers":
        converted = _from_transformers(raw)
    else:
        converted = _from_jax(raw)
    if converted.features_only:
        converted.notes.append(_PRE_LOGITS_NOTE.format(source=raw.source))
    return converted


def to_jax_arrays(model) -> dict[str, np.ndarray]:
    """A vit_edu ``ViT``'s weights in the original JAX ``.npz`` layout (save with ``numpy.savez``)."""
    cfg = model.config
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
        name = reverse_block[inner] if block else {v: k for k, v in _JAX_TOP.items()}[key]
        out[prefix + name] = value.contiguous().numpy().copy()
    return out
