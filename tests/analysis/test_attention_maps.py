"""Attention maps and their metrics against hand-computed cases and direct numpy formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vit_edu import ViT
from vit_edu.analysis.attention_maps import (
    attention_rollout,
    class_token_map,
    cls_attention,
    gradient_weighted_attention,
    gradient_weighted_relevance,
    mean_attention_distance,
    query_attention,
    upsample_map,
)
from vit_edu.analysis.attention_metrics import (
    chance_level,
    deletion_auc,
    deletion_curve,
    energy_pointing,
    mask_to_patch_mask,
    pointing_game,
    random_maps,
)


def one_hot_attention(targets: list[int], cls_weight: float = 0.0) -> torch.Tensor:
    """(1, 1, T, T): the class token attends to itself; patch p puts 1 - cls_weight on patch targets[p]."""
    tokens = len(targets) + 1
    a = torch.zeros(1, 1, tokens, tokens, dtype=torch.float64)
    a[0, 0, 0, 0] = 1.0
    for p, t in enumerate(targets):
        a[0, 0, p + 1, 0] = cls_weight
        a[0, 0, p + 1, t + 1] = 1.0 - cls_weight
    return a


def _rows(shape, seed: int) -> torch.Tensor:
    """Random row-stochastic float64 matrices."""
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.01
    return x / x.sum(dim=-1, keepdim=True)


# --------------------------------------------------------------------------- validation
def test_invalid_inputs_give_clear_errors():
    a = [torch.full((1, 2, 5, 5), 0.2)] * 3
    with pytest.raises(ValueError, match="empty"):
        attention_rollout([])
    with pytest.raises(TypeError, match="list of per-layer"):
        attention_rollout(a[0])
    with pytest.raises(ValueError, match=r"\(B, heads, T, T\)"):
        cls_attention([torch.ones(2, 5, 5)], 0)
    with pytest.raises(ValueError, match="attentions\\[1\\] has shape"):
        attention_rollout([a[0], torch.full((1, 2, 4, 4), 0.25)])
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.2"):
        cls_attention(a, layer=3)
    with pytest.raises(ValueError, match=r"head must be in 0\.\.1"):
        cls_attention(a, layer=0, head=2)
    with pytest.raises(ValueError, match="'mean'"):
        cls_attention(a, layer=0, head="max")
    with pytest.raises(ValueError, match=r"query_index must be in 0\.\.4"):
        query_attention(a, 0, 0, query_index=5)
    with pytest.raises(ValueError, match="head_fusion"):
        attention_rollout(a, head_fusion="median")
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="discard_ratio"):
            attention_rollout(a, discard_ratio=bad)
    with pytest.raises(ValueError, match="grid_size"):
        mean_attention_distance(a, grid_size=3, patch_size=4)
    with pytest.raises(ValueError, match="mode"):
        upsample_map(torch.ones(1, 4), 2, 8, mode="cubic")
    with pytest.raises(ValueError, match="N = 3x3"):
        upsample_map(torch.ones(1, 4), 3, 9)
    with pytest.raises(ValueError, match="patch resolution"):
        pointing_game(torch.ones(1, 4), torch.ones(1, 16, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask_to_patch_mask"):
        energy_pointing(torch.ones(1, 4), torch.ones(1, 4))
    with pytest.raises(ValueError, match="whole 2x2 patches"):
        mask_to_patch_mask(torch.ones(5, 4, dtype=torch.bool), 2)


# ------------------------------------------------------------------- per-layer maps
def test_uniform_attention_gives_uniform_maps():
    tokens = 10
    a = [torch.full((2, 3, tokens, tokens), 1.0 / tokens)] * 2
    for head in (0, 2, "mean"):
        torch.testing.assert_close(cls_attention(a, layer=-1, head=head), torch.full((2, 9), 0.1))


def test_cls_and_query_attention_pick_layer_head_and_row():
    a = [_rows((2, 3, 5, 5), seed) for seed in (1, 2)]
    torch.testing.assert_close(cls_attention(a, 1, 2), a[1][:, 2, 0, 1:])
    mean_of_heads = (a[0][:, 0, 0, 1:] + a[0][:, 1, 0, 1:] + a[0][:, 2, 0, 1:]) / 3
    torch.testing.assert_close(cls_attention(a, -2, "mean"), mean_of_heads)
    torch.testing.assert_close(query_attention(a, 0, 1, query_index=3), a[0][:, 1, 3, 1:])
    rollout = attention_rollout(a)
    torch.testing.assert_close(class_token_map(rollout), rollout[:, 0, 1:])
    torch.testing.assert_close(class_token_map(rollout, query_index=-1), rollout[:, 4, 1:])
    with pytest.raises(ValueError, match=r"\(B, T, T\)"):
        class_token_map(rollout[0])


def test_upsample_map_nearest_and_bilinear():
    maps = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    expected = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], dtype=torch.float32)
    torch.testing.assert_close(upsample_map(maps, 2, 4), expected[None])
    torch.testing.assert_close(upsample_map(maps[0], (2, 2), (4, 4)), expected)
    smooth = upsample_map(maps, 2, 8, mode="bilinear")
    assert smooth.shape == (1, 8, 8)
    assert smooth[0, 0, 0] == 1.0 and smooth[0, 7, 7] == 4.0 and 1.0 < smooth[0, 3, 3] < 4.0
    flat = upsample_map(torch.full((1, 9), 0.3), 3, 12, mode="bilinear")
    torch.testing.assert_close(flat, torch.full((1, 12, 12), 0.3))


# -------------------------------------------------------------------------- rollout
def test_identity_attention_rolls_out_to_identity():
    a = [torch.eye(6).expand(2, 3, 6, 6)] * 4
    for fusion in ("mean", "max", "min"):
        for ratio in (0.0, 0.5, 0.9):
            torch.testing.assert_close(attention_rollout(a, fusion, ratio), torch.eye(6).expand(2, 6, 6))


def test_uniform_attention_rollout_closed_form():
    # A = J/T is a projection P, so A_hat = (P + I)/2 = P + (I - P)/2 and A_hat^L = P + (I - P)/2^L.
    tokens, layers = 5, 3
    a = [torch.full((1, 2, tokens, tokens), 1.0 / tokens, dtype=torch.float64)] * layers
    p = torch.full((tokens, tokens), 1.0 / tokens, dtype=torch.float64)
    expected = p + (torch.eye(tokens, dtype=torch.float64) - p) / 2**layers
    rollout = attention_rollout(a)
    torch.testing.assert_close(rollout[0], expected)
    patch_value = (1 - 2.0**-layers) / tokens
    torch.testing.assert_close(class_token_map(rollout), torch.full((1, 4), patch_value, dtype=torch.float64))


def test_discard_ratio_on_a_hand_example():
    a = torch.tensor([[0.05, 0.40, 0.35, 0.20],  # class weight is the smallest but is kept; 0.20 goes
                      [0.30, 0.10, 0.45, 0.15],  # 0.10 (its own patch) goes
                      [0.10, 0.50, 0.15, 0.25],
                      [0.25, 0.30, 0.35, 0.10]], dtype=torch.float64)[None, None]
    # N = 3 patches, ratio 0.5 -> floor(1.5) = 1 weight per row is zeroed, then + I, then rows renormalised.
    kept = torch.tensor([[0.05, 0.40, 0.35, 0.00],
                         [0.30, 0.00, 0.45, 0.15],
                         [0.10, 0.50, 0.00, 0.25],
                         [0.25, 0.30, 0.35, 0.00]], dtype=torch.float64) + torch.eye(4, dtype=torch.float64)
    expected = kept / torch.tensor([1.80, 1.90, 1.85, 1.90], dtype=torch.float64)[:, None]
    torch.testing.assert_close(attention_rollout([a], discard_ratio=0.5)[0], expected)
    # ratio 0.7 -> floor(2.1) = 2 per row; the first row keeps only the class token and patch 0.
    first_row = torch.tensor([1.05, 0.40, 0.0, 0.0], dtype=torch.float64) / 1.45
    torch.testing.assert_close(attention_rollout([a], discard_ratio=0.7)[0, 0], first_row)


def numpy_rollout(attentions, fusion: str, ratio: float) -> np.ndarray:
    layers = [a.numpy() for a in attentions]
    batch, _, tokens, _ = layers[0].shape
    n_drop = int(np.floor(ratio * (tokens - 1) + 1e-9))
    out = np.zeros((batch, tokens, tokens))
    for b in range(batch):
        r = np.eye(tokens)
        for layer in layers:
            fused = {"mean": np.mean, "max": np.max, "min": np.min}[fusion](layer[b], axis=0).copy()
            for row in range(tokens):
                smallest = np.argsort(fused[row, 1:], kind="stable")[:n_drop]
                fused[row, 1 + smallest] = 0.0
            a_hat = fused + np.eye(tokens)
            a_hat /= a_hat.sum(axis=1, keepdims=True)
            r = a_hat @ r
        out[b] = r
    return out


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.9])
def test_rollout_matches_numpy(fusion, ratio):
    a = [_rows((2, 3, 7, 7), seed) for seed in range(4)]
    rollout = attention_rollout(a, fusion, ratio)
    np.testing.assert_allclose(rollout.numpy(), numpy_rollout(a, fusion, ratio), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2, 7, dtype=torch.float64))


# ---------------------------------------------------------------- gradient-weighted
def test_gradient_weighted_relevance_hand_case():
    a = torch.tensor([[0.5, 0.5], [0.2, 0.8]], dtype=torch.float64)[None, None]
    g = torch.tensor([[1.0, -2.0], [3.0, 0.0]], dtype=torch.float64)[None, None]
    # (g * A)^+ = [[0.5, 0], [0.6, 0]];  R = I + that.
    first = torch.tensor([[1.5, 0.0], [0.6, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(gradient_weighted_relevance([a], [g])[0], first)
    # second layer: R2 = R1 + cam2 R1 with two heads averaged.
    a2 = torch.stack([a[0, 0], torch.tensor([[0.9, 0.1], [0.4, 0.6]], dtype=torch.float64)])[None]
    g2 = torch.stack([torch.ones(2, 2, dtype=torch.float64), -torch.ones(2, 2, dtype=torch.float64)])[None]
    cam2 = a[0, 0] / 2  # head 0: A * 1 >= 0, head 1: -A clipped to 0
    two_heads, two_grads = torch.cat([a, a], dim=1), torch.cat([g, g], dim=1)  # same heads: same mean
    torch.testing.assert_close(gradient_weighted_relevance([two_heads, a2], [two_grads, g2])[0], first + cam2 @ first)
    with pytest.raises(ValueError, match="gradients must match"):
        gradient_weighted_relevance([two_heads, a2], [two_grads])


class OnePatchModel(nn.Module):
    """Rows of A = softmax(pixel values); logit_0 = A[0, 0, 0, 3] (token 3 = patch 2), logit_1 = -logit_0."""

    def forward(self, images, return_attention=False):
        x = images.flatten(1)  # (B, T)
        a = x.softmax(-1)[:, None, None, :].expand(-1, 1, x.shape[1], -1)  # (B, 1, T, T)
        logit = a[:, 0, 0, 3]
        logits = torch.stack([logit, -logit], dim=1)  # (B, 2)
        return (logits, [a]) if return_attention else logits


def test_gradient_method_on_a_hand_checkable_model():
    images = torch.tensor([[0.0, 0.3, -0.2, 0.1, 0.5], [1.0, 0.0, 0.0, 0.0, 2.0]])[:, None, None, :]
    weights = images.flatten(1).softmax(-1)
    maps = class_token_map(gradient_weighted_attention(OnePatchModel(), images))  # predicted class 0
    expected = torch.zeros(2, 4)
    expected[:, 2] = weights[:, 3]  # d logit_0 / dA[0, 3] = 1, so (1 * A)^+ = A[0, 3]
    torch.testing.assert_close(maps, expected)
    zero = class_token_map(gradient_weighted_attention(OnePatchModel(), images, target_class=[1, 1]))
    torch.testing.assert_close(zero, torch.zeros(2, 4))  # gradient -1: clipped away
    with pytest.raises(ValueError, match=r"target_class must be in 0\.\.1"):
        gradient_weighted_attention(OnePatchModel(), images, target_class=2)
    with pytest.raises(ValueError, match="one per image"):
        gradient_weighted_attention(OnePatchModel(), images, target_class=[0, 1, 0])


def tiny_vit(depth: int, heads: int = 2) -> ViT:
    return ViT(image_size=12, patch_size=4, num_classes=2, dim=16, depth=depth, heads=heads, mlp_dim=32, seed=0)


def test_gradient_method_points_to_the_only_non_blank_patch_of_a_vit():
    # Biases and positions are zero, so blank patches embed to 0, LN(0) = 0 and their values v are 0:
    # dy/dA[0, j] = g . W_proj v_j vanishes for every blank j.  With head rows w_1 = -w_0 the two
    # classes have opposite gradients, so with one head exactly one of them keeps the lit patch after (.)^+.
    model = tiny_vit(depth=1, heads=1)
    with torch.no_grad():
        model.pos_embed.zero_()
        model.cls_token.normal_(generator=torch.Generator().manual_seed(1))
        model.head.weight[1] = -model.head.weight[0]
        model.head.bias.zero_()
    images = torch.zeros(1, 3, 12, 12)
    images[:, :, 4:8, 8:12] = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(2))  # patch 5
    m0 = class_token_map(gradient_weighted_attention(model, images, target_class=0))[0]
    m1 = class_token_map(gradient_weighted_attention(model, images, target_class=1))[0]
    assert m0[5] * m1[5] == 0 and m0[5] + m1[5] > 1e-6
    assert int((m0 + m1).argmax()) == 5
    blank = [i for i in range(9) if i != 5]
    assert torch.all((m0 + m1)[blank].abs() < 1e-12)


def test_gradient_method_on_a_deeper_vit_shape_mode_and_no_grad_side_effects():
    model = tiny_vit(depth=2).train()
    images = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    relevance = gradient_weighted_attention(model, images)
    assert relevance.shape == (3, 10, 10) and torch.isfinite(relevance).all() and not relevance.requires_grad
    assert torch.all(relevance >= 0) and torch.all(torch.diagonal(relevance, dim1=1, dim2=2) >= 1)
    assert model.training and all(p.grad is None for p in model.parameters())
    for p in model.parameters():  # frozen weights must still work (gradient flows via the images)
        p.requires_grad_(False)
    torch.testing.assert_close(gradient_weighted_attention(model, images), relevance)


# ------------------------------------------------------------- mean attention distance
def test_mean_attention_distance_one_hot_patterns():
    horizontal = one_hot_attention([1, 0, 3, 2])  # 2x2 grid: each patch looks at its row neighbour
    diagonal = one_hot_attention([3, 2, 1, 0], cls_weight=0.5)  # half on the class token: renormalised away
    itself = one_hot_attention([0, 1, 2, 3])
    layer0 = torch.cat([horizontal, diagonal], dim=1)  # (1, 2, 5, 5)
    layer1 = torch.cat([itself, horizontal], dim=1)
    got = mean_attention_distance([layer0, layer1], grid_size=2, patch_size=4)
    expected = torch.tensor([[4.0, 4.0 * math.sqrt(2)], [0.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(got, expected)
    # rectangular patches: columns are P_w = 3 apart, rows P_h = 2 apart
    vertical = one_hot_attention([2, 3, 0, 1])
    got = mean_attention_distance([torch.cat([horizontal, vertical], dim=1)], (2, 2), (2, 3))
    torch.testing.assert_close(got, torch.tensor([[3.0, 2.0]], dtype=torch.float64))
    # batch average: image 0 at distance 4, image 1 at distance 0
    batch = torch.cat([horizontal, itself], dim=0)
    torch.testing.assert_close(mean_attention_distance([batch], 2, 4), torch.tensor([[2.0]], dtype=torch.float64))


def test_mean_attention_distance_3x3_to_centre_and_uniform():
    to_centre = one_hot_attention([4] * 9)  # corners sqrt(2) P, edges P, centre 0
    got = mean_attention_distance([to_centre], 3, 2)
    torch.testing.assert_close(got, torch.tensor([[2.0 * (4 * math.sqrt(2) + 4) / 9]], dtype=torch.float64))
    uniform = torch.full((2, 1, 5, 5), 0.2, dtype=torch.float64)  # every patch: 0, P, P, sqrt(2) P
    got = mean_attention_distance([uniform], 2, 4)
    torch.testing.assert_close(got, torch.tensor([[4.0 * (2 + math.sqrt(2)) / 4]], dtype=torch.float64))


# --------------------------------------------------------------------------- metrics
def test_mask_to_patch_mask_any_pixel():
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[1, 3] = True  # in patch (0, 1)
    mask[3, 4] = True  # in patch (1, 2)
    expected = torch.tensor([False, True, False, False, False, True])
    assert torch.equal(mask_to_patch_mask(mask, 2), expected)
    assert torch.equal(mask_to_patch_mask(np.stack([mask.numpy()] * 2), 2), expected.expand(2, 6))
    assert torch.equal(chance_level(expected[None]), torch.tensor([2 / 6]))


def test_pointing_and_energy_on_hand_maps():
    masks = torch.tensor([[False, True, False, False], [True, False, True, False]])
    maps = torch.tensor([[0.1, 0.9, 0.2, 0.0], [0.5, 0.25, -1.0, 0.25]])
    torch.testing.assert_close(pointing_game(maps, masks), torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(pointing_game(-maps, masks), torch.tensor([0.0, 1.0]))  # row 1: top is -(-1) on patch 2
    torch.testing.assert_close(energy_pointing(maps, masks), torch.tensor([0.9 / 1.2, 0.5 / 1.0]))
    constant = torch.full((2, 4), 0.3)  # a map that knows nothing scores exactly chance on both metrics
    torch.testing.assert_close(pointing_game(constant, masks), chance_level(masks))
    torch.testing.assert_close(energy_pointing(constant, masks), chance_level(masks))
    assert torch.isnan(energy_pointing(-torch.ones(1, 4), masks[:1])).all()


class PatchLogitModel(nn.Module):
    """logit_0 = 10 * mean pixel of patch 2 (of a 2x2 grid of 2x2 patches), logit_1 = 0."""

    def forward(self, images):
        patch = images[:, :, 2:4, 0:2].mean(dim=(1, 2, 3))
        return torch.stack([10 * patch, torch.zeros_like(patch)], dim=1)


def test_deletion_auc_prefers_the_map_that_finds_the_important_patch():
    model, images = PatchLogitModel(), torch.ones(1, 1, 4, 4)
    good = torch.tensor([[0.1, 0.2, 0.9, 0.3]])  # patch 2 first
    bad = -good  # patch 2 last
    s, h = 1 / (1 + math.exp(-10)), 0.5  # p(class 0) with patch 2 intact / removed
    fractions, probs = deletion_curve(model, images, good, patch_size=2)
    torch.testing.assert_close(fractions, torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float64))
    torch.testing.assert_close(probs, torch.tensor([[s, h, h, h, h]]))
    auc_good = deletion_auc(model, images, good, patch_size=2)
    auc_bad = deletion_auc(model, images, bad, patch_size=2)
    torch.testing.assert_close(auc_good, torch.tensor([0.25 * ((s + h) / 2 + 3 * h)]))
    torch.testing.assert_close(auc_bad, torch.tensor([0.25 * (3 * s + (s + h) / 2)]))
    assert auc_good < auc_bad
    _, coarse = deletion_curve(model, images, bad, patch_size=2, steps=2, baseline=1.0)  # baseline = the image
    torch.testing.assert_close(coarse, torch.full((1, 3), s))
    with pytest.raises(ValueError, match="steps"):
        deletion_curve(model, images, good, patch_size=2, steps=5)
    with pytest.raises(ValueError, match=r"\(B, N\) = \(1, 4\)"):
        deletion_curve(model, images, torch.ones(1, 16), patch_size=2)


def test_deletion_curve_end_points_on_a_vit():
    model = tiny_vit(depth=2).train()
    images = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(3))
    _, probs = deletion_curve(model, images, random_maps(2, 9, seed=0), steps=3, baseline=0.5)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        intact = model(images).softmax(-1)
        target = intact.argmax(-1)
        blank = model(torch.full_like(images, 0.5)).softmax(-1)
    torch.testing.assert_close(probs[:, 0], intact.max(-1).values)
    torch.testing.assert_close(probs[:, -1], blank[torch.arange(2), target])
    assert torch.equal(random_maps(2, 9, seed=0), random_maps(2, 9, seed=0))
