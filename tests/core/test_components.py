"""Unit and reference tests of each component: shapes, and equality with independent references."""

import math

import pytest
import torch
import torch.nn.functional as F

from vit_edu import (
    MLP,
    ClassTokenAndPositions,
    EncoderBlock,
    MultiHeadSelfAttention,
    PatchEmbedding,
    attention,
    patchify,
    resample_position_embeddings,
    unpatchify,
)
from vit_edu.patches import conv_weight_from_linear, linear_weight_from_conv


def test_patchify_shape_and_content_by_hand():
    images = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    patches = patchify(images, 2)
    assert patches.shape == (2, 6, 12)  # N = (4/2)(6/2) = 6, P^2 C = 12
    # patch 4 is grid row 1, column 1: pixels rows 2-3, columns 2-3, values in (p1 p2 c) order
    expected = torch.stack([images[1, :, r, c] for r in (2, 3) for c in (2, 3)]).reshape(-1)
    assert torch.equal(patches[1, 4], expected)


def test_patchify_rectangular_patches_and_roundtrip():
    images = torch.randn(3, 2, 12, 20)
    patches = patchify(images, (4, 5))
    assert patches.shape == (3, 12, 40)
    assert torch.equal(unpatchify(patches, (4, 5), (3, 4), channels=2), images)


def test_unpatchify_rejects_wrong_shape():
    with pytest.raises(ValueError, match="patches must have shape"):
        unpatchify(torch.randn(1, 5, 48), 4, 2)


@pytest.mark.parametrize("patch", [2, (2, 4)])
def test_linear_and_conv_patch_embedding_are_the_same_map(patch):
    conv = PatchEmbedding(patch, channels=3, dim=16, form="conv")
    linear = PatchEmbedding(patch, channels=3, dim=16, form="linear")
    with torch.no_grad():
        linear.proj.weight.copy_(linear_weight_from_conv(conv.proj.weight))
        linear.proj.bias.copy_(conv.proj.bias)
    images = torch.randn(2, 3, 8, 8)
    out_conv, out_linear = conv(images), linear(images)
    assert out_conv.shape == (2, 16 if patch == 2 else 8, 16)
    torch.testing.assert_close(out_conv, out_linear, atol=1e-5, rtol=1e-5)
    assert torch.equal(conv_weight_from_linear(linear.proj.weight, patch, 3), conv.proj.weight)
    # independent reference: the Linear applied to hand-cut patches
    reference = patchify(images, patch) @ linear.proj.weight.T + linear.proj.bias
    torch.testing.assert_close(out_linear, reference)


@pytest.mark.parametrize("form", ["conv", "linear"])
@pytest.mark.parametrize("mean, std", [((0.5,), (0.5,)), ((0.4, 0.5, 0.6), (0.2, 0.3, 0.25))])
def test_folding_input_normalization_into_the_patch_embedding(form, mean, std):
    embed = PatchEmbedding((2, 4), channels=3, dim=16, form=form)
    with torch.no_grad():
        embed.proj.bias.normal_()
    images = torch.rand(2, 3, 8, 8)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    expected = embed((images - m) / s)  # the embedding of normalised images ...
    assert embed.fold_input_normalization(mean if len(mean) > 1 else mean[0], std if len(std) > 1 else std[0]) is embed
    torch.testing.assert_close(embed(images), expected, atol=1e-5, rtol=1e-5)  # ... now from the raw ones


def test_fold_input_normalization_rejects_bad_statistics():
    embed = PatchEmbedding(4, channels=3, dim=8)
    with pytest.raises(ValueError, match="std must be > 0"):
        embed.fold_input_normalization(0.5, 0.0)
    with pytest.raises(ValueError, match="mean must be one number or 3"):
        embed.fold_input_normalization((0.5, 0.5), 0.5)


def test_class_token_and_positions():
    module = ClassTokenAndPositions(num_patches=4, dim=3)
    with torch.no_grad():
        module.cls_token.fill_(7.0)
        module.pos_embed.copy_(torch.arange(15.0).reshape(1, 5, 3))
    out = module(torch.zeros(2, 4, 3))
    assert out.shape == (2, 5, 3)
    assert torch.equal(out[:, 0], torch.tensor([[7.0, 8.0, 9.0]] * 2))
    assert torch.equal(out[1, 1:], torch.arange(3.0, 15.0).reshape(4, 3))


def test_attention_matches_sdpa_and_rows_sum_to_one():
    q, k, v = (torch.randn(2, 3, 5, 8) for _ in range(3))
    out, weights = attention(q, k, v)
    assert out.shape == (2, 3, 5, 8) and weights.shape == (2, 3, 5, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    # by hand for one row
    scores = (q[0, 0, 0] * k[0, 0]).sum(-1) / math.sqrt(8)
    torch.testing.assert_close(weights[0, 0, 0], scores.softmax(-1))


@pytest.mark.parametrize("heads,batch", [(1, 1), (2, 3), (4, 2), (8, 1)])
def test_manual_and_fused_multi_head_attention_agree(heads, batch):
    msa = MultiHeadSelfAttention(dim=32, heads=heads, head_dim=32 // heads).eval()
    x = torch.randn(batch, 10, 32)
    fused = msa(x)
    manual, weights = msa(x, return_attention=True)
    assert weights.shape == (batch, heads, 10, 10)
    assert (fused - manual).abs().max() <= 1e-5
    msa.fused_attn = False
    assert (msa(x) - fused).abs().max() <= 1e-5


def test_multi_head_attention_matches_torch_multihead_attention():
    """Independent reference: torch.nn.MultiheadAttention with the same weights."""
    msa = MultiHeadSelfAttention(dim=24, heads=3, head_dim=8).eval()
    reference = torch.nn.MultiheadAttention(24, 3, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(msa.qkv.weight)
        reference.in_proj_bias.copy_(msa.qkv.bias)
        reference.out_proj.weight.copy_(msa.proj.weight)
        reference.out_proj.bias.copy_(msa.proj.bias)
    x = torch.randn(2, 7, 24)
    expected, expected_weights = reference(x, x, x, average_attn_weights=False)
    out, weights = msa(x, return_attention=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=1e-5)


def test_mlp_is_fc_gelu_fc():
    mlp = MLP(dim=6, mlp_dim=12).eval()
    x = torch.randn(2, 3, 6)
    hidden = x @ mlp.fc1.weight.T + mlp.fc1.bias
    exact_gelu = 0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))
    torch.testing.assert_close(mlp(x), exact_gelu @ mlp.fc2.weight.T + mlp.fc2.bias)


def test_encoder_block_is_pre_norm_with_residuals():
    block = EncoderBlock(dim=16, heads=2, head_dim=8, mlp_dim=32).eval()
    x = torch.randn(2, 5, 16)
    z_prime = x + block.attn(F.layer_norm(x, (16,), block.norm1.weight, block.norm1.bias, 1e-6))
    expected = z_prime + block.mlp(F.layer_norm(z_prime, (16,), block.norm2.weight, block.norm2.bias, 1e-6))
    out, weights = block(x, return_attention=True)
    torch.testing.assert_close(block(x), expected)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert weights.shape == (2, 2, 5, 5)


def test_resample_position_embeddings_keeps_class_token_and_interpolates():
    pos = torch.randn(1, 1 + 4 * 4, 8)
    new = resample_position_embeddings(pos, (4, 4), (6, 8), mode="bilinear")
    assert new.shape == (1, 1 + 48, 8)
    assert torch.equal(new[:, 0], pos[:, 0])
    # a constant field stays constant; a same-size call is a copy
    const = torch.ones(1, 17, 3)
    torch.testing.assert_close(resample_position_embeddings(const, 4, 8), torch.ones(1, 65, 3))
    same = resample_position_embeddings(pos, 4, 4)
    assert torch.equal(same, pos) and same.data_ptr() != pos.data_ptr()
    # reference: torch's interpolate on the grid laid out by hand
    grid = pos[0, 1:].reshape(4, 4, 8).permute(2, 0, 1)[None]
    ref = F.interpolate(grid, size=(6, 8), mode="bilinear", align_corners=False)[0].permute(1, 2, 0).reshape(48, 8)
    torch.testing.assert_close(new[0, 1:], ref)


def test_resample_position_embeddings_errors():
    with pytest.raises(ValueError, match="needs 17"):
        resample_position_embeddings(torch.randn(1, 10, 4), 4, 8)
    with pytest.raises(ValueError, match="mode"):
        resample_position_embeddings(torch.randn(1, 17, 4), 4, 8, mode="nearest")
