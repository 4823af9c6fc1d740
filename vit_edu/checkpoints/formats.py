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
import math
from dataclasses import dataclass, field

import torch

from vit_edu.checkpoints.layouts import rename_transformers
from vit_edu.config import ViTConfig

CONFIG_KEY = "vit_edu_config"
FORMATS = ("vit_edu", "timm", "transformers", "jax")
PRE_LOGITS_NOTE = (
    "{source} has a pre-logits layer (a Linear + tanh before the classifier, used by the paper for ImageNet-21k "
    "pre-training). vit_edu's ViT has no such layer, so the model loads as a feature extractor (num_classes=0) "
    "and the pre-logits and head weights are not used; put a new head on it and fine-tune."
)
_HF_SIZES = {"num_attention_heads": "heads", "hidden_size": "dim", "num_hidden_layers": "depth",
             "intermediate_size": "mlp_dim", "num_channels": "channels"}
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
    config_source: str = "config.json"  # where hf_config came from, for messages


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
    declared_by: str = ""  # who states ``known`` (a config.json, the vit_edu metadata), for messages
    origins: dict[str, str] = field(default_factory=dict)  # vit_edu key -> the file's name for it, when renamed


def config_to_json(config: ViTConfig) -> str:
    """A ViTConfig as a JSON string (tuples become lists)."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def check_layer_norm_eps(value: object, where: str) -> float:
    """A LayerNorm epsilon read from a file: a finite positive number (``where`` names the file and field)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where} is {value!r}; layer_norm_eps must be a small positive number such as 1e-6.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where} is {value!r}; layer_norm_eps must be finite and positive (1e-6 in the paper's "
                         "code, 1e-12 in transformers). The file is damaged.")
    return float(value)


def config_from_json(text: str, source: str = "the stored config") -> ViTConfig:
    """Inverse of :func:`config_to_json`, with a clear error (naming ``source``) for a damaged string."""
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source} is not valid JSON ({error}); the file is damaged.") from None
    except RecursionError:
        raise ValueError(f"{source} nests its JSON too deeply to be a config; the file is damaged.") from None
    if not isinstance(fields, dict):
        found = "null" if fields is None else f"a JSON {type(fields).__name__}"
        raise ValueError(f"{source} holds {found}, not an object of ViTConfig fields; the file is damaged.")
    names = {f.name for f in dataclasses.fields(ViTConfig)}
    unknown = set(fields) - names
    if unknown:
        raise ValueError(f"{source} has unknown fields {sorted(unknown)[:10]}; was it written by a newer vit_edu?")
    for name in ("image_size", "patch_size"):
        if isinstance(fields.get(name), list):
            fields[name] = tuple(fields[name])
    if "layer_norm_eps" in fields:
        check_layer_norm_eps(fields["layer_norm_eps"], f"{source}: layer_norm_eps")
    try:
        return ViTConfig(**fields)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{source} is not a valid config: {error}") from None


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
        converted.declared_by = f"the {CONFIG_KEY!r} metadata of {raw.source}"
        converted.known = dataclasses.asdict(config_from_json(raw.metadata[CONFIG_KEY], converted.declared_by))
    return converted


def _declared_int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where} is {value!r}, not a whole number; the file is damaged.")
    if value < 1:
        raise ValueError(f"{where} is {value}; it must be a positive whole number. The file is damaged.")
    return value


def _declared_pair(value: object, where: str) -> tuple[int, int]:
    pair = value if isinstance(value, list) and len(value) == 2 else [value, value]
    return _declared_int(pair[0], where), _declared_int(pair[1], where)


def _labels(id2label: object, tensors: dict[str, torch.Tensor], where: str) -> list[str] | None:
    """Class names from ``id2label``, whose keys must be exactly the head's class indices 0..K-1."""
    head = tensors.get("head.weight")
    if id2label is None or head is None or head.ndim != 2 or head.numel() == 0:
        return None  # no head (features only), or a head that shape inference refuses with a clearer message
    classes = head.shape[0]
    if not isinstance(id2label, dict):
        raise ValueError(f"{where}: id2label is {type(id2label).__name__}, not a dict from class index to name.")
    if len(id2label) != classes:
        raise ValueError(
            f"{where}: id2label names {len(id2label)} classes but the classifier has {classes} outputs; "
            "every class needs exactly one name. The file is damaged; fix or remove id2label."
        )
    names: list[str | None] = [None] * classes
    for key, label in id2label.items():
        text = str(key) if isinstance(key, int) and not isinstance(key, bool) else key
        index = int(text) if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 18 else -1
        if not 0 <= index < classes or str(index) != text or names[index] is not None:
            raise ValueError(f"{where}: id2label has the key {key!r}; its keys must be the class indices 0 to "
                             f"{classes - 1}, each once. The file is damaged.")
        if not isinstance(label, str):
            raise ValueError(f"{where}: id2label[{key!r}] is {label!r}, not a class name.")
        names[index] = label
    return names


def from_transformers(raw: RawCheckpoint) -> Converted:
    """Rename the tensors (``layouts.rename_transformers``); take heads, epsilon, sizes and labels from config.json."""
    ours, unused, origins = rename_transformers(raw.tensors, raw.source)
    converted = Converted("transformers", ours, source=raw.source, origins=origins)
    pooler = [k for k in unused if "pooler." in k]
    converted.unexpected = [k for k in unused if k not in pooler]
    if pooler:
        converted.notes.append(_POOLER_NOTE.format(source=raw.source, keys=", ".join(pooler)))
    config = raw.hf_config
    if config is None:  # a bare state dict: transformers' default LayerNorm epsilon
        converted.known["layer_norm_eps"] = 1e-12
        return converted
    where = converted.declared_by = raw.config_source
    converted.known["layer_norm_eps"] = check_layer_norm_eps(config.get("layer_norm_eps", 1e-12),
                                                             f"{where}: layer_norm_eps")
    for hf_name, name in _HF_SIZES.items():  # sizes the tensors must confirm (inference.check_declared)
        if config.get(hf_name) is not None:
            converted.known[name] = _declared_int(config[hf_name], f"{where}: {hf_name}")
    for name in ("image_size", "patch_size"):
        if config.get(name) is not None:
            converted.known[name] = _declared_pair(config[name], f"{where}: {name}")
    if config.get("hidden_act", "gelu") != "gelu":
        converted.notes.append(f"{raw.source} uses hidden_act={config['hidden_act']!r}; vit_edu uses exact GELU, "
                               "so outputs differ slightly.")
    if not config.get("qkv_bias", True):  # no q/k/v biases: zeros compute the same function
        for key in [k for k in ours if k.endswith("attn.qkv.weight") and ours[k].ndim == 2]:
            ours.setdefault(key[: -len("weight")] + "bias", torch.zeros(ours[key].shape[0], dtype=ours[key].dtype))
    converted.labels = _labels(config.get("id2label"), ours, where)
    return converted
