"""Reading checkpoint files safely: no code from a file is ever run.

A pickle (``torch.save``'s format) can execute any code while it is read. So:

- ``.safetensors``: a JSON header and raw tensor bytes, nothing executable (the default format);
- ``.npz``: ``numpy.load(allow_pickle=False)``, which refuses object arrays (they need pickle);
- ``.pt``/``.pth``/``.bin``/``.ckpt``: only ``torch.load(weights_only=True)``, whose restricted
  unpickler accepts tensors and plain containers and refuses everything else;
- a Hugging Face ``save_pretrained`` folder: its ``config.json`` and ``model.safetensors`` (or shards).

Every reader returns a :class:`~vit_edu.checkpoints.formats.RawCheckpoint`; damaged files raise a
``ValueError`` that says what was expected.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from vit_edu.checkpoints.formats import RawCheckpoint

_PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def _read_safetensors(path: Path, tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            values = {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"cannot read {str(path)!r} as safetensors ({error}); the file is truncated, damaged or not safetensors."
        ) from None
    return values, metadata


def _read_npz(path: Path) -> dict[str, torch.Tensor]:
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: torch.from_numpy(np.array(archive[key])) for key in archive.files}
    except ValueError as error:  # object arrays need pickle: refused
        raise ValueError(f"refusing to read {str(path)!r}: {error}. Only plain numeric arrays are loaded.") from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"cannot read {str(path)!r} as .npz ({error}); the file is truncated or damaged.") from None


def _unpickling_reason(error: Exception) -> str:
    """The one informative sentence of torch's long weights_only error, without terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    for line in text.splitlines():
        if "WeightsUnpickler error:" in line:
            return line.split("WeightsUnpickler error:", 1)[1].strip().split(". ")[0]
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    import pickle

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"refusing to load {str(path)!r}: it holds objects other than tensors ({_unpickling_reason(error)}), "
            "and unpickling them could run arbitrary code. Convert it to safetensors in an environment you trust."
        ) from None
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(
            f"cannot read {str(path)!r} with torch.load ({error}); the file is truncated or damaged."
        ) from None
    for wrapper in ("state_dict", "model", "module"):  # training checkpoints often nest the weights
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ValueError(f"{str(path)!r} does not hold a state dict (a dict of tensors).")
    return loaded


def _read_hf_config(folder: Path) -> dict | None:
    """The ``config.json`` of a Hugging Face ViT in ``folder``, or None."""
    if not (folder / "config.json").is_file():
        return None
    try:
        config = json.loads((folder / "config.json").read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{str(folder / 'config.json')!r} is not valid JSON ({error}).") from None
    return config if isinstance(config, dict) and config.get("model_type") == "vit" else None


def _read_folder(folder: Path) -> RawCheckpoint:
    hf_config = _read_hf_config(folder)
    index = folder / "model.safetensors.index.json"
    if (folder / "model.safetensors").is_file():
        tensors, metadata = _read_safetensors(folder / "model.safetensors")
    elif index.is_file():  # sharded: several files listed in an index
        tensors, metadata = {}, {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            tensors.update(_read_safetensors(folder / shard)[0])
    elif (folder / "pytorch_model.bin").is_file():
        tensors, metadata = _read_pickle(folder / "pytorch_model.bin"), {}
    else:
        raise ValueError(
            f"folder {str(folder)!r} has no model.safetensors (or its index, or pytorch_model.bin); "
            "give the path of a save_pretrained folder or of a weights file."
        )
    return RawCheckpoint(tensors, metadata, hf_config, source=repr(str(folder)))


def read_raw(source, tensors: bool = True) -> RawCheckpoint:
    """Read a checkpoint's tensors (or only the metadata) safely; see the module docstring."""
    if isinstance(source, torch.nn.Module):  # e.g. a transformers model already in memory
        config = getattr(source, "config", None)
        hf_config = config.to_dict() if hasattr(config, "to_dict") else None
        return RawCheckpoint(dict(source.state_dict()), hf_config=hf_config, source=type(source).__name__)
    if isinstance(source, Mapping):
        import numpy as np

        values = {}
        for key, value in source.items():
            if isinstance(value, np.ndarray):
                value = torch.from_numpy(value)
            if not isinstance(key, str) or not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"a state dict maps names to tensors or numpy arrays; got {key!r}: {type(value).__name__}."
                )
            values[key] = value
        return RawCheckpoint(values)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "path_or_state_dict must be a file path, a folder, a dict of tensors or a model, "
            f"got {type(source).__name__}."
        )
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}.")
    if path.is_dir():
        return _read_folder(path)
    suffix = path.suffix.lower()
    name = repr(str(path))
    if suffix == ".safetensors":
        values, metadata = _read_safetensors(path, tensors)
        hf_config = None if "vit_edu_config" in metadata else _read_hf_config(path.parent)  # a Hub download
        return RawCheckpoint(values, metadata, hf_config, source=name)
    if not tensors:
        raise ValueError(f"only safetensors files carry metadata; {name} is a {suffix or 'suffix-less'} file.")
    if suffix == ".npz":
        return RawCheckpoint(_read_npz(path), source=name)
    if suffix in _PICKLE_SUFFIXES:
        return RawCheckpoint(_read_pickle(path), source=name)
    raise ValueError(
        f"unknown checkpoint type {name}: expected .safetensors, .npz, {', '.join(_PICKLE_SUFFIXES)} "
        "or a Hugging Face save_pretrained folder."
    )

