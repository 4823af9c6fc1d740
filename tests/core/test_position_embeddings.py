"""The kinds of position embedding (paper Appendix D.4): counts, tables, symmetry, resampling, checkpoints.

References are independent of the code under test: parameter counts derived by hand from the
symbols, the sine-cosine table written out with ``math.sin``/``math.cos`` (big_vision's formula),
a hand-made patch permutation, and 2-D interpolation of the full table for the per-axis resampling.
"""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest
import torch
from einops import rearrange

from vit_edu import ViT, ViTConfig, count_parameters, parameter_breakdown, resample_position_embeddings
from vit_edu.checkpoints import load_checkpoint, read_checkpoint_metadata, save_checkpoint, to_jax_arrays
from vit_edu.checkpoints.layouts import to_transformers, to_transformers_state_dict, transformers_config
from vit_edu.config import POSITION_EMBEDDING_CHOICES

# a non-square grid, so that rows and columns cannot be confused: h = 16 / 4 = 4 rows, w = 24 / 4 = 6 columns
SMALL = dict(image_size=(16, 24), patch_size=4, num_classes=5, dim=32, depth=2, heads=4, mlp_dim=64)
H, W = 4, 6


def small(kind: str, seed: int = 0, **changes) -> ViT:
    return ViT(**{**SMALL, **changes}, position_embedding=kind, seed=seed).eval()


def images(batch: int = 2, size=(16, 24), seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ configuration
def test_default_is_the_papers_learned_1d_table():
    assert ViTConfig().position_embedding == "learned"
    assert POSITION_EMBEDDING_CHOICES == ("learned", "learned_2d", "sincos_2d", "none")
    model = ViT(**SMALL, seed=0)
    assert model.pos_embed.shape == (1, H * W + 1, 32)
    assert model.position_embeddings() is model.pos_embed  # the parameter itself, in the autograd graph


@pytest.mark.parametrize(("kind", "dim", "heads", "multiple"), [("learned_2d", 33, 3, 2), ("sincos_2d", 34, 2, 4),
                                                               ("sincos_2d", 30, 3, 4)])
def test_a_width_the_kind_cannot_split_is_refused(kind, dim, heads, multiple):
    with pytest.raises(ValueError, match=rf"position_embedding='{kind}'.*multiple of {multiple}, got dim={dim}"):
        ViTConfig(**{**SMALL, "dim": dim, "heads": heads}, position_embedding=kind)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match=r"position_embedding must be one of .*'learned_2d'.*got 'relative'"):
        ViTConfig(**SMALL, position_embedding="relative")


# ------------------------------------------------------------------ parameter counts
def test_parameter_counts_of_each_kind_against_the_hand_derived_formula():
    D, M, L, K, P, C = 32, 64, 2, 5, 4, 3
    N = H * W
    per_block = (4 * D * D + 4 * D) + (2 * D * M + M + D) + 4 * D  # attention, MLP, two LayerNorms
    everything_else = (P * P * C * D + D) + D + L * per_block + 2 * D + (D * K + K)  # patches, class token, ..., head
    positions = {"learned": (N + 1) * D,  # one D-vector per token, class token included
                 "learned_2d": D + W * (D // 2) + H * (D // 2),  # class token's vector, columns, rows
                 "sincos_2d": 0, "none": 0}
    for kind, expected in positions.items():
        model = small(kind)
        counted = sum(p.numel() for p in model.parameters())
        assert counted == model.num_parameters() == everything_else + expected, kind
        assert count_parameters(model.config) == everything_else + expected, kind
        assert parameter_breakdown(model.config)["position_embeddings"] == expected, kind


@pytest.mark.parametrize("kind", POSITION_EMBEDDING_CHOICES)
@pytest.mark.parametrize("shape", [dict(image_size=32, patch_size=8, dim=48, heads=3, mlp_dim=96),
                                   dict(image_size=(8, 40), patch_size=(4, 8), dim=16, heads=2, mlp_dim=8,
                                        channels=1, num_classes=0)])
def test_closed_form_equals_counted_for_other_shapes(kind, shape):
    config = ViTConfig(**{**dict(num_classes=3, depth=1), **shape}, position_embedding=kind)
    with torch.device("meta"):
        model = ViT(config)
    assert count_parameters(config) == sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ the tables
def test_sincos_table_matches_the_formula_written_out():
    model = small("sincos_2d")
    table = model.position_embeddings()  # (1, N + 1, D)
    D, quarter = 32, 8
    assert table.shape == (1, H * W + 1, D)
    assert torch.count_nonzero(table[0, 0]) == 0  # the class token gets no position
    for row in range(H):
        for col in range(W):
            frequencies = [10_000.0 ** (-k / (quarter - 1)) for k in range(quarter)]
            expected = ([math.sin(col * f) for f in frequencies] + [math.cos(col * f) for f in frequencies]
                        + [math.sin(row * f) for f in frequencies] + [math.cos(row * f) for f in frequencies])
            got = table[0, 1 + row * W + col]
            torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float32), rtol=0, atol=1e-6)
    assert not any(p.requires_grad and "pos" in n for n, p in model.named_parameters())  # nothing learned


def test_sincos_embedding_is_what_the_model_adds():
    model = small("sincos_2d")
    x = images()
    with torch.no_grad():
        patches = model.patch_embed(x)  # (B, N, D)
        without = torch.cat([model.cls_token.expand(2, -1, -1), patches], dim=1)
        torch.testing.assert_close(model.embed(x) - without, model.position_embeddings().expand(2, -1, -1))


def test_learned_2d_shares_the_row_half_along_a_row_and_the_column_half_down_a_column():
    model = small("learned_2d")
    half = 16
    assert model.pos_embed_row.shape == (1, H, half) and model.pos_embed_col.shape == (1, W, half)
    grid = rearrange(model.position_embeddings()[0, 1:].detach(), "(h w) d -> h w d", h=H)  # (H, W, D)
    for row in range(H):
        for col in range(W):
            assert torch.equal(grid[row, col, half:], model.pos_embed_row[0, row].detach())
            assert torch.equal(grid[row, col, :half], model.pos_embed_col[0, col].detach())
    assert torch.equal(model.position_embeddings()[0, 0], model.pos_embed_cls[0, 0])
    # the tables are initialised like E_pos (std 0.02), so different rows really differ
    assert not torch.allclose(grid[0, 0, half:], grid[1, 0, half:])
    assert 0.01 < model.pos_embed_row.std().item() < 0.04


def test_learned_2d_tables_get_gradients():
    model = small("learned_2d").train()
    model(images()).sum().backward()
    for name in ("pos_embed_cls", "pos_embed_row", "pos_embed_col"):
        assert getattr(model, name).grad is not None and getattr(model, name).grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", ["learned_2d", "sincos_2d", "none"])
def test_kinds_without_a_1d_table_say_so_when_pos_embed_is_read(kind):
    model = small(kind)
    with pytest.raises(AttributeError, match=rf"position_embedding='{kind}'.*position_embeddings\(\)"):
        _ = model.pos_embed
    assert not hasattr(model, "pos_embed")
    with pytest.raises(AttributeError, match="no_such_thing"):  # other names keep torch's message
        _ = model.no_such_thing


# ------------------------------------------------------------------ no positions: a bag of patches
def _permute_patches(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """New patch i = old patch perm[i] (row-major), built with einops independently of vit_edu.patches."""
    patches = rearrange(x, "b c (h p) (w q) -> b (h w) c p q", p=4, q=4)
    return rearrange(patches[:, perm], "b (h w) c p q -> b c (h p) (w q)", h=H)


def test_none_is_permutation_equivariant_in_the_patch_tokens():
    model = small("none").double()
    learned = small("learned").double()
    x = images().double()
    perm = torch.randperm(H * W, generator=torch.Generator().manual_seed(0))
    shuffled = _permute_patches(x, perm)
    with torch.no_grad():
        out, out_shuffled = model.forward_features(x), model.forward_features(shuffled)
        torch.testing.assert_close(out_shuffled[:, 1:], out[:, 1:, :][:, perm], rtol=0, atol=1e-12)
        torch.testing.assert_close(out_shuffled[:, 0], out[:, 0], rtol=0, atol=1e-12)  # class token: invariant
        # with positions the same shuffle changes the outputs: the test can tell the two apart
        change = (learned.forward_features(shuffled)[:, 1:] - learned.forward_features(x)[:, 1:][:, perm]).abs().max()
    assert change > 1e-3


# ------------------------------------------------------------------ a new image size
@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_learned_2d_resampling_per_axis_equals_2d_interpolation_of_the_whole_table(mode):
    model = small("learned_2d")
    before = model.position_embeddings().detach().clone()
    model.resample_position_embeddings((24, 20), mode=mode)  # grid 4 x 6 -> 6 x 5
    assert model.config.grid_size == (6, 5)
    assert model.pos_embed_row.shape == (1, 6, 16) and model.pos_embed_col.shape == (1, 5, 16)
    expected = resample_position_embeddings(before, (H, W), (6, 5), mode=mode)
    torch.testing.assert_close(model.position_embeddings().detach(), expected, rtol=0, atol=1e-6)
    assert model(images(size=(24, 20))).shape == (2, 5)


def test_sincos_resampling_recomputes_and_none_has_nothing_to_adapt():
    sincos = small("sincos_2d").resample_position_embeddings(32)
    fresh = ViT(**{**SMALL, "image_size": 32}, position_embedding="sincos_2d", seed=0)
    assert torch.equal(sincos.position_embeddings(), fresh.position_embeddings())
    none = small("none")
    x = images(size=(28, 28))
    resized = ViT(**{**SMALL, "image_size": 28}, position_embedding="none", seed=5).eval()
    resized.load_state_dict(none.state_dict())  # the same weights fit every size
    none.resample_position_embeddings(28)
    assert none.config.image_size == (28, 28)
    with torch.no_grad():
        assert torch.equal(none(x), resized(x))
    with pytest.raises(ValueError, match="mode must be one of"):
        small("none").resample_position_embeddings(28, mode="nearest")


# ------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("kind", ["learned_2d", "sincos_2d", "none"])
def test_save_load_round_trip_of_each_kind(tmp_path, kind):
    model = small(kind, seed=3)
    path = save_checkpoint(model, tmp_path / f"{kind}.safetensors")
    assert json.loads(read_checkpoint_metadata(path)["vit_edu_config"])["position_embedding"] == kind
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    x = images()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_loading_at_another_size_resamples_every_kind(tmp_path):
    for kind in ("learned_2d", "sincos_2d"):
        model = small(kind, seed=3)
        path = save_checkpoint(model, tmp_path / f"{kind}.safetensors")
        loaded = load_checkpoint(path, image_size=(20, 28))
        expected = model.resample_position_embeddings((20, 28)).position_embeddings()
        torch.testing.assert_close(loaded.position_embeddings(), expected, rtol=0, atol=0)


def test_a_checkpoint_whose_tables_do_not_fit_its_declared_size_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    model = small("learned_2d")
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    metadata = read_checkpoint_metadata(path)
    tensors = load_file(path)
    tensors["pos_embed_row"] = tensors["pos_embed_row"][:, :3]  # 3 rows, but the config says 16 px / 4 = 4
    save_file(tensors, tmp_path / "bad.safetensors", metadata=metadata)
    with pytest.raises(ValueError, match="do not cover such an image"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_a_checkpoint_written_before_the_option_loads_as_learned(tmp_path):
    from safetensors.torch import load_file, save_file

    model = small("learned", seed=2)
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    metadata = read_checkpoint_metadata(path)
    config = json.loads(metadata["vit_edu_config"])
    del config["position_embedding"]  # what an older vit_edu wrote
    old = tmp_path / "old.safetensors"
    save_file(load_file(path), old, metadata={**metadata, "vit_edu_config": json.dumps(config)})
    loaded = load_checkpoint(old)
    assert loaded.config.position_embedding == "learned" and loaded.config == model.config
    x = images()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_the_committed_course_checkpoint_predates_the_option_and_loads_as_learned():
    path = resources.files("vit_edu") / "assets" / "digits_vit.safetensors"
    config = json.loads(read_checkpoint_metadata(path)["vit_edu_config"])
    assert "position_embedding" not in config  # written before the option existed
    model = load_checkpoint(path)
    assert model.config.position_embedding == "learned"
    assert model.pos_embed.shape == (1, model.config.seq_len, model.config.dim)


@pytest.mark.parametrize("kind", ["learned_2d", "sincos_2d", "none"])
def test_the_jax_layout_refuses_kinds_it_cannot_hold(kind):
    with pytest.raises(ValueError, match=rf"position_embedding={kind!r} has no counterpart"):
        to_jax_arrays(small(kind))
    if kind == "learned_2d":  # renaming alone also names the tables it cannot place
        with pytest.raises(ValueError, match=r"no transformers name for parameter 'pos_embed_cls'.*learned"):
            to_transformers_state_dict(small(kind).state_dict())


@pytest.mark.slow  # imports transformers
@pytest.mark.parametrize("kind", ["learned_2d", "sincos_2d", "none"])
def test_the_transformers_conversion_refuses_kinds_it_cannot_hold(kind):
    model = small(kind)
    with pytest.raises(ValueError, match=rf"position_embedding={kind!r} has no counterpart"):
        transformers_config(model.config)
    with pytest.raises(ValueError, match=rf"position_embedding={kind!r} has no counterpart"):
        to_transformers(model)


def test_a_bare_state_dict_without_positions_needs_the_image_size(tmp_path):
    model = small("none", seed=4)
    state = model.state_dict()  # timm-style: no config travels with it
    with pytest.raises(ValueError, match=r"position_embedding='none', which holds no table.*image_size=\(H, W\)"):
        load_checkpoint(state, heads=4, position_embedding="none")
    loaded = load_checkpoint(state, heads=4, position_embedding="none", image_size=(16, 24))
    assert loaded.config == model.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(images()), model(images()), rtol=0, atol=0)
    two_d = small("learned_2d", seed=4)  # its tables tell the grid: 4 rows and 6 columns of 4 px patches
    assert load_checkpoint(two_d.state_dict(), heads=4, position_embedding="learned_2d").config == two_d.config
