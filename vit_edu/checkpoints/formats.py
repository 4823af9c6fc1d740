"""Checkpoint layouts -> vit_edu parameter names (ours are timm's); the JAX layout is in ``checkpoint_jax``.

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

Here: the two data types every reader and converter shares, the vit_edu config as JSON, and the
timm and transformers renamings (the latter delegates the key tables to ``convert.py``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import torch

from vit_edu.checkpoints.layouts import from_transformers_state_dict
from vit_edu.config import ViTConfig

CONFIG_KEY = "vit_edu_config"
FORMATS = ("vit_edu", "timm", "transformers", "jax")
PRE_LOGITS_NOTE = (
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
    source: str = "the state dict"


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
    source: str = "the state dict"


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


def _strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if tensors and all(k.startswith(prefix) for k in tensors):
        return {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def from_timm(raw: RawCheckpoint, fmt: str) -> Converted:
    """timm names are ours: drop a DDP ``module.`` prefix and note a pre-logits layer."""
    converted = Converted(fmt, {}, source=raw.source)
    for key, value in _strip_prefix(dict(raw.tensors), "module.").items():
        if key.startswith("pre_logits."):  # old timm ports of the 21k models
            converted.features_only = True
        else:
            converted.tensors[key] = value
    if fmt == "vit_edu":
        converted.known = dataclasses.asdict(config_from_json(raw.metadata[CONFIG_KEY]))
    return converted


def from_transformers(raw: RawCheckpoint) -> Converted:
    """Rename with ``convert.from_transformers_state_dict``; take heads, epsilon, size and labels from config.json."""
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
