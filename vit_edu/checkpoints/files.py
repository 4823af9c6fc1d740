"""Reading checkpoint files safely: no code from a file is ever run, and nothing is allocated that the
file does not hold.

A pickle (``torch.save``'s format) can execute any code while it is read. So:

- safetensors (a JSON header and raw tensor bytes, nothing executable; the default format) is
  recognised by its bytes, an 8-byte little-endian header length and ``{``, whatever the suffix;
- ``.npz``: each ``.npy`` header is checked against the bytes behind it, then read without pickle,
  which refuses object arrays;
- ``.pt``/``.pth``/``.bin``/``.ckpt``: only ``torch.load(weights_only=True)``, whose restricted
  unpickler accepts tensors and plain containers and refuses everything else;
- a Hugging Face ``save_pretrained`` folder: its ``config.json`` and ``model.safetensors`` (or the
  shards its index lists, which must lie inside the folder).

A checkpoint is untrusted input, so sizes it declares are checked before anything is read: the
tensors of one checkpoint may hold at most ``max_bytes`` (:data:`DEFAULT_MAX_BYTES` unless the
caller says otherwise), a zip entry may not unpack to more than :data:`MAX_EXPANSION` times the
archive's size, and ``config.json`` or a shard index may not exceed :data:`MAX_JSON_BYTES`.

Every reader returns a :class:`~vit_edu.checkpoints.formats.RawCheckpoint`; damaged files raise a
``ValueError`` that names the file and says what was expected.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import pickletools
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from vit_edu.checkpoints.formats import RawCheckpoint

DEFAULT_MAX_BYTES = 4 * 2**30
"""Tensor bytes one checkpoint may hold unless ``load_checkpoint(max_bytes=...)`` allows more (4 GiB:
ViT-H/14 in float32 is 2.5 GB)."""

MAX_EXPANSION = 100
"""How many times its compressed size a zip entry may unpack to: trained weights hardly compress, so
a larger ratio means a zip bomb (or arrays of constants, which are no checkpoint)."""

MAX_JSON_BYTES = 16 * 2**20
"""Largest ``config.json`` or shard index read: the label names of ImageNet-21k fit many times over."""

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
SAFETENSORS_MAGIC = b"{"  # the byte after the 8-byte header length
_ZIP_MAGIC = b"PK\x03\x04"
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}  # what numpy and torch write
_NPY_HEADER_READERS = {(1, 0): "read_array_header_1_0", (2, 0): "read_array_header_2_0"}


def check_max_bytes(max_bytes: object) -> int:
    """``max_bytes`` as a positive int (``load_checkpoint``'s limit on a checkpoint's tensor bytes)."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int (bytes), got {max_bytes!r}.")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}; the default is {DEFAULT_MAX_BYTES:,} (4 GiB).")
    return max_bytes


def _too_big(name: str, what: str, size: int, limit: int) -> ValueError:
    return ValueError(
        f"{name} {what} {size:,} bytes, more than max_bytes={limit:,}; it was not read. If you trust the file and "
        f"have the memory, pass load_checkpoint(..., max_bytes={size}) or more."
    )


def _regular_file(path: Path, name: str) -> int:
    """The size of ``path``, which must be a regular file (a FIFO or a device would block or never end)."""
    if not path.is_file():
        raise ValueError(f"{name} is not a regular file (a folder, device or pipe); give the path of a weights file.")
    return path.stat().st_size


def looks_like_safetensors(path: Path) -> bool:
    """True if the file starts as safetensors does: an 8-byte header length, then the header's ``{``."""
    with open(path, "rb") as handle:
        start = handle.read(9)
    return len(start) == 9 and start[8:9] == SAFETENSORS_MAGIC


def read_json(path: Path, what: str) -> object:
    """A small JSON file (``config.json``, a shard index), bounded in size and nesting."""
    name = repr(str(path))
    size = _regular_file(path, name)
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{what} {name} is {size:,} bytes, more than the {MAX_JSON_BYTES:,} such a file may have.")
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{what} {name} is not valid JSON ({error}).") from None
    except RecursionError:
        raise ValueError(f"{what} {name} nests its JSON too deeply to be a configuration file.") from None


def _read_safetensors(
    path: Path, tensors: bool = True, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    name = repr(str(path))
    size = _regular_file(path, name)
    with open(path, "rb") as handle:
        header_length = int.from_bytes(handle.read(8), "little")
    if size < 8 or header_length > size - 8:
        raise ValueError(
            f"cannot read {name} as safetensors: its header claims {header_length:,} bytes but the file has "
            f"{size:,}; the file is truncated, damaged or not safetensors."
        )
    if tensors and size - 8 - header_length > max_bytes:  # safetensors checks that the data fills the file exactly
        raise _too_big(name, "holds", size - 8 - header_length, max_bytes)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            values = {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as error:
        raise ValueError(
            f"cannot read {name} as safetensors ({error}); the file is truncated, damaged or not safetensors."
        ) from None
    return values, metadata


def _check_zip(archive: zipfile.ZipFile, size: int, max_bytes: int, name: str) -> list[zipfile.ZipInfo]:
    """The entries of a zip whose declared sizes fit the archive and ``max_bytes``, before any is unpacked."""
    entries = archive.infolist()
    seen: set[str] = set()
    for entry in entries:
        if entry.compress_type not in _ZIP_METHODS:
            raise ValueError(
                f"{name}: entry {entry.filename!r} uses zip compression method {entry.compress_type}; numpy and "
                "torch write only stored or deflated entries. Re-save the file with numpy.savez or torch.save."
            )
        if entry.filename in seen:
            raise ValueError(f"{name} holds two entries named {entry.filename!r}; the archive is damaged or crafted.")
        seen.add(entry.filename)
    declared = sum(entry.file_size for entry in entries)
    if declared > max_bytes:
        raise _too_big(name, "unpacks to", declared, max_bytes)
    for entry in entries:
        if entry.file_size > MAX_EXPANSION * max(entry.compress_size, 1) + 2**16:  # small entries may grow a little
            raise ValueError(
                f"{name}: entry {entry.filename!r} would unpack {entry.compress_size:,} bytes into {entry.file_size:,} "
                f"(more than {MAX_EXPANSION} times). Trained weights hardly compress, so this is a zip bomb or not a "
                "checkpoint; it was not unpacked."
            )
    if declared > MAX_EXPANSION * size + 2**16:  # entries may share bytes in a crafted archive
        raise ValueError(f"{name} declares {declared:,} unpacked bytes in a {size:,}-byte file; it was not unpacked.")
    return entries


def _read_npy_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, name: str) -> torch.Tensor:
    """One ``.npy`` array of an ``.npz``, after checking that its header matches the bytes behind it."""
    import numpy as np

    fmt = np.lib.format
    key = entry.filename
    with archive.open(entry) as member:
        try:
            version = fmt.read_magic(member)
        except ValueError:
            raise ValueError(f"{name}: entry {key!r} is not a .npy array; an .npz holds only numpy arrays.") from None
        if version not in _NPY_HEADER_READERS:
            raise ValueError(f"{name}: entry {key!r} is a .npy of version {version}, which is not read; "
                             "re-save it with numpy.savez.")
        try:
            shape, _, dtype = getattr(fmt, _NPY_HEADER_READERS[version])(member)
        except ValueError as error:
            raise ValueError(f"{name}: entry {key!r} has a damaged .npy header ({error}).") from None
        data_bytes = entry.file_size - member.tell()
    if dtype.hasobject:
        raise ValueError(
            f"refusing to read {name}: array {key!r} holds Python objects, which only allow_pickle=True could "
            "read, and unpickling could run arbitrary code. Only plain numeric arrays are loaded."
        )
    declared = math.prod(shape) * dtype.itemsize
    if declared != data_bytes:
        raise ValueError(
            f"{name}: array {key!r} declares shape {shape} of {dtype} ({declared:,} bytes) but its entry holds "
            f"{data_bytes:,} bytes; the file is damaged or crafted."
        )
    with archive.open(entry) as member:
        try:
            array = fmt.read_array(member, allow_pickle=False)
        except ValueError as error:
            raise ValueError(
                f"cannot read array {key!r} of {name} ({error}); the file is truncated or damaged."
            ) from None
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    try:
        return torch.from_numpy(array)
    except TypeError:
        raise ValueError(f"{name}: array {key!r} has dtype {dtype}, which torch cannot hold; weights are "
                         "floating-point arrays.") from None


def _read_npz(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, torch.Tensor]:
    import zlib

    name = repr(str(path))
    size = _regular_file(path, name)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise ValueError(f"cannot read {name} as .npz ({error}); the file is truncated or damaged.") from None
    with archive:
        try:
            values = {}
            for entry in _check_zip(archive, size, max_bytes, name):
                key = entry.filename.removesuffix(".npy")  # numpy.savez's naming
                values[key] = _read_npy_entry(archive, entry, name)
            return values
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, RuntimeError,
                NotImplementedError) as error:
            raise ValueError(f"cannot read {name} as .npz ({error}); the file is truncated or damaged.") from None


_TORCH_ADVICE = re.compile(r"Weights only load failed|In PyTorch 2\.6|Re-running|set to `False`|weights_only=False|"
                          r"trusted source|two options|following error message|file an issue|documentation")


def _torch_reason(error: Exception) -> str:
    """The informative sentence of a torch.load error (for a refused pickle: the blocked global, if any),
    without torch's advice to retry with ``weights_only=False`` and without terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [[s.strip() for s in re.split(r"(?<=\.) ", line) if s.strip()] for line in text.splitlines()]
    for sentence in (s for line in lines for s in line):
        if "GLOBAL" in sentence:
            return sentence.rstrip(".")
    for line in lines:
        kept = " ".join(s for s in line if not _TORCH_ADVICE.search(s)).rstrip(".")
        opcode = re.fullmatch(r"Unsupported operand (\d+)", kept)
        if opcode and 0 <= int(opcode.group(1)) < 256 and chr(int(opcode.group(1))) in pickletools.code2op:
            return f"pickle opcode {pickletools.code2op[chr(int(opcode.group(1)))].name} is not supported"
        if kept:
            return kept[:300]
    return type(error).__name__


def _check_pickled_tensors(values: dict[str, torch.Tensor], max_bytes: int, name: str) -> None:
    """A pickle may point many tensors, or one with zero strides, at a few bytes: copying them would
    allocate what the file never held. Each tensor must fit its storage, and all of them ``max_bytes``."""
    total = 0
    for key, value in values.items():
        if value.layout != torch.strided or value.is_quantized:
            raise ValueError(f"{name}: tensor {key!r} is {value.layout} or quantized; a checkpoint holds dense "
                             "floating-point tensors.")
        available = value.untyped_storage().nbytes() - value.storage_offset() * value.element_size()
        if value.numel() * value.element_size() > available:
            raise ValueError(
                f"{name}: tensor {key!r} of shape {tuple(value.shape)} views only {max(available, 0):,} stored "
                "bytes (its strides repeat them); the file is damaged or crafted."
            )
        total += value.numel() * value.element_size()
    if total > max_bytes:
        raise _too_big(name, "holds tensors of", total, max_bytes)


def _read_pickle(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, torch.Tensor]:
    name = repr(str(path))
    size = _regular_file(path, name)
    if size > max_bytes:
        raise _too_big(name, "is", size, max_bytes)
    with open(path, "rb") as handle:
        is_zip = handle.read(4) == _ZIP_MAGIC
    if is_zip:  # torch.save's format: check what the records unpack to before torch reads them
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
            raise ValueError(
                f"cannot read {name} with torch.load ({error}); the file is truncated or damaged."
            ) from None
        with archive:
            _check_zip(archive, size, max_bytes, name)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = _torch_reason(error)
        if "GLOBAL" in reason:
            holds = f"it holds objects other than tensors ({reason}), and unpickling them"
        else:
            holds = f"its pickle is not one the safe reader accepts ({reason}), and unpickling it in full"
        raise ValueError(
            f"refusing to load {name}: {holds} could run arbitrary code. Convert it to safetensors in an "
            "environment you trust."
        ) from None
    except Exception as error:  # torch.load's parsers raise all kinds of errors on damaged input
        reason = _torch_reason(error)
        if "legacy .tar format" in reason:
            raise ValueError(
                f"refusing to load {name}: it is in torch's legacy .tar format, which only the unrestricted "
                "unpickler reads, and that could run arbitrary code. Convert it to safetensors in an environment "
                "you trust."
            ) from None
        raise ValueError(f"cannot read {name} with torch.load ({reason}); the file is truncated or damaged.") from None
    for wrapper in ("state_dict", "model", "module"):  # training checkpoints often nest the weights
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                               for k, v in loaded.items()):
        raise ValueError(f"{name} does not hold a state dict (a dict of tensors).")
    _check_pickled_tensors(loaded, max_bytes, name)
    return loaded


def _read_hf_config(folder: Path) -> dict | None:
    """The ``config.json`` of a Hugging Face ViT in ``folder``, or None."""
    path = folder / "config.json"
    if not path.is_file():
        return None
    config = read_json(path, "config file")
    return config if isinstance(config, dict) and config.get("model_type") == "vit" else None


def _inside(path: Path, folder: Path) -> bool:
    """True if ``path`` (symlinks followed) lies in ``folder``, or in the blobs of the Hugging Face cache
    when ``folder`` is one of its snapshots (the cache links snapshot files to ``../../blobs``)."""
    target = path.resolve()
    root = folder.resolve()
    if target.is_relative_to(root):
        return True
    return root.parent.name == "snapshots" and target.is_relative_to(root.parent.parent / "blobs")


def _shard_files(index: Path, folder: Path) -> list[tuple[Path, list[str]]]:
    """The shards a ``model.safetensors.index.json`` lists, each with the tensors it should hold."""
    name = repr(str(index))
    data = read_json(index, "shard index")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"shard index {name} has no 'weight_map' (a dict from tensor names to shard files); "
                         "the folder is damaged. Re-save it with save_pretrained.")
    shards: dict[str, list[str]] = {}
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str) or not shard or "\x00" in shard:
            raise ValueError(f"shard index {name}: tensor {tensor!r} maps to {shard!r}, not a file name.")
        shards.setdefault(shard, []).append(tensor)
    files = []
    for shard, tensors in shards.items():
        path = folder / shard
        if Path(shard).is_absolute() or ".." in Path(shard).parts or not _inside(path, folder):
            raise ValueError(
                f"shard index {name} points to {shard!r}, outside its folder; shards must be files in the folder."
            )
        if not path.is_file():
            raise ValueError(f"shard index {name} lists {shard!r}, which is not a file in the folder.")
        files.append((path, tensors))
    return files


def _read_shards(index: Path, folder: Path, max_bytes: int) -> dict[str, torch.Tensor]:
    files = _shard_files(index, folder)
    total = sum(path.stat().st_size for path, _ in files)
    if total > max_bytes:
        raise _too_big(repr(str(folder)), "has shards of", total, max_bytes)
    tensors: dict[str, torch.Tensor] = {}
    for path, listed in files:
        values, _ = _read_safetensors(path, max_bytes=max_bytes)
        missing = [key for key in listed if key not in values]
        if missing:
            raise ValueError(f"shard index {str(index)!r} lists {missing[0]!r} in {path.name!r}, which does not "
                             "hold it; the folder is incomplete or damaged.")
        repeated = next((key for key in values if key in tensors), None)
        if repeated is not None:
            raise ValueError(f"{str(folder)!r}: tensor {repeated!r} is in two shards; the folder is damaged.")
        tensors.update(values)
    return tensors


def _read_folder(folder: Path, max_bytes: int) -> RawCheckpoint:
    hf_config = _read_hf_config(folder)
    index = folder / "model.safetensors.index.json"
    if (folder / "model.safetensors").is_file():
        tensors, metadata = _read_safetensors(folder / "model.safetensors", max_bytes=max_bytes)
    elif index.is_file():  # sharded: several files listed in an index
        tensors, metadata = _read_shards(index, folder, max_bytes), {}
    elif (folder / "pytorch_model.bin").is_file():
        tensors, metadata = _read_pickle(folder / "pytorch_model.bin", max_bytes), {}
    else:
        raise ValueError(
            f"folder {str(folder)!r} has no model.safetensors (or its index, or pytorch_model.bin); "
            "give the path of a save_pretrained folder or of a weights file."
        )
    return RawCheckpoint(tensors, metadata, hf_config, source=repr(str(folder)),
                         config_source=repr(str(folder / "config.json")))


def read_raw(source, tensors: bool = True, max_bytes: int = DEFAULT_MAX_BYTES) -> RawCheckpoint:
    """Read a checkpoint's tensors (or only the metadata) safely; see the module docstring."""
    if isinstance(source, torch.nn.Module):  # e.g. a transformers model already in memory
        config = getattr(source, "config", None)
        hf_config = config.to_dict() if hasattr(config, "to_dict") else None
        return RawCheckpoint(dict(source.state_dict()), hf_config=hf_config, source=type(source).__name__,
                             config_source=f"the config of the {type(source).__name__}")
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
        return _read_folder(path, max_bytes)
    suffix = path.suffix.lower()
    name = repr(str(path))
    _regular_file(path, name)
    if suffix == ".safetensors" or looks_like_safetensors(path):  # save_checkpoint's files under any name
        values, metadata = _read_safetensors(path, tensors, max_bytes)
        hf_config = None if "vit_edu_config" in metadata else _read_hf_config(path.parent)  # a Hub download
        return RawCheckpoint(values, metadata, hf_config, source=name,
                             config_source=repr(str(path.parent / "config.json")))
    if not tensors:
        raise ValueError(f"only safetensors files carry metadata; {name} is a {suffix or 'suffix-less'} file.")
    if suffix == ".npz":
        return RawCheckpoint(_read_npz(path, max_bytes), source=name)
    if suffix in PICKLE_SUFFIXES:
        return RawCheckpoint(_read_pickle(path, max_bytes), source=name)
    raise ValueError(
        f"unknown checkpoint type {name}: expected .safetensors, .npz, {', '.join(PICKLE_SUFFIXES)} "
        "or a Hugging Face save_pretrained folder."
    )
