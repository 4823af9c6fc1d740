"""Tests for vit_edu.checkpoints: our own format, timm, transformers and JAX layouts.

The references are independent of the loader: the transformers model itself, and timm / JAX
layouts built by hand in this file from a model's tensors.
"""

from __future__ import annotations

import json

import pytest
import torch

from vit_edu import ViT
from vit_edu.checkpoints import load_checkpoint, read_checkpoint_config, read_checkpoint_metadata, save_checkpoint

SMALL = dict(image_size=32, patch_size=8, num_classes=5, dim=48, depth=2, heads=3, mlp_dim=96)


def small_model(seed: int = 0, **changes) -> ViT:
    return ViT(**{**SMALL, **changes}, seed=seed).eval()


def images(seed: int = 1, size: int = 32, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ vit_edu format
def test_save_load_round_trip_keeps_logits_config_and_metadata(tmp_path):
    model = small_model(seed=3, pool="mean", layer_norm_eps=1e-5)
    path = save_checkpoint(model, tmp_path / "runs" / "m.safetensors", metadata={"accuracy": "0.973", "epochs": 4})
    assert path == tmp_path / "runs" / "m.safetensors" and path.is_file()
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert not loaded.training
    x = images()
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    meta = read_checkpoint_metadata(path)
    assert meta["accuracy"] == "0.973" and meta["epochs"] == "4"
    assert json.loads(meta["vit_edu_config"])["heads"] == 3
    assert read_checkpoint_config(path) == model.config


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    path = save_checkpoint(small_model(seed=0), tmp_path / "m.safetensors")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_checkpoint(small_model(seed=1), path)
    assert path.read_bytes() == before
    save_checkpoint(small_model(seed=1), path, overwrite=True)
    x = images()
    torch.testing.assert_close(load_checkpoint(path)(x), small_model(seed=1)(x), rtol=0, atol=0)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary files left


def test_linear_patch_embedding_saves_in_conv_layout_and_loads_in_either_form(tmp_path):
    model = small_model(seed=2, patch_embedding="linear")
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    x = images()
    torch.testing.assert_close(load_checkpoint(path)(x), model(x), atol=1e-5, rtol=1e-5)
    linear = load_checkpoint(path, patch_embedding="linear")
    assert linear.patch_embed.form == "linear"
    torch.testing.assert_close(linear(x), model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("metadata", "error", "match"),
    [
        ({"accuracy": [0.9]}, TypeError, "metadata\\['accuracy'\\]"),
        ({"vit_edu_config": "x"}, ValueError, "reserved"),
        ("0.9", TypeError, "dict of strings"),
    ],
)
def test_save_rejects_bad_metadata(tmp_path, metadata, error, match):
    with pytest.raises(error, match=match):
        save_checkpoint(small_model(), tmp_path / "m.safetensors", metadata=metadata)
    assert not (tmp_path / "m.safetensors").exists()


def test_save_rejects_non_models_and_folders(tmp_path):
    with pytest.raises(TypeError, match="vit_edu.ViT"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "m.safetensors")
    with pytest.raises(IsADirectoryError, match="directory"):
        save_checkpoint(small_model(), tmp_path)
