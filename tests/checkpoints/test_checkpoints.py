"""Tests for vit_edu.checkpoints: our own format, timm, transformers and JAX layouts.

The references are independent of the loader: the transformers model itself, and timm / JAX
layouts built by hand in this file from a model's tensors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vit_edu import ViT
from vit_edu.checkpoints import (
    load_checkpoint,
    read_checkpoint_config,
    read_checkpoint_metadata,
    save_checkpoint,
    to_jax_arrays,
)

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
    with pytest.raises(TypeError, match=r"vit_edu.ViT"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "m.safetensors")
    with pytest.raises(IsADirectoryError, match="directory"):
        save_checkpoint(small_model(), tmp_path)


# ------------------------------------------------------------------ references built by hand
HF_SHAPE = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=96,
                image_size=32, patch_size=8, num_labels=5)


@torch.no_grad()
def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random values in every parameter (fresh inits have zero biases and unit LayerNorms, which would
    hide a swapped bias or LayerNorm)."""
    generator = torch.Generator().manual_seed(seed)
    for parameter in module.parameters():
        parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator) + 0.02)
    return module.eval()


def hf_classifier(seed: int = 0, **changes):
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(**{**HF_SHAPE, **changes})
    return randomize(transformers.ViTForImageClassification(config), seed)


def hf_logits(hf_model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return hf_model(pixel_values=x).logits


def hf_to_timm_by_hand(hf_model) -> dict[str, torch.Tensor]:
    """transformers (in-memory names) -> timm names, written out without vit_edu code."""
    sd = hf_model.state_dict()
    out = {
        "cls_token": sd["vit.embeddings.cls_token"],
        "pos_embed": sd["vit.embeddings.position_embeddings"],
        "patch_embed.proj.weight": sd["vit.embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": sd["vit.embeddings.patch_embeddings.projection.bias"],
        "norm.weight": sd["vit.layernorm.weight"], "norm.bias": sd["vit.layernorm.bias"],
        "head.weight": sd["classifier.weight"], "head.bias": sd["classifier.bias"],
    }
    for i in range(hf_model.config.num_hidden_layers):
        hf = f"vit.layers.{i}."
        for kind in ("weight", "bias"):
            out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat(
                [sd[hf + f"attention.{n}_proj.{kind}"] for n in "qkv"], dim=0)
            out[f"blocks.{i}.attn.proj.{kind}"] = sd[hf + f"attention.o_proj.{kind}"]
            out[f"blocks.{i}.norm1.{kind}"] = sd[hf + f"layernorm_before.{kind}"]
            out[f"blocks.{i}.norm2.{kind}"] = sd[hf + f"layernorm_after.{kind}"]
            out[f"blocks.{i}.mlp.fc1.{kind}"] = sd[hf + f"mlp.fc1.{kind}"]
            out[f"blocks.{i}.mlp.fc2.{kind}"] = sd[hf + f"mlp.fc2.{kind}"]
    return out


def hf_to_jax_by_hand(hf_model) -> dict[str, np.ndarray]:
    """transformers -> the original JAX .npz names and layouts, written out without vit_edu code."""
    sd = {("" if k.startswith(("vit.", "classifier.")) else "vit.") + k: v.detach().numpy()
          for k, v in hf_model.state_dict().items()}
    heads = hf_model.config.num_attention_heads
    dim = hf_model.config.hidden_size
    head_dim = dim // heads
    out = {
        "cls": sd["vit.embeddings.cls_token"],
        "Transformer/posembed_input/pos_embedding": sd["vit.embeddings.position_embeddings"],
        # conv (D, C, P, P) -> Flax conv (P, P, C, D)
        "embedding/kernel": sd["vit.embeddings.patch_embeddings.projection.weight"].transpose(2, 3, 1, 0),
        "embedding/bias": sd["vit.embeddings.patch_embeddings.projection.bias"],
        "Transformer/encoder_norm/scale": sd["vit.layernorm.weight"],
        "Transformer/encoder_norm/bias": sd["vit.layernorm.bias"],
    }
    if "classifier.weight" in sd:
        out["head/kernel"] = sd["classifier.weight"].T  # (D, K)
        out["head/bias"] = sd["classifier.bias"]
    for i in range(hf_model.config.num_hidden_layers):
        hf, jx = f"vit.layers.{i}.", f"Transformer/encoderblock_{i}/"
        attn = jx + "MultiHeadDotProductAttention_1/"
        for torch_name, jax_name in (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value")):
            out[attn + jax_name + "/kernel"] = sd[hf + f"attention.{torch_name}.weight"].T.reshape(dim, heads, head_dim)
            out[attn + jax_name + "/bias"] = sd[hf + f"attention.{torch_name}.bias"].reshape(heads, head_dim)
        out[attn + "out/kernel"] = sd[hf + "attention.o_proj.weight"].T.reshape(heads, head_dim, dim)
        out[attn + "out/bias"] = sd[hf + "attention.o_proj.bias"]
        for ln, jax_ln in (("layernorm_before", "LayerNorm_0"), ("layernorm_after", "LayerNorm_2")):
            out[jx + jax_ln + "/scale"] = sd[hf + ln + ".weight"]
            out[jx + jax_ln + "/bias"] = sd[hf + ln + ".bias"]
        for fc, dense in (("fc1", "Dense_0"), ("fc2", "Dense_1")):
            out[jx + f"MlpBlock_3/{dense}/kernel"] = sd[hf + f"mlp.{fc}.weight"].T  # (in, out)
            out[jx + f"MlpBlock_3/{dense}/bias"] = sd[hf + f"mlp.{fc}.bias"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


# ------------------------------------------------------------------ transformers
@pytest.mark.slow
def test_transformers_save_pretrained_folder_gives_the_same_logits(tmp_path):
    hf = hf_classifier(seed=1)
    hf.save_pretrained(tmp_path / "hf")
    model = load_checkpoint(tmp_path / "hf")
    assert model.config.heads == 3 and model.config.num_classes == 5 and model.config.layer_norm_eps == 1e-12
    assert model.checkpoint_info["format"] == "transformers"
    assert model.checkpoint_info["labels"] == [f"LABEL_{i}" for i in range(5)]
    x = images()
    assert (model(x) - hf_logits(hf, x)).abs().max() <= 1e-4


@pytest.mark.slow
def test_transformers_safetensors_file_alone_and_both_name_layouts(tmp_path):
    from safetensors.torch import load_file

    hf = hf_classifier(seed=2)
    hf.save_pretrained(tmp_path / "hf")
    file_layout = load_file(tmp_path / "hf" / "model.safetensors")
    assert any(".encoder.layer.0.attention.attention.query." in k for k in file_layout)  # the Hub's names
    memory_layout = hf.state_dict()
    assert any(".layers.0.attention.q_proj." in k for k in memory_layout)  # transformers 5 module names
    x = images()
    reference = hf_logits(hf, x)
    # the file next to its config.json: the config supplies heads and epsilon
    assert (load_checkpoint(tmp_path / "hf" / "model.safetensors")(x) - reference).abs().max() <= 1e-4
    # bare state dicts: heads must be given (48-wide, 2 layers matches no preset); epsilon defaults to 1e-12
    for state in (file_layout, memory_layout):
        model = load_checkpoint(state, heads=3)
        assert (model(x) - reference).abs().max() <= 1e-4
    with pytest.raises(ValueError, match="heads="):
        load_checkpoint(memory_layout)


def test_transformers_without_vit_prefix_and_in_memory_model():
    hf = hf_classifier(seed=3)
    x = images()
    bare = {k.removeprefix("vit."): v for k, v in hf.state_dict().items()}
    assert (load_checkpoint(bare, heads=3)(x) - hf_logits(hf, x)).abs().max() <= 1e-4
    assert (load_checkpoint(hf)(x) - hf_logits(hf, x)).abs().max() <= 1e-4  # the model object itself


def test_vitmodel_loads_as_features_and_says_the_pooler_is_unused(tmp_path):
    transformers = pytest.importorskip("transformers")
    base = randomize(transformers.ViTModel(transformers.ViTConfig(**HF_SHAPE)), seed=4)
    base.save_pretrained(tmp_path / "base")
    with pytest.warns(UserWarning, match="pooler"):
        model = load_checkpoint(tmp_path / "base")
    assert model.config.num_classes == 0
    x = images()
    with torch.no_grad():
        reference = base(pixel_values=x).last_hidden_state[:, 0]  # LN(z_L^0), Eq. 4
    assert (model(x) - reference).abs().max() <= 1e-4


# ------------------------------------------------------------------ timm
def test_timm_state_dict_gives_the_same_logits_and_infers_the_config():
    hf = hf_classifier(seed=5)
    timm_sd = hf_to_timm_by_hand(hf)
    model = load_checkpoint(timm_sd, heads=3, layer_norm_eps=1e-12)
    cfg = model.config
    assert (cfg.dim, cfg.depth, cfg.heads, cfg.mlp_dim, cfg.num_classes) == (48, 2, 3, 96, 5)
    assert (cfg.image_size, cfg.patch_size, cfg.channels) == ((32, 32), (8, 8), 3)
    x = images()
    assert (model(x) - hf_logits(hf, x)).abs().max() <= 1e-4
    assert load_checkpoint(timm_sd, heads=3).checkpoint_info["format"] == "timm"


def test_timm_wrapped_pt_file_with_module_prefix(tmp_path):
    hf = hf_classifier(seed=6)
    wrapped = {"epoch": 3, "state_dict": {"module." + k: v for k, v in hf_to_timm_by_hand(hf).items()}}
    torch.save(wrapped, tmp_path / "train.pth")
    model = load_checkpoint(tmp_path / "train.pth", heads=3, layer_norm_eps=1e-12)
    x = images()
    assert (model(x) - hf_logits(hf, x)).abs().max() <= 1e-4


def test_heads_come_from_a_paper_preset_when_shapes_match():
    # Ti/16 shapes (D=192, L=12, M=768) at 64 px with 7 classes: heads=3 from the preset
    with torch.device("meta"):  # skip the (slow) truncated-normal initialisation; random values below
        source = ViT(image_size=64, patch_size=16, num_classes=7, dim=192, depth=12, heads=3, mlp_dim=768)
    source = randomize(source.to_empty(device="cpu"), seed=0)
    model = load_checkpoint(source.state_dict())
    assert model.config == source.config
    x = images(size=64, batch=1)
    torch.testing.assert_close(model(x), source.eval()(x), rtol=0, atol=0)


def test_dim_head_and_non_square_grid_are_inferred():
    source = randomize(ViT(image_size=(16, 32), patch_size=8, num_classes=2, dim=32, depth=1, heads=2,
                           dim_head=24, mlp_dim=40), seed=7)
    with pytest.raises(ValueError, match="image_size"):
        load_checkpoint(source.state_dict(), heads=2)
    model = load_checkpoint(source.state_dict(), heads=2, image_size=(16, 32))
    assert model.config == source.config
    x = torch.randn(2, 3, 16, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_image_size_override_resamples_position_embeddings():
    import torch.nn.functional as F

    source = randomize(small_model(), seed=8)
    model = load_checkpoint(source.state_dict(), heads=3, image_size=48)
    assert model.config.image_size == (48, 48) and model.pos_embed.shape == (1, 1 + 36, 48)
    grid = source.pos_embed.detach()[0, 1:].T.reshape(1, 48, 4, 4)  # (1, D, 4, 4), row-major patches
    expected = F.interpolate(grid, size=(6, 6), mode="bicubic", align_corners=False).reshape(48, 36).T
    torch.testing.assert_close(model.pos_embed.detach()[0, 1:], expected)
    torch.testing.assert_close(model.pos_embed.detach()[0, 0], source.pos_embed.detach()[0, 0])
    assert model(images(size=48)).shape == (2, 5)


def test_overrides_that_contradict_the_tensors_are_refused():
    sd = small_model().state_dict()
    with pytest.raises(ValueError, match=r"dim=64 does not match .* dim=48"):
        load_checkpoint(sd, heads=3, dim=64)
    with pytest.raises(ValueError, match="num_classes=0 to drop the head"):
        load_checkpoint(sd, heads=3, num_classes=10)
    with pytest.raises(ValueError, match="heads=5 does not divide"):
        load_checkpoint(sd, heads=5)
    with pytest.raises(TypeError, match=r"unknown override.*'hidden_size'"):
        load_checkpoint(sd, heads=3, hidden_size=48)
    with pytest.raises(ValueError, match="format must be"):
        load_checkpoint(sd, format="keras")
    features = load_checkpoint(sd, heads=3, num_classes=0)
    assert features.config.num_classes == 0 and features(images()).shape == (2, 48)


def test_strict_lists_missing_and_unexpected_keys_and_non_strict_loads_the_rest():
    source = randomize(small_model(), seed=9)
    sd = dict(source.state_dict())
    del sd["blocks.1.mlp.fc2.bias"]
    sd["blocks.0.ls1.gamma"] = torch.ones(48)
    sd["norm.weight"] = torch.ones(47)
    with pytest.raises(ValueError, match="missing") as error:
        load_checkpoint(sd, heads=3)
    message = str(error.value)
    assert "blocks.1.mlp.fc2.bias" in message and "blocks.0.ls1.gamma" in message
    assert "norm.weight: checkpoint (47,) vs model (48,)" in message and "strict=False" in message
    with pytest.warns(UserWarning, match="blocks.1.mlp.fc2.bias"):
        model = load_checkpoint(sd, heads=3, strict=False)
    torch.testing.assert_close(model.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    assert torch.equal(model.blocks[1].mlp.fc2.bias, torch.zeros(48))  # missing: fresh init (zero bias)
    assert torch.equal(model.norm.weight, torch.ones(48))  # wrong shape: not loaded


# ------------------------------------------------------------------ JAX .npz
def test_jax_npz_gives_the_same_logits_and_heads_from_the_kernels(tmp_path):
    hf = hf_classifier(seed=10)
    np.savez(tmp_path / "ViT-tiny.npz", **hf_to_jax_by_hand(hf))
    model = load_checkpoint(tmp_path / "ViT-tiny.npz", layer_norm_eps=1e-12)  # no heads= needed
    assert model.config.heads == 3 and model.checkpoint_info["format"] == "jax"
    x = images()
    assert (model(x) - hf_logits(hf, x)).abs().max() <= 1e-4
    with pytest.raises(ValueError, match="heads=4 contradicts"):
        load_checkpoint(tmp_path / "ViT-tiny.npz", heads=4)


def test_to_jax_arrays_matches_the_hand_made_layout():
    hf = hf_classifier(seed=11)
    ours = to_jax_arrays(load_checkpoint(hf))
    reference = hf_to_jax_by_hand(hf)
    assert sorted(ours) == sorted(reference)
    for key, value in reference.items():
        assert ours[key].shape == value.shape, key
        np.testing.assert_allclose(ours[key], value, rtol=0, atol=0, err_msg=key)


def test_pre_logits_checkpoint_loads_as_features_with_a_message(tmp_path):
    transformers = pytest.importorskip("transformers")
    base = randomize(transformers.ViTModel(transformers.ViTConfig(**HF_SHAPE), add_pooling_layer=False), seed=12)
    arrays = hf_to_jax_by_hand(base)
    arrays.update({"pre_logits/kernel": np.ones((48, 48), np.float32), "pre_logits/bias": np.zeros(48, np.float32),
                   "head/kernel": np.zeros((48, 11), np.float32), "head/bias": np.zeros(11, np.float32)})
    np.savez(tmp_path / "in21k.npz", **arrays)
    with pytest.warns(UserWarning, match="pre-logits.*num_classes=0"):
        model = load_checkpoint(tmp_path / "in21k.npz", layer_norm_eps=1e-12)
    assert model.config.num_classes == 0
    x = images()
    with torch.no_grad():
        reference = base(pixel_values=x).last_hidden_state[:, 0]
    assert (model(x) - reference).abs().max() <= 1e-4
    with pytest.raises(ValueError, match="features only"):
        load_checkpoint(tmp_path / "in21k.npz", num_classes=11)


# ------------------------------------------------------------------ bad files
def test_truncated_files_give_clear_errors(tmp_path):
    path = save_checkpoint(small_model(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated, damaged or not safetensors"):
        load_checkpoint(tmp_path / "cut.safetensors")
    np.savez(tmp_path / "m.npz", **to_jax_arrays(small_model()))
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or damaged"):
        load_checkpoint(tmp_path / "cut.npz")
    torch.save(small_model().state_dict(), tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or damaged"):
        load_checkpoint(tmp_path / "cut.pt", heads=3)


def test_wrong_shapes_give_clear_errors(tmp_path):
    arrays = to_jax_arrays(small_model())
    arrays["embedding/kernel"] = arrays["embedding/kernel"][..., 0]  # (P, P, C): a dimension lost
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"'embedding/kernel' has shape \(8, 8, 3\), expected \(P, P, C, D\)"):
        load_checkpoint(tmp_path / "bad.npz")
    sd = small_model().state_dict()
    sd["pos_embed"] = sd["pos_embed"][0]
    with pytest.raises(ValueError, match="'pos_embed' has shape"):
        load_checkpoint(sd, heads=3)


def test_unknown_formats_and_missing_files_give_clear_errors(tmp_path):
    (tmp_path / "weights.h5").write_bytes(b"\x89HDF\r\n")
    with pytest.raises(ValueError, match=r"unknown checkpoint type.*safetensors"):
        load_checkpoint(tmp_path / "weights.h5")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no model.safetensors"):
        load_checkpoint(tmp_path / "empty")
    with pytest.raises(ValueError, match="cannot recognise the checkpoint layout"):
        load_checkpoint({"conv1.weight": torch.zeros(3, 3), "fc.weight": torch.zeros(2, 2)})
    with pytest.raises(TypeError, match="path_or_state_dict"):
        load_checkpoint(42)
    with pytest.raises(ValueError, match="only safetensors files carry metadata"):
        np.savez(tmp_path / "m.npz", a=np.zeros(2))
        read_checkpoint_metadata(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="no 'vit_edu_config'"):
        read_checkpoint_config(save_timm_as_safetensors(tmp_path))


def save_timm_as_safetensors(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "timm.safetensors"
    save_file({k: v.contiguous() for k, v in small_model().state_dict().items()}, path)
    return path


def test_transformers_sharded_folder_pytorch_bin_and_no_qkv_bias(tmp_path):
    hf = hf_classifier(seed=13, qkv_bias=False)
    assert not any(k.endswith("q_proj.bias") for k in hf.state_dict())
    x = images()
    hf.save_pretrained(tmp_path / "sharded", max_shard_size="40KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    model = load_checkpoint(tmp_path / "sharded")  # zero q/k/v biases compute the same function
    assert (model(x) - hf_logits(hf, x)).abs().max() <= 1e-4
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_text((tmp_path / "sharded" / "config.json").read_text())
    torch.save(hf.state_dict(), tmp_path / "bin" / "pytorch_model.bin")
    assert (load_checkpoint(tmp_path / "bin")(x) - hf_logits(hf, x)).abs().max() <= 1e-4


def test_half_precision_tensors_load_as_float32():
    source = randomize(small_model(), seed=14)
    half = {k: v.to(torch.bfloat16) for k, v in source.state_dict().items()}
    model = load_checkpoint(half, heads=3)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    torch.testing.assert_close(model.head.weight, half["head.weight"].float(), rtol=0, atol=0)


def test_forcing_the_wrong_format_says_so():
    with pytest.raises(ValueError, match=r"none of the tensors .* fit the 'jax' layout"):
        load_checkpoint(small_model().state_dict(), format="jax")
