"""Weight layouts: vit_edu (= timm names) <-> Hugging Face ``transformers`` ViT.

The two models compute the same function; only the names and one layout differ:

vit_edu / timm               transformers 5, in memory          transformers files (Hub)
cls_token                    vit.embeddings.cls_token            same
pos_embed                    vit.embeddings.position_embeddings  same
patch_embed.proj             vit.embeddings.patch_embeddings.projection (both)
blocks.i.norm1 / norm2       vit.layers.i.layernorm_before/after vit.encoder.layer.i.layernorm_before/after
blocks.i.attn.qkv (fused)    ...attention.{q,k,v}_proj           ...attention.attention.{query,key,value}
blocks.i.attn.proj           ...attention.o_proj                 ...attention.output.dense
blocks.i.mlp.fc1 / fc2       ...mlp.fc1 / fc2                    ...intermediate.dense / output.dense
norm, head                   vit.layernorm, classifier           same

The fused qkv weight (3 I, D) is the q, k and v weights stacked in that order.
"""

from __future__ import annotations

import re

import torch

from vit_edu.config import ViTConfig

# per-block suffixes: ours -> (in-memory v5, saved files)
_BLOCK_KEYS = {
    "norm1": ("layernorm_before", "layernorm_before"),
    "norm2": ("layernorm_after", "layernorm_after"),
    "attn.proj": ("attention.o_proj", "attention.output.dense"),
    "mlp.fc1": ("mlp.fc1", "intermediate.dense"),
    "mlp.fc2": ("mlp.fc2", "output.dense"),
}
_QKV = {"memory": ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
        "file": ("attention.attention.query", "attention.attention.key", "attention.attention.value")}
_TOP_KEYS = {
    "cls_token": "embeddings.cls_token",
    "pos_embed": "embeddings.position_embeddings",
    "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
    "norm.weight": "layernorm.weight",
    "norm.bias": "layernorm.bias",
}
_LAYER_PREFIX = {"memory": "layers.{i}.", "file": "encoder.layer.{i}."}


def to_transformers_state_dict(state_dict: dict[str, torch.Tensor], layout: str = "memory") -> dict[str, torch.Tensor]:
    """Rename a vit_edu state dict to ``ViTForImageClassification`` keys.

    Args:
        state_dict: ``ViT.state_dict()`` (conv patch embedding).
        layout: ``"memory"`` (transformers 5 module names) or ``"file"`` (names in saved files).
    """
    if layout not in _LAYER_PREFIX:
        raise ValueError(f"layout must be 'memory' or 'file', got {layout!r}.")
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        match = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(weight|bias)", key)
        if match:
            index, inner, kind = match.groups()
            prefix = "vit." + _LAYER_PREFIX[layout].format(i=index)
            if inner == "attn.qkv":
                for name, part in zip(_QKV[layout], value.chunk(3, dim=0)):
                    out[f"{prefix}{name}.{kind}"] = part.clone()
            else:
                hf_inner = _BLOCK_KEYS[inner][0 if layout == "memory" else 1]
                out[f"{prefix}{hf_inner}.{kind}"] = value
        elif key in _TOP_KEYS:
            out["vit." + _TOP_KEYS[key]] = value
        elif key.startswith("head."):
            out["classifier." + key.split(".", 1)[1]] = value
        else:
            raise ValueError(f"no transformers name for parameter {key!r} (is the patch embedding 'conv'?).")
    return out


def from_transformers_state_dict(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a transformers ViT state dict (either layout, with or without ``vit.``) to vit_edu keys.

    Returns:
        ``(ours, unused)``: the renamed tensors and the keys that have no vit_edu counterpart
        (e.g. ``pooler.dense.*`` of ``ViTModel``).
    """
    ours: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    qkv_parts: dict[tuple[str, str], dict[int, torch.Tensor]] = {}
    reverse_top = {v: k for k, v in _TOP_KEYS.items()}
    for key, value in state_dict.items():
        bare = key[4:] if key.startswith("vit.") else key
        match = re.fullmatch(r"(?:layers|encoder\.layer)\.(\d+)\.(.+)\.(weight|bias)", bare)
        if bare in reverse_top:
            ours[reverse_top[bare]] = value
        elif key.startswith("classifier."):
            ours["head." + key.split(".", 1)[1]] = value
        elif match:
            index, inner, kind = match.groups()
            qkv_index = next((names.index(inner) for names in _QKV.values() if inner in names), None)
            block_key = next((ours_name for ours_name, names in _BLOCK_KEYS.items() if inner in names), None)
            if qkv_index is not None:
                qkv_parts.setdefault((index, kind), {})[qkv_index] = value
            elif block_key is not None:
                ours[f"blocks.{index}.{block_key}.{kind}"] = value
            else:
                unused.append(key)
        else:
            unused.append(key)
    for (index, kind), parts in qkv_parts.items():
        if sorted(parts) != [0, 1, 2]:
            raise ValueError(f"layer {index}: found only {len(parts)} of the query/key/value {kind} tensors.")
        ours[f"blocks.{index}.attn.qkv.{kind}"] = torch.cat([parts[0], parts[1], parts[2]], dim=0)
    return ours, unused


def transformers_config(config: ViTConfig):
    """The ``transformers.ViTConfig`` of the same architecture (imports transformers lazily)."""
    import transformers

    if config.inner_dim != config.dim:
        raise ValueError(
            f"transformers' ViT needs heads * dim_head == dim; got {config.heads} * {config.head_dim} != {config.dim}."
        )
    if config.pool != "cls":
        raise ValueError("transformers' ViTForImageClassification classifies the class token; use pool='cls'.")
    return transformers.ViTConfig(
        hidden_size=config.dim, num_hidden_layers=config.depth, num_attention_heads=config.heads,
        intermediate_size=config.mlp_dim, image_size=config.image_size, patch_size=config.patch_size,
        num_channels=config.channels, num_labels=max(config.num_classes, 1), qkv_bias=True,
        layer_norm_eps=config.layer_norm_eps, hidden_act="gelu",
        hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.attention_dropout,
    )


def to_transformers(model, attn_implementation: str = "sdpa"):
    """A ``transformers.ViTForImageClassification`` holding a copy of ``model``'s weights (eval mode)."""
    import transformers

    if model.config.num_classes == 0:
        raise ValueError("to_transformers needs a model with a head (num_classes > 0).")
    hf_config = transformers_config(model.config)
    hf_config._attn_implementation = attn_implementation
    hf_model = transformers.ViTForImageClassification(hf_config)
    hf_model.load_state_dict(to_transformers_state_dict(model.state_dict(), layout="memory"), strict=True)
    return hf_model.eval()
