"""Checkpoint layouts -> vit_edu parameter names, and the config the tensors imply.

Every reader produces a :class:`RawCheckpoint` (tensors + metadata); :func:`to_vit_edu` renames
its tensors to ours (= timm's) and collects the facts a config needs; :func:`build_model` infers
the :class:`ViTConfig` from tensor shapes, fills in the rest (config file, paper preset,
``overrides``) and loads the weights.

What shapes determine (with ``patch_embed.proj.weight`` (D, C, P_h, P_w)):
D, C, P from the patch kernel; L from the block indices; M from ``fc1`` (M, D); K from the head;
N from ``pos_embed`` (1, N + 1, D) (a square grid is assumed unless ``image_size`` is given).
The number of heads k is *not* in a fused qkv weight (3 k d_h, D); the JAX kernels (D, k, d_h) hold it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field

import torch

from .config import _PRESET_SHAPES, ViTConfig
from .model import ViT
from .patches import linear_weight_from_conv

CONFIG_KEY = "vit_edu_config"
FORMATS = ("vit_edu", "timm", "transformers", "jax")
_SHAPE_FIELDS = ("dim", "depth", "mlp_dim", "channels", "patch_size", "num_classes")


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
    if any("/" in k and ("embedding" in k or k.startswith("Transformer")) for k in keys):
        return "jax"
    if raw.hf_config is not None or any(
        re.match(r"(vit\.)?(embeddings\.|layers\.\d|encoder\.layer\.\d)", k) for k in keys
    ):
        return "transformers"
    if any(k.startswith(("blocks.", "patch_embed.", "cls_token", "pos_embed")) for k in keys):
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


def _from_timm(raw: RawCheckpoint, fmt: str) -> Converted:
    tensors = _strip_prefix(dict(raw.tensors), "module.")
    converted = Converted(fmt, {}, source=raw.source)
    for key, value in tensors.items():
        if key.startswith("pre_logits."):
            converted.features_only = True
        else:
            converted.tensors[key] = value
    if fmt == "vit_edu":
        converted.known = dataclasses.asdict(config_from_json(raw.metadata[CONFIG_KEY]))
    return converted


def to_vit_edu(raw: RawCheckpoint, fmt: str = "auto") -> Converted:
    """Rename the tensors of ``raw`` to vit_edu keys (``fmt``: one of FORMATS or ``"auto"``)."""
    if fmt == "auto":
        fmt = detect_format(raw)
    if fmt == "vit_edu" and CONFIG_KEY not in raw.metadata:
        raise ValueError(f"{raw.source} has no {CONFIG_KEY!r} metadata; load it with format='timm' and heads=...")
    if fmt in ("vit_edu", "timm"):
        converted = _from_timm(raw, fmt)
    else:
        raise NotImplementedError(f"format {fmt!r} is not supported yet.")
    if converted.features_only:
        converted.notes.append(
            f"{raw.source} has a pre-logits layer (a Linear + tanh before the classifier, used by the paper for "
            "ImageNet-21k pre-training). vit_edu's ViT has no such layer, so the model loads as a feature "
            "extractor (num_classes=0); put a new head on it and fine-tune."
        )
    return converted


def _preset_heads(dim: int, depth: int, mlp_dim: int) -> tuple[int, str] | None:
    for name, shape in _PRESET_SHAPES.items():
        if (shape["dim"], shape["depth"], shape["mlp_dim"]) == (dim, depth, mlp_dim):
            return shape["heads"], name
    return None


def infer_shapes(tensors: dict[str, torch.Tensor], source: str = "the checkpoint") -> dict:
    """The config fields that tensor shapes determine (see the module docstring)."""
    def need(key: str, ndim: int) -> torch.Tensor:
        if key not in tensors:
            raise ValueError(f"{source} has no {key!r} tensor, so its architecture cannot be inferred.")
        if tensors[key].ndim != ndim:
            raise ValueError(f"{source}: {key!r} has shape {tuple(tensors[key].shape)}, expected {ndim} dimensions.")
        return tensors[key]

    proj = need("patch_embed.proj.weight", 4)  # (D, C, P_h, P_w)
    dim, channels = proj.shape[0], proj.shape[1]
    blocks = {int(m.group(1)) for k in tensors if (m := re.match(r"blocks\.(\d+)\.", k))}
    if not blocks:
        raise ValueError(f"{source} has no encoder blocks ('blocks.0....' keys).")
    qkv = need("blocks.0.attn.qkv.weight", 2)  # (3 k d_h, D)
    fields = dict(
        dim=dim, channels=channels, patch_size=(proj.shape[2], proj.shape[3]), depth=max(blocks) + 1,
        mlp_dim=need("blocks.0.mlp.fc1.weight", 2).shape[0], inner_dim=qkv.shape[0] // 3,
        num_classes=tensors["head.weight"].shape[0] if "head.weight" in tensors else 0,
        num_patches=need("pos_embed", 3).shape[1] - 1,
    )
    return fields


def resolve_config(converted: Converted, overrides: dict) -> tuple[ViTConfig, tuple[int, int] | None]:
    """The config to build the model with, and the image size to resample to afterwards (or None)."""
    shapes = infer_shapes(converted.tensors, converted.source)
    known = dict(converted.known)
    if converted.features_only:
        known["num_classes"] = 0
    fields = {k: v for k, v in known.items() if k in {f.name for f in dataclasses.fields(ViTConfig)}}
    for name in _SHAPE_FIELDS:
        fields[name] = shapes[name]
    extra = {k: v for k, v in overrides.items() if k not in ("patch_embedding", "seed")}
    for name in _SHAPE_FIELDS:
        if name not in extra:
            continue
        wanted, found = extra.pop(name), shapes[name]
        if name == "patch_size" and isinstance(wanted, int):
            wanted = (wanted, wanted)
        if name == "num_classes" and wanted == 0:
            fields["num_classes"] = 0
        elif wanted != found:
            hint = " (use num_classes=0 to drop the head, then add your own)" if name == "num_classes" else ""
            raise ValueError(
                f"{name}={wanted!r} does not match the checkpoint, whose tensors have {name}={found!r}{hint}."
            )
    if converted.features_only and fields["num_classes"]:
        raise ValueError("this checkpoint has a pre-logits layer and loads as features only (num_classes=0).")
    heads = extra.pop("heads", known.get("heads"))
    if heads is None:
        match = _preset_heads(shapes["dim"], shapes["depth"], shapes["mlp_dim"])
        if match is None:
            raise ValueError(
                f"{converted.source} does not say how many attention heads it has: a fused qkv weight "
                f"(3 * {shapes['inner_dim']}, {shapes['dim']}) looks the same for any number of heads, and "
                f"D={shapes['dim']}, L={shapes['depth']}, M={shapes['mlp_dim']} match no paper preset. Pass "
                f"heads=..., e.g. load_checkpoint(..., heads={max(shapes['inner_dim'] // 64, 1)}) for 64-wide heads."
            )
        heads = match[0]
    fields["heads"] = heads
    if shapes["inner_dim"] % heads:
        raise ValueError(
            f"heads={heads} does not divide the attention width {shapes['inner_dim']} of {converted.source}."
        )
    fields["dim_head"] = None if shapes["inner_dim"] == shapes["dim"] else shapes["inner_dim"] // heads
    requested = extra.pop("image_size", None)
    trained = fields.get("image_size")
    if trained is None:
        side = math.isqrt(shapes["num_patches"])
        if side * side != shapes["num_patches"]:
            if requested is None:
                raise ValueError(
                    f"{converted.source} has {shapes['num_patches']} position embeddings for patches, not a square "
                    "grid; pass image_size=(H, W) of the images it was trained on."
                )
            trained = requested
        else:
            trained = (side * shapes["patch_size"][0], side * shapes["patch_size"][1])
    fields["image_size"] = trained
    fields.update(extra)  # dropout, pool, layer_norm_eps, dim_head, ... (ViTConfig validates them)
    config = ViTConfig(**fields)
    target = None
    if requested is not None:
        target = config.replace(image_size=requested).image_size
        if target == config.image_size:
            target = None
    return config, target


def build_model(converted: Converted, strict: bool, overrides: dict, stacklevel: int = 2) -> ViT:
    """Build the model that ``converted`` describes and copy its tensors in (see ``load_checkpoint``)."""
    import warnings

    config, resample_to = resolve_config(converted, overrides)
    form = overrides.get("patch_embedding", "conv")
    model = ViT.from_config(config, patch_embedding=form, seed=overrides.get("seed", 0))
    tensors = dict(converted.tensors)
    if config.num_classes == 0:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("head.")}
    if form == "linear" and "patch_embed.proj.weight" in tensors:
        tensors["patch_embed.proj.weight"] = linear_weight_from_conv(tensors["patch_embed.proj.weight"])
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected] + list(converted.unexpected)
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in tensors.items() if k in expected and v.shape != expected[k].shape
    ]
    problems = [
        f"{label} ({len(items)}): {', '.join(items)}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched))
        if items
    ]
    if problems:
        message = f"{converted.source} ({converted.format} layout) does not fit {config}:\n  " + "\n  ".join(problems)
        if strict:
            raise ValueError(message + "\nPass strict=False to load only the tensors that fit.")
        message += "\nLoaded the tensors that fit; the rest keep their initial values."
        warnings.warn(message, UserWarning, stacklevel=stacklevel)
    bad = {m.split(":")[0] for m in mismatched}
    usable = {k: v.to(expected[k].dtype) for k, v in tensors.items() if k in expected and k not in bad}
    model.load_state_dict(usable, strict=False)
    if resample_to is not None:
        model.resample_position_embeddings(resample_to)
    model.checkpoint_info = {"format": converted.format, "source": converted.source, "ignored": unexpected}
    return model.eval()
