"""Crafted bad checkpoints: one case per fault, for the fault tests and ``benchmarks/checkpoint_faults.py``.

A case writes its file(s) into an empty folder and returns the call that must fail: ``load_checkpoint``
on the crafted file (or ``save_checkpoint`` with a wrong name). It says which bullet of the threat
list it belongs to (:data:`GROUPS`), the exception it must raise and a fragment of the message.
Cases of the group ``"valid"`` are files that must still load; they give the benchmark its baseline.

Run as a script, this module is the child process that the test and the benchmark start (through
:func:`run_in_child`): it runs the cases in one process (one torch import for all), each in a fresh
folder, and prints one JSON line per case with the error, the message, the seconds and the peak
resident memory of the call::

    python tests/checkpoints/fault_cases.py [--cases NAME ...] [--address-space-gb 8]

A limit on the address space turns a runaway allocation into an error instead of swapping the machine.
A case that hangs in Python raises ``TimeoutError`` after :data:`CASE_TIMEOUT_S`; one blocked in native
code is killed by :func:`run_in_child`, which records it and runs the remaining cases in a new child.
"""

from __future__ import annotations

import argparse
import collections
import functools
import io
import json
import os
import pickle
import queue
import re
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

GROUPS = {
    "dos": "denial of service and memory: time and memory bounded by the file's content",
    "silent": "silent wrong models: values and fields that cannot be a trained ViT",
    "raw": "raw exceptions that become clear errors naming the file",
    "own": "the package's own files: save only .safetensors, recognise safetensors by its bytes",
    "valid": "valid files that must still load (the baseline)",
}
CASE_TIMEOUT_S = 60  # generous: every case answers in well under a second


@dataclass(frozen=True)
class Case:
    """A crafted fault: ``make(folder)`` writes the file(s) and returns the call that must fail."""

    name: str
    group: str
    make: Callable[[Path], Callable[[], object]]
    error: str | None  # exception type name, None for a valid file
    fragment: str  # must appear in the message
    absent: str | None = None  # must not appear in the message


CASES: list[Case] = []


def case(group: str, error: type[Exception] | None, fragment: str = "", absent: str | None = None):
    """Register the decorated crafting function as a case named after it."""
    def register(make: Callable[[Path], Callable[[], object]]):
        CASES.append(Case(make.__name__, group, make, error.__name__ if error else None, fragment, absent))
        return make
    return register


# ------------------------------------------------------------------ building blocks
SMALL = dict(image_size=16, patch_size=8, num_classes=3, dim=16, depth=2, heads=2, mlp_dim=32)


@functools.cache
def small_model():
    """The small ViT every case starts from (built once per process; cases copy its weights, never edit it)."""
    from vit_edu import ViT

    return ViT(**SMALL, seed=0).eval()


def state() -> dict[str, torch.Tensor]:
    """The small model's weights (timm names), fresh copies."""
    return {k: v.clone() for k, v in small_model().state_dict().items()}


def load(path, **kwargs) -> Callable[[], object]:
    from vit_edu.checkpoints import load_checkpoint

    return lambda: load_checkpoint(path, **kwargs)


def safetensors_file(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def safetensors_raw(path: Path, header: dict, data: bytes = b"") -> Path:
    """A safetensors file written byte by byte: whatever header a crafter wants."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def own_file(path: Path, edit_config: Callable[[str], str] | None = None,
             tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """A file as save_checkpoint writes it, with its metadata config (JSON text) edited."""
    from vit_edu.checkpoints.formats import CONFIG_KEY, config_to_json

    text = config_to_json(small_model().config)
    metadata = {CONFIG_KEY: edit_config(text) if edit_config else text, "format": "vit_edu"}
    return safetensors_file(path, tensors if tensors is not None else state(), metadata)


def set_field(name: str, value: str) -> Callable[[str], str]:
    """Edit one field of a JSON config text (``value`` as raw JSON, so NaN and Infinity can be written)."""
    def edit(text: str) -> str:
        fields = json.loads(text)
        fields[name] = "@@"
        return json.dumps(fields).replace('"@@"', value)
    return edit


HF_CONFIG = {"model_type": "vit", "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 32, "image_size": 16, "patch_size": 8, "num_channels": 3, "qkv_bias": True,
             "layer_norm_eps": 1e-12, "hidden_act": "gelu", "id2label": {"0": "cat", "1": "dog", "2": "fox"}}


def hf_tensors() -> dict[str, torch.Tensor]:
    """The small model in the names of transformers' saved files."""
    from vit_edu.checkpoints.layouts import to_transformers_state_dict

    return {k: v.clone() for k, v in to_transformers_state_dict(state(), layout="file").items()}


def hf_folder(folder: Path, config: dict | None = None, tensors: dict | None = None, raw_config: str | None = None
              ) -> Path:
    """A save_pretrained-like folder: config.json and model.safetensors."""
    target = folder / "hf"
    target.mkdir()
    text = raw_config if raw_config is not None else json.dumps({**HF_CONFIG, **(config or {})})
    (target / "config.json").write_text(text)
    safetensors_file(target / "model.safetensors", tensors if tensors is not None else hf_tensors())
    return target


def sharded_folder(folder: Path, index: object = None, raw_index: str | None = None) -> Path:
    """A sharded folder: two shard files and an index (``index=None``: the correct one)."""
    target = folder / "sharded"
    target.mkdir()
    (target / "config.json").write_text(json.dumps(HF_CONFIG))
    tensors = hf_tensors()
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for shard, keys in halves.items():
        safetensors_file(target / shard, {k: tensors[k] for k in keys})
    if index is None and raw_index is None:
        index = {"metadata": {}, "weight_map": {k: shard for shard, keys in halves.items() for k in keys}}
    (target / "model.safetensors.index.json").write_text(raw_index if raw_index is not None else json.dumps(index))
    return target


def jax_arrays() -> dict[str, np.ndarray]:
    from vit_edu.checkpoints import to_jax_arrays

    return to_jax_arrays(small_model())


def npz_file(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


def npy_header(shape: tuple, dtype: str = "<f4") -> bytes:
    """The bytes of a version 1.0 .npy header that declares ``shape``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def zip_by_hand(path: Path, entries: list[tuple[str, int, bytes, int]]) -> Path:
    """A zip whose entries are (name, method, stored bytes, declared unpacked size): the sizes and the
    compressed data are whatever the crafter says (zipfile cannot write pre-compressed data)."""
    local, central = io.BytesIO(), io.BytesIO()
    for name, method, data, size in entries:
        encoded = name.encode()
        offset = local.tell()
        local.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, zlib.crc32(data) if method == 0
                                else 0, len(data), size, len(encoded), 0) + encoded + data)
        central.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, zlib.crc32(data)
                                  if method == 0 else 0, len(data), size, len(encoded), 0, 0, 0, 0, 0, offset)
                      + encoded)
    directory = central.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), local.tell(), 0)
    path.write_bytes(local.getvalue() + directory + end)
    return path


def deflated_zeros(size: int) -> bytes:
    """A raw deflate stream that unpacks to ``size`` zero bytes (a multiple of 16 MiB), built by repeating
    one independently decodable block instead of compressing gigabytes."""
    block = 16 * 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment * (size // block) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


class _Storage:
    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _Tensor:
    """Pickles as torch's own tensor rebuild call, with whatever size and strides a crafter wants."""

    def __init__(self, storage: _Storage, size: tuple, stride: tuple) -> None:
        self.storage, self.size, self.stride = storage, size, stride

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, self.size, self.stride, False, collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    legacy = False

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            view = (None,) if self.legacy else ()
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel, *view)
        return None


def torch_zip(path: Path, obj: object, records: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    """A file in torch.save's zip layout holding a crafted pickle (storages as ``_Storage``)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        archive.writestr("archive/byteorder", "little")
        for key, data in records.items():
            archive.writestr(zipfile.ZipInfo(f"archive/data/{key}"), data, compress_type=method)
        archive.writestr("archive/version", "3\n")
    return path


def torch_legacy(path: Path, obj: object, storages: dict[str, bytes]) -> Path:
    """A file in torch.save's legacy (pre-zip) layout holding a crafted pickle."""
    buffer = io.BytesIO()
    for part in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                               "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(part, buffer, protocol=2)
    pickler = _Pickler(buffer, protocol=2)
    pickler.legacy = True
    pickler.dump(obj)
    pickle.dump(list(storages), buffer, protocol=2)
    for data in storages.values():
        buffer.write(struct.pack("<q", len(data) // 4) + data)
    path.write_bytes(buffer.getvalue())
    return path


class _System:
    """Unpickling this calls os.system; the tests must show it is never unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


# ------------------------------------------------------------------ denial of service and memory
@case("dos", ValueError, "numbers its encoder blocks wrongly (blocks.100000000)")
def depth_from_one_stray_key(folder):
    return load(safetensors_file(folder / "timm.safetensors",
                                 {**state(), "blocks.100000000.norm1.weight": torch.ones(16)}), heads=2)


@case("dos", ValueError, "numbers its encoder blocks wrongly (blocks.100000000)")
def depth_from_one_stray_key_not_strict(folder):
    return load(safetensors_file(folder / "timm.safetensors",
                                 {**state(), "blocks.100000000.norm1.weight": torch.ones(16)}), heads=2, strict=False)


@case("dos", ValueError, "numbers its encoder blocks wrongly (blocks.100000000)")
def depth_from_one_stray_key_in_own_file(folder):
    return load(own_file(folder / "m.safetensors", tensors={**state(), "blocks.100000000.norm1.bias": torch.ones(16)}))


@case("dos", ValueError, "numbers its encoder blocks wrongly (blocks.3)")
def depth_with_a_gap(folder):
    tensors = {**state(), **{k.replace("blocks.1.", "blocks.3."): v for k, v in state().items()
                             if k.startswith("blocks.1.")}}
    return load(safetensors_file(folder / "gap.safetensors", tensors), heads=2, strict=False)


@case("dos", ValueError, "numbers its encoder blocks wrongly (blocks.01)")
def depth_with_a_leading_zero(folder):
    tensors = {**state(), "blocks.01.norm1.weight": torch.ones(16)}
    return load(safetensors_file(folder / "zero.safetensors", tensors), heads=2, strict=False)


@case("dos", ValueError, "numbers its encoder blocks wrongly (blocks.99999999999999999999")
def depth_with_a_5000_digit_number(folder):
    tensors = {**state(), f"blocks.{'9' * 5000}.norm1.weight": torch.ones(16)}
    return load(safetensors_file(folder / "digits.safetensors", tensors), heads=2)


@case("dos", ValueError, "numbers its encoder blocks wrongly (layer 100000000)")
def depth_from_transformers_layer_name(folder):
    tensors = {**hf_tensors(), "vit.encoder.layer.100000000.layernorm_before.weight": torch.ones(16)}
    return load(hf_folder(folder, tensors=tensors), strict=False)


@case("dos", ValueError, "numbers its encoder blocks wrongly (Transformer/encoderblock_100000000)")
def depth_from_jax_block_name(folder):
    arrays = {**jax_arrays(), "Transformer/encoderblock_100000000/LayerNorm_0/scale": np.ones(16, np.float32)}
    return load(npz_file(folder / "ViT.npz", arrays), strict=False)


@case("dos", ValueError, "strict=False would leave")
def depth_from_thousands_of_tiny_blocks(folder):
    """Block 0 complete, blocks 1..2999 one bias each: numbered correctly, but the model would be huge."""
    tensors = state()
    tensors.update({f"blocks.{i}.norm1.bias": torch.zeros(16) for i in range(2, 3000)})
    return load(safetensors_file(folder / "tiny_blocks.safetensors", tensors), heads=2, strict=False)


@case("dos", ValueError, "with a dimension of size 0")
def zero_sized_qkv_without_heads(folder):
    tensors = {**state(), "blocks.0.attn.qkv.weight": torch.empty(3 * 10**12, 0)}
    return load(safetensors_file(folder / "empty_qkv.safetensors", tensors))


@case("dos", ValueError, "with a dimension of size 0")
def zero_sized_head_with_a_billion_classes(folder):
    tensors = {**hf_tensors(), "classifier.weight": torch.empty(10**12, 0)}
    return load(hf_folder(folder, tensors=tensors))


@case("dos", ValueError, "with a dimension of size 0")
def zero_sized_position_embedding(folder):
    return load(safetensors_file(folder / "pos.safetensors", {**state(), "pos_embed": torch.empty(1, 10**12, 0)}),
                heads=2, strict=False)


@case("dos", ValueError, "a divisor of 1000003: 1, 1000003")
def heads_hint_for_a_prime_width(folder):
    """A real (not empty) qkv weight 3 * 1000003 wide and D = 1: the suggestion loop stays short."""
    tensors = {"patch_embed.proj.weight": torch.ones(1, 1, 1, 1), "pos_embed": torch.ones(1, 2, 1),
               "blocks.0.attn.qkv.weight": torch.ones(3 * 1000003, 1), "blocks.0.mlp.fc1.weight": torch.ones(1, 1)}
    return load(safetensors_file(folder / "prime.safetensors", tensors))


@case("dos", ValueError, "config.json' says image_size=(65536, 65536)")
def config_json_image_size_not_strict(folder):
    return load(hf_folder(folder, config={"image_size": 16 * 4096}), strict=False)


@case("dos", ValueError, "says image_size=(1099511627776, 1099511627776)")
def config_json_image_size_overflowing_storage(folder):
    return load(hf_folder(folder, config={"image_size": 2**40}), strict=False)


@case("dos", ValueError, "says image_size=(16384, 16384)")
def own_metadata_image_size_not_strict(folder):
    return load(own_file(folder / "m.safetensors", set_field("image_size", "[16384, 16384]")), strict=False)


@case("dos", ValueError, "says depth=100000000")
def own_metadata_depth(folder):
    return load(own_file(folder / "m.safetensors", set_field("depth", "100000000")), strict=False)


@case("dos", ValueError, "says dim=4096")
def config_json_hidden_size(folder):
    return load(hf_folder(folder, config={"hidden_size": 4096, "num_attention_heads": 64}), strict=False)


@case("dos", ValueError, "says depth=100000000")
def config_json_num_hidden_layers(folder):
    return load(hf_folder(folder, config={"num_hidden_layers": 10**8}), strict=False)


@case("dos", ValueError, "declares shape (1000000000000,)")
def npz_header_claims_a_terabyte(folder):
    entry = npy_header((10**12,)) + bytes(16)
    return load(zip_by_hand(folder / "bomb.npz", [("cls.npy", zipfile.ZIP_STORED, entry, len(entry))]))


@case("dos", ValueError, "would unpack")
def npz_deflate_bomb_to_a_gigabyte(folder):
    size = 2**30
    header = npy_header((size // 4,))
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = stream.compress(header) + stream.flush(zlib.Z_FULL_FLUSH) + deflated_zeros(size)
    return load(zip_by_hand(folder / "bomb.npz", [("cls.npy", zipfile.ZIP_DEFLATED, data, len(header) + size)]))


@case("dos", ValueError, "unpacks to 3,221,225,472 bytes, more than max_bytes=1,073,741,824")
def npz_declares_more_than_max_bytes(folder):
    entry = npy_header((3 * 2**28,)) + bytes(64)
    return load(zip_by_hand(folder / "big.npz", [("cls.npy", zipfile.ZIP_STORED, entry, 3 * 2**30)]), max_bytes=2**30)


@case("dos", ValueError, "compression method 14")
def npz_lzma_entry(folder):
    path = folder / "lzma.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as archive:
        archive.writestr("cls.npy", npy_header((4,)) + bytes(16))
    return load(path)


@case("dos", ValueError, "more than max_bytes=1,000")
def safetensors_over_max_bytes(folder):
    from vit_edu.checkpoints import save_checkpoint

    return load(save_checkpoint(small_model(), folder / "m.safetensors"), max_bytes=1000)


@case("dos", ValueError, "its header claims 1,000,000,000,000,000 bytes")
def safetensors_header_length_lie(folder):
    path = folder / "lie.safetensors"
    path.write_bytes(struct.pack("<Q", 10**15) + b'{"x": 1}')
    return load(path)


@case("dos", ValueError, "truncated, damaged or not safetensors")
def safetensors_offsets_beyond_the_file(folder):
    header = {"pos_embed": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}
    return load(safetensors_raw(folder / "offsets.safetensors", header, bytes(16)))


@case("dos", ValueError, "truncated, damaged or not safetensors")
def safetensors_shape_overflowing_64_bits(folder):
    header = {"pos_embed": {"dtype": "F32", "shape": [2**62, 2**62, 0], "data_offsets": [0, 0]}}
    return load(safetensors_raw(folder / "overflow.safetensors", header))


@case("dos", ValueError, "would unpack")
def pt_zip_bomb(folder):
    path = folder / "bomb.pt"
    torch_zip(path, {"pos_embed": _Tensor(_Storage("0", 4), (4,), (1,))}, {"0": bytes(16)})
    with zipfile.ZipFile(path) as archive:
        entries = [(i.filename, i.compress_type, archive.read(i), i.file_size) for i in archive.infolist()]
    size = 2**30
    entries.append(("archive/data/1", zipfile.ZIP_DEFLATED, deflated_zeros(size), size))
    return load(zip_by_hand(path, entries), heads=2)


@case("dos", ValueError, "truncated or damaged")
def pt_storage_claims_100_billion_floats(folder):
    obj = {"pos_embed": _Tensor(_Storage("0", 10**11), (10**11,), (1,))}
    return load(torch_zip(folder / "claims.pt", obj, {"0": bytes(16)}), heads=2)


@case("dos", ValueError, "views only 16 stored bytes")
def pt_tensor_with_zero_strides(folder):
    obj = {"pos_embed": _Tensor(_Storage("0", 4), (10**6, 10**6), (0, 0))}
    return load(torch_zip(folder / "stride0.pt", obj, {"0": bytes(16)}), heads=2)


@case("dos", ValueError, "holds tensors of")
def pt_many_tensors_on_one_storage(folder):
    storage = _Storage("0", 2**14)
    obj = {f"blocks.0.extra{i}": _Tensor(storage, (2**14,), (1,)) for i in range(400)}
    return load(torch_zip(folder / "shared.pt", obj, {"0": bytes(2**16)}), heads=2, max_bytes=2**20)


@case("dos", ValueError, "truncated or damaged")
def pt_legacy_storage_claims_100_billion_floats(folder):
    obj = {"pos_embed": _Tensor(_Storage("0", 10**11), (10**11,), (1,))}
    return load(torch_legacy(folder / "legacy.pt", obj, {"0": bytes(16)}), heads=2)


@case("dos", ValueError, "not a regular file")
def fifo_instead_of_a_file(folder):
    path = folder / "pipe.safetensors"
    os.mkfifo(path)  # opening it for reading would wait for a writer forever
    return load(path)


# ------------------------------------------------------------------ silent wrong models
@case("silent", ValueError, "'blocks.0.mlp.fc1.weight' has dtype torch.int8")
def int8_weights(folder):
    tensors = state()
    tensors["blocks.0.mlp.fc1.weight"] = (tensors["blocks.0.mlp.fc1.weight"] * 100).to(torch.int8)
    return load(safetensors_file(folder / "int8.safetensors", tensors), heads=2)


@case("silent", ValueError, "'norm.weight' has dtype torch.bool")
def bool_weights_in_a_pickle(folder):
    tensors = {**state(), "norm.weight": torch.ones(16, dtype=torch.bool)}
    torch.save(tensors, folder / "bool.pt")
    return load(folder / "bool.pt", heads=2)


@case("silent", ValueError, "Transformer/encoderblock_0/MlpBlock_3/Dense_1/bias in the file) has dtype torch.int64")
def int64_arrays_in_jax_npz(folder):
    arrays = jax_arrays()
    arrays["Transformer/encoderblock_0/MlpBlock_3/Dense_1/bias"] = np.arange(16, dtype=np.int64)
    return load(npz_file(folder / "ViT.npz", arrays))


@case("silent", ValueError, "has dtype torch.int32")
def int32_qkv_in_transformers_folder(folder):
    tensors = {k: (v * 100).to(torch.int32) if ".attention.attention." in k else v for k, v in hf_tensors().items()}
    return load(hf_folder(folder, tensors=tensors))


@case("silent", ValueError, "has dtype torch.complex64")
def complex_weights(folder):
    tensors = {**state(), "cls_token": torch.zeros(1, 1, 16, dtype=torch.complex64)}
    return load(safetensors_file(folder / "complex.safetensors", tensors), heads=2)


@case("silent", ValueError, "'blocks.1.attn.proj.weight': 1 of its 256 values are NaN or infinite")
def nan_in_own_file(folder):
    tensors = state()
    tensors["blocks.1.attn.proj.weight"][3, 4] = float("nan")
    return load(own_file(folder / "m.safetensors", tensors=tensors))


@case("silent", ValueError, "(vit.layernorm.weight in the file): 16 of its 16 values")
def infinity_in_transformers_folder(folder):
    tensors = {**hf_tensors(), "vit.layernorm.weight": torch.full((16,), float("inf"))}
    return load(hf_folder(folder, tensors=tensors))


@case("silent", ValueError, "(embedding/kernel in the file): 1 of its")
def nan_in_jax_npz(folder):
    arrays = jax_arrays()
    arrays["embedding/kernel"][0, 0, 0, 0] = np.nan
    return load(npz_file(folder / "ViT.npz", arrays))


@case("silent", ValueError, "'head.weight': 1 of its 48 values")
def nan_in_half_precision_pickle(folder):
    tensors = {k: v.half() for k, v in state().items()}
    tensors["head.weight"][0, 0] = float("-inf")
    torch.save(tensors, folder / "half.pt")
    return load(folder / "half.pt", heads=2)


@case("silent", ValueError, "metadata of '{folder}/m.safetensors': layer_norm_eps is nan")
def nan_layer_norm_eps_in_own_metadata(folder):
    return load(own_file(folder / "m.safetensors", set_field("layer_norm_eps", "NaN")))


@case("silent", ValueError, "layer_norm_eps is inf")
def infinite_layer_norm_eps_in_own_metadata(folder):
    return load(own_file(folder / "m.safetensors", set_field("layer_norm_eps", "Infinity")))


@case("silent", ValueError, "layer_norm_eps is -1e-06")
def negative_layer_norm_eps_in_own_metadata(folder):
    return load(own_file(folder / "m.safetensors", set_field("layer_norm_eps", "-1e-6")))


@case("silent", ValueError, "config.json': layer_norm_eps is 0")
def zero_layer_norm_eps_in_config_json(folder):
    return load(hf_folder(folder, config={"layer_norm_eps": 0}))


@case("silent", ValueError, "config.json': layer_norm_eps is nan")
def nan_layer_norm_eps_in_config_json(folder):
    text = json.dumps({**HF_CONFIG, "layer_norm_eps": "@@"}).replace('"@@"', "NaN")
    return load(hf_folder(folder, raw_config=text))


@case("silent", TypeError, "config.json': layer_norm_eps is '1e-12'")
def string_layer_norm_eps_in_config_json(folder):
    return load(hf_folder(folder, config={"layer_norm_eps": "1e-12"}))


@case("silent", ValueError, "id2label names 2 classes but the classifier has 3 outputs")
def id2label_with_too_few_names(folder):
    return load(hf_folder(folder, config={"id2label": {"0": "cat", "1": "dog"}}))


@case("silent", ValueError, "id2label has the key '5'")
def id2label_keys_with_a_gap(folder):
    return load(hf_folder(folder, config={"id2label": {"0": "cat", "1": "dog", "5": "fox"}}))


@case("silent", ValueError, "id2label has the key '01'")
def id2label_keys_not_plain_numbers(folder):
    return load(hf_folder(folder, config={"id2label": {"0": "cat", "01": "dog", "2": "fox"}}))


@case("silent", ValueError, "query, key and value must have the same shape")
def qkv_rows_split_unevenly(folder):
    """q (8, 16), k (16, 16), v (24, 16): stacked, they look like a valid (48, 16) qkv weight."""
    tensors = hf_tensors()
    prefix = "vit.encoder.layer.0.attention.attention."
    full = torch.cat([tensors[prefix + n + ".weight"] for n in ("query", "key", "value")])
    tensors[prefix + "query.weight"], tensors[prefix + "key.weight"], tensors[prefix + "value.weight"] = (
        full[:8], full[8:24], full[24:])
    return load(hf_folder(folder, tensors=tensors))


@case("silent", ValueError, "all blocks of a ViT have the same heads")
def jax_heads_differ_between_blocks(folder):
    arrays = jax_arrays()
    attention = "Transformer/encoderblock_1/MultiHeadDotProductAttention_1/"
    for name in ("query", "key", "value"):
        arrays[attention + name + "/kernel"] = arrays[attention + name + "/kernel"].reshape(16, 4, 4)
        arrays[attention + name + "/bias"] = arrays[attention + name + "/bias"].reshape(4, 4)
    arrays[attention + "out/kernel"] = arrays[attention + "out/kernel"].reshape(4, 4, 16)
    return load(npz_file(folder / "ViT.npz", arrays))


@case("silent", ValueError, "has both")
def transformers_names_of_two_layouts(folder):
    tensors = hf_tensors()
    tensors["vit.layers.0.layernorm_before.weight"] = torch.zeros(16)  # the in-memory name of the same weight
    return load(hf_folder(folder, tensors=tensors))


# ------------------------------------------------------------------ raw exceptions -> clear errors
@case("raw", ValueError, "config.json': num_attention_heads is 0")
def zero_heads_in_config_json(folder):
    return load(hf_folder(folder, config={"num_attention_heads": 0}))


@case("raw", TypeError, "config.json': num_attention_heads is '2', not a whole number")
def string_heads_in_config_json(folder):
    return load(hf_folder(folder, config={"num_attention_heads": "2"}))


@case("raw", ValueError, "query, key and value must have the same shape")
def qkv_widths_that_torch_cat_refuses(folder):
    tensors = hf_tensors()
    tensors["vit.encoder.layer.1.attention.attention.key.weight"] = torch.zeros(16, 12)
    return load(hf_folder(folder, tensors=tensors))


@case("raw", ValueError, "id2label has the key 'cat'")
def id2label_keys_that_int_refuses(folder):
    return load(hf_folder(folder, config={"id2label": {"cat": "0", "1": "dog", "2": "fox"}}))


@case("raw", ValueError, "id2label is list")
def id2label_as_a_list(folder):
    return load(hf_folder(folder, config={"id2label": ["cat", "dog", "fox"]}))


@case("raw", ValueError, "has no 'weight_map'")
def shard_index_is_a_list(folder):
    return load(sharded_folder(folder, index=["model-00001-of-00002.safetensors"]))


@case("raw", ValueError, "has no 'weight_map'")
def shard_index_without_weight_map(folder):
    return load(sharded_folder(folder, index={"metadata": {}}))


@case("raw", ValueError, "has no 'weight_map'")
def shard_index_weight_map_is_null(folder):
    return load(sharded_folder(folder, index={"weight_map": None}))


@case("raw", ValueError, "has no 'weight_map'")
def shard_index_weight_map_is_a_list(folder):
    return load(sharded_folder(folder, index={"weight_map": ["model-00001-of-00002.safetensors"]}))


@case("raw", ValueError, "maps to 7, not a file name")
def shard_index_file_name_is_a_number(folder):
    return load(sharded_folder(folder, index={"weight_map": {"vit.layernorm.weight": 7}}))


@case("raw", ValueError, "points to '../outside.safetensors', outside its folder")
def shard_index_points_to_the_parent(folder):
    safetensors_file(folder / "outside.safetensors", hf_tensors())
    return load(sharded_folder(folder, index={"weight_map": {"vit.layernorm.weight": "../outside.safetensors"}}))


@case("raw", ValueError, "outside its folder")
def shard_index_absolute_path(folder):
    safetensors_file(folder / "outside.safetensors", hf_tensors())
    return load(sharded_folder(folder, index={"weight_map": {"vit.layernorm.weight":
                                                             str(folder / "outside.safetensors")}}))


@case("raw", ValueError, "points to 'link.safetensors', outside its folder")
def shard_index_symlink_leaving_the_folder(folder):
    safetensors_file(folder / "outside.safetensors", hf_tensors())
    target = sharded_folder(folder, index={"weight_map": {"vit.layernorm.weight": "link.safetensors"}})
    (target / "link.safetensors").symlink_to(folder / "outside.safetensors")
    return load(target)


@case("raw", ValueError, "lists 'missing.safetensors', which is not a file in the folder")
def shard_index_names_a_missing_file(folder):
    return load(sharded_folder(folder, index={"weight_map": {"vit.layernorm.weight": "missing.safetensors"}}))


@case("raw", ValueError, "which does not hold it")
def shard_index_lists_a_tensor_its_shard_lacks(folder):
    target = sharded_folder(folder)
    index = json.loads((target / "model.safetensors.index.json").read_text())
    index["weight_map"]["vit.extra.weight"] = "model-00001-of-00002.safetensors"
    (target / "model.safetensors.index.json").write_text(json.dumps(index))
    return load(target)


@case("raw", ValueError, "nests its JSON too deeply")
def shard_index_nested_too_deeply(folder):
    return load(sharded_folder(folder, raw_index="[" * 100_000 + "]" * 100_000))


@case("raw", ValueError, "config.json' is not valid JSON")
def config_json_not_json(folder):
    return load(hf_folder(folder, raw_config="{model_type: vit"))


@case("raw", ValueError, "'vit_edu_config' metadata of '{folder}/m.safetensors' holds null")
def own_metadata_config_is_null(folder):
    return load(own_file(folder / "m.safetensors", lambda text: "null"))


@case("raw", ValueError, "holds a JSON list, not an object of ViTConfig fields")
def own_metadata_config_is_a_list(folder):
    return load(own_file(folder / "m.safetensors", lambda text: "[1, 2]"))


@case("raw", TypeError, "is not a valid config")
def own_metadata_config_with_a_string_width(folder):
    return load(own_file(folder / "m.safetensors", set_field("dim", '"16"')))


@case("raw", ValueError, "GLOBAL posix.system", absent="weights_only")
def pickle_names_the_blocked_global(folder):
    torch.save({**state(), "extra": _System(folder / "pwned")}, folder / "evil.pt")
    return load(folder / "evil.pt", heads=2)


@case("raw", ValueError, "refusing to load", absent="weights_only")
def plain_pickle_file_is_refused_without_torch_advice(folder):
    with open(folder / "evil.pth", "wb") as handle:
        pickle.dump({"cls_token": _System(folder / "pwned")}, handle, protocol=4)
    return load(folder / "evil.pth", heads=2)


@case("raw", ValueError, "legacy .tar format", absent="weights_only")
def pt_legacy_tar_format(folder):
    import tarfile

    with tarfile.open(folder / "old.pt", "w") as archive:
        info = tarfile.TarInfo("storages")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"bytes"))
    return load(folder / "old.pt", heads=2)


@case("raw", ValueError, "entry 'notes.txt' is not a .npy array")
def npz_with_a_text_entry(folder):
    path = npz_file(folder / "ViT.npz", jax_arrays())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "trained for 7 epochs")
    return load(path)


@case("raw", ValueError, "which torch cannot hold")
def npz_with_a_string_array(folder):
    return load(npz_file(folder / "ViT.npz", {**jax_arrays(), "cls": np.array(["a", "b"])}))


@case("raw", ValueError, "truncated or damaged")
def npz_entry_with_a_bad_checksum(folder):
    entry = npy_header((4,)) + bytes(16)
    path = zip_by_hand(folder / "bad.npz", [("cls.npy", zipfile.ZIP_STORED, entry, len(entry))])
    data = bytearray(path.read_bytes())
    data[len(entry) + 30 + 7 - 1] ^= 0xFF  # flip a byte of the array: the CRC no longer matches
    path.write_bytes(bytes(data))
    return load(path)


# ------------------------------------------------------------------ own files
@case("own", ValueError, "must end in .safetensors")
def save_under_a_pt_name(folder):
    from vit_edu.checkpoints import save_checkpoint

    return lambda: save_checkpoint(small_model(), folder / "m.pt")


@case("own", ValueError, "must end in .safetensors")
def save_without_a_suffix(folder):
    from vit_edu.checkpoints import save_checkpoint

    return lambda: save_checkpoint(small_model(), folder / "model")


@case("own", ValueError, "must end in .safetensors")
def save_under_a_backup_name(folder):
    from vit_edu.checkpoints import save_checkpoint

    return lambda: save_checkpoint(small_model(), folder / "m.safetensors.bak")


@case("own", ValueError, "cannot read '{folder}/cut.pt' as safetensors")
def truncated_own_file_under_a_pt_name(folder):
    """Recognised by its bytes, a damaged own file gets the safetensors error, not a pickle refusal."""
    data = _write_own_under(folder / "m.safetensors").read_bytes()
    (folder / "cut.pt").write_bytes(data[: len(data) // 2])
    return load(folder / "cut.pt")


@case("own", ValueError, "'vit_edu_config' metadata of '{folder}/m.bin' holds null")
def damaged_metadata_of_own_file_under_a_bin_name(folder):
    own_file(folder / "m.safetensors", lambda text: "null").rename(folder / "m.bin")
    return load(folder / "m.bin")


# ------------------------------------------------------------------ valid files (the baseline)
def _write_own_under(path: Path) -> Path:
    from safetensors.torch import save_file

    from vit_edu.checkpoints.formats import CONFIG_KEY, config_to_json

    model = small_model()
    save_file(model.state_dict(), str(path), metadata={CONFIG_KEY: config_to_json(model.config), "format": "vit_edu"})
    return path


@case("valid", None)
def own_file_written_under_a_pt_name(folder):
    return load(_write_own_under(folder / "m.pt"))


@case("valid", None)
def own_file_written_without_a_suffix(folder):
    return load(_write_own_under(folder / "model"))


@case("valid", None)
def transformers_folder(folder):
    return load(hf_folder(folder))


@case("valid", None)
def transformers_sharded_folder(folder):
    return load(sharded_folder(folder))


@case("valid", None)
def jax_npz(folder):
    return load(npz_file(folder / "ViT.npz", jax_arrays()))


@case("valid", None)
def jax_npz_compressed(folder):
    path = folder / "ViT.npz"
    np.savez_compressed(path, **jax_arrays())
    return load(path)


@case("valid", None)
def timm_pickle(folder):
    torch.save(state(), folder / "timm.pth")
    return load(folder / "timm.pth", heads=2)


# ------------------------------------------------------------------ the child process
def _peak_kib() -> int:
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1))


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux), so that each case's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _on_alarm(signum, frame):
    raise TimeoutError(f"no answer within {CASE_TIMEOUT_S} s")


def run_case(item: Case) -> dict:
    """Craft one case in a fresh folder and call it; the error, message, seconds and peak memory."""
    with tempfile.TemporaryDirectory(prefix="vit_edu_fault_") as tmp:
        folder = Path(tmp).resolve()
        call = item.make(folder)
        exact = _reset_peak()
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        start = time.perf_counter()
        signal.alarm(CASE_TIMEOUT_S)  # a hang in Python code becomes this case's TimeoutError
        try:
            call()
            error, message = None, ""
        except Exception as exception:  # the case's answer, whatever it is, is the result
            error, message = type(exception).__name__, str(exception)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        seconds = time.perf_counter() - start
        peak_mb = _peak_kib() / 1024 if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"name": item.name, "group": item.group, "error": error,
                "message": message.replace(str(folder), "{folder}"),
                "names_file": str(folder) in message or error is None, "seconds": seconds, "peak_mb": peak_mb,
                "peak_is_per_case": exact, "ran_code": (folder / "pwned").exists()}


def check(item: Case, result: dict) -> list[str]:
    """What is wrong with a case's result (empty when it answered as it must)."""
    problems = []
    if result["error"] != item.error:
        problems.append(f"raised {result['error']} instead of {item.error}")
    if item.fragment not in result["message"]:
        problems.append(f"message lacks {item.fragment!r}")
    if item.absent and item.absent in result["message"]:
        problems.append(f"message contains {item.absent!r}")
    if not result["names_file"]:
        problems.append("message does not name the file")
    if result["ran_code"]:
        problems.append("a pickled payload ran")
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", help="names of the cases to run (default: all)")
    parser.add_argument("--address-space-gb", type=float, default=8.0,
                        help="limit on the process's address space; 0 for none")
    args = parser.parse_args(argv)
    if args.address_space_gb > 0:
        limit = int(args.address_space_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    chosen = [c for c in CASES if not args.cases or c.name in args.cases]
    for item in [c for c in CASES if c.group == "valid"]:  # warm up imports and kernels, untimed
        run_case(item)
    baseline = _peak_kib() / 1024 if _reset_peak() else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"baseline_mb": baseline}), flush=True)
    for item in chosen:
        print(json.dumps({"start": item.name}), flush=True)
        print(json.dumps(run_case(item)), flush=True)


def _forward_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_in_child(names: list[str] | None = None, address_space_gb: float = 8.0,
                 hang_timeout: float = CASE_TIMEOUT_S + 30) -> tuple[float | None, dict[str, dict], str]:
    """Run cases in a child process: (baseline MB, name -> result, the end of the child's stderr).

    A case blocked in native code (e.g. a library opening a pipe) never sees the child's alarm, so the
    parent watches too: when no line arrives within ``hang_timeout`` the child is killed, the case is
    recorded as a hang, and a new child runs the cases that are left.
    """
    pending = [c.name for c in CASES if names is None or c.name in names]
    results: dict[str, dict] = {}
    baseline, errors = None, []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    while pending:
        command = [sys.executable, str(Path(__file__).resolve()), "--address-space-gb", str(address_space_gb),
                   "--cases", *pending]
        with tempfile.TemporaryFile("w+") as stderr:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=_forward_lines, args=(child.stdout, lines), daemon=True).start()
            started = None
            while True:
                try:
                    line = lines.get(timeout=hang_timeout)
                except queue.Empty:
                    child.kill()
                    break
                if line is None:
                    break
                record = json.loads(line)
                if "start" in record:
                    started = record["start"]
                elif "name" in record:
                    results[record["name"]] = record
                    started = None
                else:
                    baseline = record.get("baseline_mb", baseline)
            child.wait()
            stderr.seek(0)
            errors.append(stderr.read()[-2000:])
        if started is None:  # finished, or died before starting a case: nothing left to retry
            break
        item = next(c for c in CASES if c.name == started)
        results[started] = {"name": started, "group": item.group, "error": "Hang",
                            "message": f"no answer within {hang_timeout:.0f} s (exit {child.returncode}); killed",
                            "names_file": False, "seconds": hang_timeout, "peak_mb": float("nan"),
                            "peak_is_per_case": False, "ran_code": False}
        pending = [name for name in pending if name not in results]
    return baseline, results, "".join(errors)[-4000:]


if __name__ == "__main__":
    sys.path.append(str(Path(__file__).resolve().parents[2]))  # the repository, when vit_edu is not installed
    main()
