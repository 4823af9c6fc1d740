"""Bad input raises a clear ValueError/TypeError that names the parameter, the value and the fix."""

import pytest
import torch

from vit_edu import ViT, ViTConfig, patchify, preset

BASE = dict(image_size=32, patch_size=8, num_classes=10, dim=32, depth=1, heads=4, mlp_dim=64)


def build(**changes):
    return ViT(**{**BASE, **changes})


@pytest.mark.parametrize(
    "changes, error, pattern",
    [
        (dict(image_size=30), ValueError, r"image_size 30x30 is not divisible by patch_size 8x8.*\(e\.g\. 24x24\)"),
        (dict(image_size=(32, 36)), ValueError, r"image_size 32x36 is not divisible by patch_size 8x8.*32x32"),
        (dict(dim=30, heads=4), ValueError, r"dim \(30\) is not divisible by heads \(4\).*dim_head"),
        (dict(dim=0), ValueError, r"dim must be a positive integer, got 0"),
        (dict(depth=-1), ValueError, r"depth must be a positive integer, got -1"),
        (dict(heads=0), ValueError, r"heads must be a positive integer"),
        (dict(mlp_dim=0), ValueError, r"mlp_dim must be a positive integer"),
        (dict(channels=0), ValueError, r"channels must be a positive integer"),
        (dict(patch_size=0), ValueError, r"patch_size must be positive"),
        (dict(image_size=-32), ValueError, r"image_size must be positive"),
        (dict(num_classes=-1), ValueError, r"num_classes must be >= 0"),
        (dict(dim_head=0), ValueError, r"dim_head must be a positive integer or None"),
        (dict(dropout=1.0), ValueError, r"dropout must be in \[0, 1\), got 1.0"),
        (dict(emb_dropout=-0.1), ValueError, r"emb_dropout must be in \[0, 1\)"),
        (dict(attention_dropout=2), ValueError, r"attention_dropout must be in \[0, 1\)"),
        (dict(pool="max"), ValueError, r"pool must be one of \('cls', 'mean'\), got 'max'"),
        (dict(dim=32.0), TypeError, r"dim must be an int"),
        (dict(image_size="32"), TypeError, r"image_size must be an int or a \(height, width\) tuple"),
        (dict(patch_size=(8, 8, 8)), TypeError, r"patch_size must be an int or a \(height, width\) tuple"),
        (dict(dropout="0.1"), TypeError, r"dropout must be a float"),
    ],
)
def test_bad_configuration(changes, error, pattern):
    with pytest.raises(error, match=pattern):
        build(**changes)


def test_non_divisible_dim_is_fine_with_dim_head():
    assert build(dim=30, heads=4, dim_head=8).config.inner_dim == 32


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown preset 'B/8'.*Ti/16, S/16, B/16, B/32, L/16, H/14"):
        preset("B/8")
    assert preset("ViT-B/16") == preset("vit_b_16") == preset("b/16")


@pytest.mark.parametrize(
    "images, error, pattern",
    [
        (torch.randn(3, 32, 32), ValueError, r"4-D \(B, C, H, W\), got shape \(3, 32, 32\).*unsqueeze\(0\)"),
        (torch.randn(1, 1, 3, 32, 32), ValueError, r"4-D"),
        (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), TypeError, r"floating point, got dtype torch.uint8.*/ 255"),
        (torch.randn(1, 1, 32, 32), ValueError, r"1 channels but the model expects channels=3"),
        (torch.randn(1, 3, 64, 64), ValueError,
         r"64x64 but the model was built for image_size 32x32.*resample_position_embeddings"),
        ([[0.0]], TypeError, r"must be a torch.Tensor"),
    ],
)
def test_bad_forward_input(images, error, pattern):
    model = build()
    with pytest.raises(error, match=pattern):
        model(images)
    with pytest.raises(error, match=pattern):
        model(images, return_attention=True)


def test_patchify_errors():
    with pytest.raises(ValueError, match=r"30x32 is not divisible by patch_size 8x8.*24x32"):
        patchify(torch.randn(1, 3, 30, 32), 8)
    with pytest.raises(ValueError, match=r"4-D \(B, C, H, W\).*unsqueeze"):
        patchify(torch.randn(3, 32, 32), 8)


def test_config_is_frozen():
    cfg = ViTConfig()
    with pytest.raises(AttributeError):
        cfg.dim = 3
    assert cfg.replace(dim=384, heads=6).dim == 384
