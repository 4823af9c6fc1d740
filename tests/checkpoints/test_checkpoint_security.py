"""A checkpoint must never run code while it is read.

Each malicious file below holds an object whose unpickling calls ``os.system`` to create a marker
file. A control shows the payload is live (plain ``pickle`` does run it); ``load_checkpoint`` must
refuse the file with a clear message and leave no marker behind.
"""

from __future__ import annotations

import os
import pickle
import shlex

import numpy as np
import pytest
import torch

from vit_edu import ViT
from vit_edu.checkpoints import load_checkpoint, read_checkpoint_metadata


class Payload:
    """Unpickling this object runs a shell command that creates ``marker``."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def small_state_dict() -> dict[str, torch.Tensor]:
    return ViT(image_size=16, patch_size=8, num_classes=2, dim=16, depth=1, heads=2, mlp_dim=32, seed=0).state_dict()


def test_the_payload_is_live(tmp_path):
    """Control: without protection the payload runs (otherwise the tests below would prove nothing)."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps({"weight": Payload(marker)}))
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt"])
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, suffix, writer):
    marker = tmp_path / "pwned"
    state = {**small_state_dict(), "extra": Payload(marker)}
    path = tmp_path / f"evil{suffix}"
    if writer == "torch.save":
        torch.save(state, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(state, handle)
    with pytest.raises(ValueError, match=r"refusing to load.*could run\s+arbitrary code"):
        load_checkpoint(path, heads=2)
    assert not marker.exists()


def test_malicious_pickle_in_a_transformers_folder_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "hf"
    folder.mkdir()
    torch.save({"embeddings.cls_token": Payload(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match="refusing to load"):
        load_checkpoint(folder)
    assert not marker.exists()


def test_npz_with_a_pickled_object_array_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    arrays = {"cls": np.zeros((1, 1, 16), np.float32), "evil": np.array([Payload(marker)], dtype=object)}
    np.savez(tmp_path / "evil.npz", **arrays)  # numpy pickles object arrays when saving
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"refusing to read.*allow_pickle"):
        load_checkpoint(tmp_path / "evil.npz")
    assert not marker.exists()


@pytest.mark.slow
def test_pickle_files_are_read_with_weights_only(tmp_path, monkeypatch):
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    torch.save(small_state_dict(), tmp_path / "ok.pt")
    model = load_checkpoint(tmp_path / "ok.pt", heads=2)
    assert calls and all(call.get("weights_only") is True for call in calls)
    assert model.config.dim == 16


def test_other_pickle_suffixes_are_not_read_at_all(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pkl", "wb") as handle:
        pickle.dump(Payload(marker), handle)
    with pytest.raises(ValueError, match="unknown checkpoint type"):
        load_checkpoint(tmp_path / "evil.pkl")
    with pytest.raises(ValueError, match="only safetensors files carry metadata"):
        read_checkpoint_metadata(tmp_path / "evil.pkl")
    assert not marker.exists()
