"""From a renamed checkpoint to a model: infer the config from tensor shapes, then load.

What shapes determine (with ``patch_embed.proj.weight`` (D, C, P_h, P_w)):
D, C, P from the patch kernel; L from the block indices; M from ``fc1`` (M, D); K from the head;
N from ``pos_embed`` (1, N + 1, D) (a square grid is assumed unless ``image_size`` is given).
The number of heads k is *not* in a fused qkv weight (3 k d_h, D): it comes from the source
(a vit_edu config, a ``config.json``, JAX kernels (D, k, d_h)), from ``overrides``, or from a paper
preset with the same D, L and M; otherwise :func:`resolve_config` asks for ``heads=...``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import torch

from vit_edu.checkpoints.formats import Converted
from vit_edu.config import PRESETS, ViTConfig, preset_for_shape
from vit_edu.model import ViT
from vit_edu.patches import linear_weight_from_conv

_SHAPE_FIELDS = ("dim", "depth", "mlp_dim", "channels", "patch_size", "num_classes")


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
    valid = {f.name for f in dataclasses.fields(ViTConfig)}
    fields = {k: v for k, v in known.items() if k in valid and v is not None}
    for name in _SHAPE_FIELDS:
        fields[name] = shapes[name]
    extra = {k: v for k, v in overrides.items() if k != "seed"}
    unknown = sorted(set(extra) - valid)
    if unknown:
        raise TypeError(
            f"unknown override(s) {unknown}; overrides are the ViTConfig fields {sorted(valid)} and seed."
        )
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
    if converted.features_only:
        if fields["num_classes"] and "num_classes" in overrides:
            raise ValueError("this checkpoint has a pre-logits layer and loads as features only (num_classes=0).")
        fields["num_classes"] = 0
    heads = extra.pop("heads", None)
    if heads is not None and known.get("heads") not in (None, heads):
        raise ValueError(f"heads={heads!r} contradicts {converted.source}, which has heads={known['heads']}.")
    heads = heads or known.get("heads")
    if heads is None:
        match = preset_for_shape(shapes["dim"], shapes["depth"], shapes["mlp_dim"])
        inner = shapes["inner_dim"]
        divisors = [h for h in range(1, inner + 1) if inner % h == 0][:12]
        if match is None:
            raise ValueError(
                f"{converted.source} does not say how many attention heads it has: a fused qkv weight "
                f"(3 * {shapes['inner_dim']}, {shapes['dim']}) looks the same for any number of heads, and "
                f"D={shapes['dim']}, L={shapes['depth']}, M={shapes['mlp_dim']} match no paper preset. Pass "
                f"heads=..., a divisor of {inner}: {', '.join(map(str, divisors))} (the paper's models use "
                "64-wide heads, heads = D / 64)."
            )
        heads = PRESETS[match]["heads"]
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
    fields.update(extra)  # dropout, pool, patch_embedding, ... (ViTConfig validates them)
    config = ViTConfig(**fields)
    target = None
    if requested is not None:
        target = config.replace(image_size=requested).image_size
        if target == config.image_size:
            target = None
    return config, target


def build_model(converted: Converted, strict: bool, overrides: dict, stacklevel: int = 2) -> ViT:
    """Build the model that ``converted`` describes and copy its tensors in (see ``load_checkpoint``)."""
    config, resample_to = resolve_config(converted, overrides)
    form = config.patch_embedding
    with torch.device("meta"):  # shapes only, no memory and no random initialisation (slow for big models)
        model = ViT(config)
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
        f"{label} ({len(items)}): {', '.join(items[:10])}" + (f", ... ({len(items) - 10} more)" * (len(items) > 10))
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
    # copies in float32: the model must not share memory with the caller's tensors
    usable = {k: v.to(torch.float32, copy=True).contiguous()
              for k, v in tensors.items() if k in expected and k not in bad}
    if missing or bad:  # some parameters keep a fresh (seeded) initialisation
        model = ViT(config, seed=overrides.get("seed", 0))
        model.load_state_dict(usable, strict=False)
    else:
        model.load_state_dict(usable, strict=True, assign=True)
    if resample_to is not None:
        model.resample_position_embeddings(resample_to)
    model.checkpoint_info = {"format": converted.format, "source": converted.source, "ignored": unexpected,
                             "labels": converted.labels if config.num_classes else None}
    return model.eval()
