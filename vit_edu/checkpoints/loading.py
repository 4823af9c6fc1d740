"""Saving and loading ViT weights safely: vit_edu files, timm, Hugging Face and the original JAX.

``save_checkpoint`` writes a safetensors file whose metadata holds the model's :class:`ViTConfig`
as JSON (key ``vit_edu_config``) next to your own notes (``{"accuracy": "0.97"}``).
``load_checkpoint`` reads such a file back, and reads weights from the formats people have:

- ``"vit_edu"``: our safetensors files (the config travels with the weights);
- ``"timm"``: a timm ``VisionTransformer`` state dict (the same names as ours);
- ``"transformers"``: ``ViTModel`` / ``ViTForImageClassification`` (a ``save_pretrained`` folder,
  its ``model.safetensors`` or a state dict; in-memory and file names);
- ``"jax"``: the ``.npz`` files of the paper's authors (``embedding/kernel``, ``Transformer/...``).

Security: a pickle can run any code while it is read. Only formats that cannot are read by
default (safetensors; ``.npz`` with ``allow_pickle=False``); ``.pt/.pth/.bin`` go through
``torch.load(weights_only=True)``, which refuses everything but tensors and plain containers.
A checkpoint is untrusted input in other ways too: what it declares (array shapes, unpacked sizes,
block numbers, sizes in ``config.json``) is checked against what it holds before memory is allocated,
its tensors may hold at most ``max_bytes``, and values that cannot be trained weights (integers,
NaN, infinity) are refused rather than cast.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from vit_edu.checkpoints.files import DEFAULT_MAX_BYTES, check_max_bytes, read_raw
from vit_edu.checkpoints.formats import (
    CONFIG_KEY,
    FORMATS,
    PRE_LOGITS_NOTE,
    Converted,
    RawCheckpoint,
    config_from_json,
    config_to_json,
    from_timm,
    from_transformers,
)
from vit_edu.checkpoints.inference import build_model
from vit_edu.checkpoints.jax import JAX_TOP, from_jax, jax_keys, to_jax_arrays
from vit_edu.config import ViTConfig
from vit_edu.model import ViT
from vit_edu.patches import conv_weight_from_linear

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "load_checkpoint",
    "read_checkpoint_config",
    "read_checkpoint_metadata",
    "save_checkpoint",
    "to_jax_arrays",
]

_RESERVED = (CONFIG_KEY, "format")


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"metadata must be a dict of strings such as {{'accuracy': '0.97'}}, got {type(metadata).__name__}."
        )
    clean: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise TypeError(f"metadata keys must be strings, got {key!r}.")
        if key in _RESERVED:
            raise ValueError(f"metadata key {key!r} is reserved by vit_edu; choose another name.")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TypeError(
                f"metadata[{key!r}] must be a string (numbers are converted), got {type(value).__name__}; "
                f"use e.g. json.dumps(value) to store structured data."
            )
        clean[key] = value if isinstance(value, str) else repr(value)
    return clean


def save_checkpoint(
    model: ViT, path: str | os.PathLike, *, overwrite: bool = False, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``model``'s weights and config to a safetensors file.

    Args:
        model: a vit_edu :class:`ViT` (either patch-embedding form; saved in the conv layout of timm).
        path: the file to write, ending in ``.safetensors`` (e.g. ``"runs/digits.safetensors"``: the
            suffix tells people and tools the format); parent folders are created.
        overwrite: replace an existing file. Without it an existing file raises ``FileExistsError``.
        metadata: your notes, strings (ints and floats are converted), e.g. ``{"accuracy": "0.973"}``;
            read them back with :func:`read_checkpoint_metadata`.

    Returns:
        The path written.
    """
    from safetensors.torch import save_file

    if not isinstance(model, ViT):
        raise TypeError(f"model must be a vit_edu.ViT, got {type(model).__name__}.")
    path = Path(path)
    notes = _check_metadata(metadata)
    if path.is_dir():
        raise IsADirectoryError(
            f"path {str(path)!r} is a directory; give a file name such as {str(path / 'model.safetensors')!r}."
        )
    if path.suffix.lower() != ".safetensors":  # a .pt or .bin name would promise a pickle
        fixed = path.with_suffix("") if path.stem.lower().endswith(".safetensors") else path.with_suffix(".safetensors")
        raise ValueError(
            f"save_checkpoint writes safetensors, so the file name must end in .safetensors, got {str(path)!r}; "
            f"use e.g. {str(fixed)!r}."
        )
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{str(path)!r} already exists and was left unchanged; pass overwrite=True to replace it "
            "or choose another file name."
        )
    tensors = {}
    for name, value in model.state_dict().items():
        if name == "patch_embed.proj.weight" and value.ndim == 2:  # linear form -> conv layout
            value = conv_weight_from_linear(value, model.config.patch_size, model.config.channels)
        tensors[name] = value.detach().to("cpu").contiguous().clone()
    header = {**notes, CONFIG_KEY: config_to_json(model.config), "format": "vit_edu"}
    path.parent.mkdir(parents=True, exist_ok=True)
    # write to a temporary file first so that an interrupted save never leaves a truncated checkpoint
    handle, temporary = tempfile.mkstemp(prefix=".vit_edu-", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=header)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def read_checkpoint_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a safetensors file, e.g. ``{"accuracy": "0.973", "vit_edu_config": "{...}", ...}``.

    Only the header is read, not the weights. Values are strings (safetensors stores strings).
    """
    raw = read_raw(path, tensors=False)
    return dict(raw.metadata)


def read_checkpoint_config(path: str | os.PathLike) -> ViTConfig:
    """The :class:`ViTConfig` stored in a file written by :func:`save_checkpoint`."""
    metadata = read_checkpoint_metadata(path)
    if CONFIG_KEY not in metadata:
        raise ValueError(
            f"{str(path)!r} has no {CONFIG_KEY!r} metadata, so it was not written by vit_edu.save_checkpoint; "
            "use load_checkpoint(path, heads=...) to infer the config from its tensors."
        )
    return config_from_json(metadata[CONFIG_KEY], f"the {CONFIG_KEY!r} metadata of {str(path)!r}")


def detect_format(raw: RawCheckpoint) -> str:
    """Guess the layout from the metadata and the key names."""
    if CONFIG_KEY in raw.metadata:
        return "vit_edu"
    keys = list(raw.tensors)
    if any("/" in k for k in keys) and any(k in JAX_TOP or "encoderblock_" in k for k in jax_keys(keys)):
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


def to_vit_edu(raw: RawCheckpoint, fmt: str = "auto") -> Converted:
    """Rename the tensors of ``raw`` to vit_edu keys (``fmt``: one of FORMATS or ``"auto"``)."""
    if fmt == "auto":
        fmt = detect_format(raw)
    if fmt == "vit_edu" and CONFIG_KEY not in raw.metadata:
        raise ValueError(f"{raw.source} has no {CONFIG_KEY!r} metadata; load it with format='timm' and heads=...")
    if fmt in ("vit_edu", "timm"):
        converted = from_timm(raw, fmt)
    elif fmt == "transformers":
        converted = from_transformers(raw)
    else:
        converted = from_jax(raw)
    if not converted.tensors:
        shown = ", ".join(list(raw.tensors)[:4])
        raise ValueError(
            f"none of the tensors of {raw.source} fit the {fmt!r} layout (keys: {shown}, ...); "
            "check format=..., or use format='auto'."
        )
    if converted.features_only:
        converted.notes.append(PRE_LOGITS_NOTE.format(source=raw.source))
    return converted


def load_checkpoint(
    path_or_state_dict: str | os.PathLike | Mapping[str, torch.Tensor],
    format: str = "auto",
    strict: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    **overrides,
) -> ViT:
    """Build a :class:`ViT` holding the weights of a checkpoint (in eval mode).

    Args:
        path_or_state_dict: a file (``.safetensors``, ``.npz``, ``.pt``/``.pth``/``.bin``), a Hugging
            Face ``save_pretrained`` folder, or an in-memory state dict (tensors or numpy arrays).
        format: ``"auto"`` (guess from the file and the key names) or one of ``FORMATS``.
        strict: ``True`` raises ``ValueError`` listing missing, unexpected and mis-shaped keys;
            ``False`` warns and loads what matches (the rest keeps its fresh initialisation), as long as
            the file supplies most of the model.
        max_bytes: the most tensor bytes the checkpoint may hold (4 GiB by default); a file that holds
            or declares more is refused before it is read.
        **overrides: ``ViT`` keyword arguments. Those the tensors determine (``dim``, ``depth``,
            ``mlp_dim``, ``patch_size``, ``channels``, ``num_classes``) must agree with them, except
            ``num_classes=0`` which drops the head. ``heads`` is needed when neither the file, a
            ``config.json`` nor a paper preset settles it. A different ``image_size`` resamples the
            position embeddings (§3.2). Also ``dropout``, ``pool``, ``patch_embedding``, ``seed`` etc.

    Returns:
        The model, ``model.eval()``-ed. ``model.checkpoint_info`` says which format was read and
        what was ignored.

    Raises:
        ValueError: the checkpoint is damaged, crafted, larger than ``max_bytes`` or does not fit; the
            message names the file and the tensor or field at fault.
        TypeError: an argument of the wrong type, or a field of the wrong type in the file's config.
    """
    if format not in ("auto", *FORMATS):
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}.")
    if not isinstance(strict, bool):
        raise TypeError(f"strict must be True or False, got {strict!r}.")
    raw = read_raw(path_or_state_dict, max_bytes=check_max_bytes(max_bytes))
    converted = to_vit_edu(raw, format)
    model = build_model(converted, strict=strict, overrides=overrides, stacklevel=3)
    for note in converted.notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return model
