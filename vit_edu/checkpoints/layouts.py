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
from vit_edu.embeddings import POSITION_PARAMETER_NAMES

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
        elif key in POSITION_PARAMETER_NAMES:
            raise ValueError(f"no transformers name for parameter {key!r}: transformers' ViT has only a learned "
                             "(1, N + 1, D) position table (position_embedding='learned').")
        else:
            raise ValueError(f"no transformers name for parameter {key!r} (is the patch embedding 'conv'?).")
    return out


def check_block_numbers(numbers: set[str], source: str, name: str) -> int:
    """The depth L of encoder blocks numbered ``numbers``, which must be exactly 0, 1, ..., L-1.

    Checked before anything is built: a checkpoint's depth must be what its tensors hold, not the
    largest number in a key (one key ``blocks.100000000.norm1.weight`` would otherwise build 10^8 blocks).
    ``name`` shows a block's key, e.g. ``"blocks.{}"`` or ``"encoderblock_{}"``.
    """
    depth = len(numbers)
    width = len(str(depth))
    wrong = sorted((n for n in numbers if not (n.isascii() and n.isdigit() and (n == "0" or n[0] != "0")
                                              and len(n) <= width and int(n) < depth)), key=lambda n: (len(n), n))
    if wrong:
        shown = ", ".join(name.format(n[:20]) for n in wrong[:3])
        raise ValueError(
            f"{source} numbers its encoder blocks wrongly ({shown}): {depth} blocks must be numbered 0 to "
            f"{depth - 1} without gaps. The file is damaged or not a ViT checkpoint."
        )
    return depth


def check_qkv_parts(parts: list[tuple[str, torch.Tensor]], source: str) -> None:
    """Query, key and value tensors that are stacked into one must agree in shape and dtype (otherwise
    ``torch.cat`` fails, splits the heads in the wrong places, or promotes an integer tensor to float)."""
    (first_name, first), *others = parts
    for name, value in others:
        if value.dtype != first.dtype or value.shape != first.shape:
            raise ValueError(
                f"{source}: {first_name!r} is {tuple(first.shape)} {first.dtype} but {name!r} is "
                f"{tuple(value.shape)} {value.dtype}; query, key and value must have the same shape and dtype. "
                "The file is damaged."
            )


def _put(ours: dict, origins: dict, name: str, value, key: str, source: str) -> None:
    """Store a renamed tensor; two of the file's names for the same parameter would silently overwrite."""
    if name in ours:
        raise ValueError(f"{source} has both {origins[name]!r} and {key!r}, two names for the same weight; "
                         "the file mixes layouts or is damaged.")
    ours[name], origins[name] = value, key


def rename_transformers(
    state_dict: dict[str, torch.Tensor], source: str = "the state dict"
) -> tuple[dict[str, torch.Tensor], list[str], dict[str, str]]:
    """:func:`from_transformers_state_dict` that also returns each renamed tensor's original name and
    checks what renaming relies on: layers numbered 0..L-1, and q/k/v parts that can be stacked."""
    ours: dict[str, torch.Tensor] = {}
    origins: dict[str, str] = {}
    unused: list[str] = []
    qkv_parts: dict[tuple[str, str], dict[int, tuple[str, torch.Tensor]]] = {}
    reverse_top = {v: k for k, v in _TOP_KEYS.items()}
    layers: set[str] = set()
    for key, value in state_dict.items():
        bare = key[4:] if key.startswith("vit.") else key
        match = re.fullmatch(r"(?:layers|encoder\.layer)\.([0-9]+)\.(.+)\.(weight|bias)", bare)
        if bare in reverse_top:
            _put(ours, origins, reverse_top[bare], value, key, source)
        elif key.startswith("classifier."):
            _put(ours, origins, "head." + key.split(".", 1)[1], value, key, source)
        elif match:
            index, inner, kind = match.groups()
            layers.add(index)
            qkv_index = next((names.index(inner) for names in _QKV.values() if inner in names), None)
            block_key = next((ours_name for ours_name, names in _BLOCK_KEYS.items() if inner in names), None)
            if qkv_index is not None:
                part = qkv_parts.setdefault((index, kind), {})
                if qkv_index in part:
                    raise ValueError(f"{source} has both {part[qkv_index][0]!r} and {key!r}, two names for the "
                                     "same weight; the file mixes layouts or is damaged.")
                part[qkv_index] = (key, value)
            elif block_key is not None:
                _put(ours, origins, f"blocks.{index}.{block_key}.{kind}", value, key, source)
            else:
                unused.append(key)
        else:
            unused.append(key)
    check_block_numbers(layers, source, "layer {}")
    for (index, kind), parts in qkv_parts.items():
        if sorted(parts) != [0, 1, 2]:
            raise ValueError(f"{source}: layer {index} has only {len(parts)} of the query/key/value {kind} tensors.")
        ordered = [parts[0], parts[1], parts[2]]
        check_qkv_parts(ordered, source)
        name = f"blocks.{index}.attn.qkv.{kind}"
        ours[name] = torch.cat([value for _, value in ordered], dim=0)  # (3 I, D) or (3 I,)
        origins[name] = ", ".join(key for key, _ in ordered)
    return ours, unused, origins


def from_transformers_state_dict(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a transformers ViT state dict (either layout, with or without ``vit.``) to vit_edu keys.

    Returns:
        ``(ours, unused)``: the renamed tensors and the keys that have no vit_edu counterpart
        (e.g. ``pooler.dense.*`` of ``ViTModel``).
    """
    ours, unused, _ = rename_transformers(state_dict)
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
    if config.position_embedding != "learned":
        raise ValueError(f"transformers' ViT has one learned (1, N + 1, D) position table; a model with "
                         f"position_embedding={config.position_embedding!r} has no counterpart there. Only "
                         "position_embedding='learned' models convert.")
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
