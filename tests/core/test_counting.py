"""Closed-form parameter counts and FLOPs against counted parameters and published numbers."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vit_edu import PRESET_NAMES, ViT, ViTConfig, count_flops, count_parameters, parameter_breakdown, preset

# timm's VisionTransformer at 224 px with 1000 classes (the same architecture as the paper's).
PUBLISHED = {
    "Ti/16": 5_717_416,
    "S/16": 22_050_664,
    "B/16": 86_567_656,
    "B/32": 88_224_232,
    "L/16": 304_326_632,
    "H/14": 632_045_800,
}


def counted(config: ViTConfig) -> int:
    """Parameters of an instantiated model, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        model = ViT.from_config(config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_formula_equals_published_and_counted(name):
    cfg = preset(name)
    assert count_parameters(cfg) == PUBLISHED[name]
    assert counted(cfg) == PUBLISHED[name]


def test_counted_on_cpu_equals_meta_for_a_real_model():
    cfg = preset("Ti/16", depth=2)
    assert ViT.from_config(cfg).num_parameters() == counted(cfg)


def test_breakdown_rows_match_module_parameters():
    cfg = ViTConfig(image_size=32, patch_size=4, num_classes=10, dim=48, depth=3, heads=4, mlp_dim=100)
    model = ViT.from_config(cfg)
    rows = parameter_breakdown(cfg)

    def size(prefix_filter):
        return sum(p.numel() for n, p in model.named_parameters() if prefix_filter(n))

    assert rows["patch_projection"] == size(lambda n: n.startswith("patch_embed."))
    assert rows["position_embeddings"] == model.pos_embed.numel()
    assert rows["attention"] == size(lambda n: ".attn." in n)
    assert rows["mlp"] == size(lambda n: ".mlp." in n)
    assert rows["block_norms"] == size(lambda n: ".norm1." in n or ".norm2." in n)
    assert rows["head"] == size(lambda n: n.startswith("head."))


def test_vit_pytorch_example_count():
    cfg = ViTConfig(image_size=256, patch_size=32, num_classes=1000, dim=1024, depth=6, heads=16, mlp_dim=2048)
    assert count_parameters(cfg) == 54_640_616


def test_flops_of_b16_match_the_published_17_6_gmacs():
    # timm / fvcore report 17.6 GMACs for ViT-B/16 at 224 px; a MAC is 2 FLOPs here.
    assert count_flops(preset("B/16")) / 2 == pytest.approx(17.58e9, rel=0.01)


def test_flops_by_hand_for_a_one_block_model():
    cfg = ViTConfig(image_size=8, patch_size=4, num_classes=3, dim=8, depth=1, heads=2, mlp_dim=16, channels=1)
    n, t, d, m = 4, 5, 8, 16
    by_hand = 2 * n * 16 * d + 2 * t * d * 3 * d + 4 * t * t * d + 2 * t * d * d + 4 * t * d * m + 2 * d * 3
    assert count_flops(cfg) == by_hand


def test_flops_count_matches_torch_flop_counter():
    """Independent reference: torch.utils.flop_counter counts the matmuls of a real forward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = ViTConfig(image_size=32, patch_size=8, num_classes=10, dim=64, depth=2, heads=4, mlp_dim=128)
    model = ViT.from_config(cfg).eval()
    model.blocks[0].attn.fused_attn = False  # the counter sees the explicit matmuls
    model.blocks[1].attn.fused_attn = False
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert counter.get_total_flops() == count_flops(cfg)


small_configs = st.builds(
    lambda grid_h, grid_w, patch, heads, head_dim, depth, mlp, classes, channels, dim_head_given: ViTConfig(
        image_size=(grid_h * patch, grid_w * patch), patch_size=patch, num_classes=classes,
        dim=heads * head_dim, depth=depth, heads=heads, mlp_dim=mlp, channels=channels,
        dim_head=head_dim + 3 if dim_head_given else None,
    ),
    st.integers(1, 4), st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 8),
    st.integers(1, 3), st.integers(1, 40), st.integers(0, 12), st.integers(1, 4), st.booleans(),
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(small_configs)
def test_property_formula_equals_counted(cfg):
    assert count_parameters(cfg) == ViT.from_config(cfg).num_parameters()


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(small_configs, st.integers(1, 3))
def test_property_manual_equals_fused(cfg, batch):
    model = ViT.from_config(cfg, seed=0).eval()
    images = torch.randn(batch, cfg.channels, *cfg.image_size)
    with torch.no_grad():
        fused = model(images)
        manual, attentions = model(images, return_attention=True)
    assert (fused - manual).abs().max().item() <= 1e-5
    assert len(attentions) == cfg.depth and attentions[0].shape == (batch, cfg.heads, cfg.seq_len, cfg.seq_len)


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(small_configs)
def test_property_conv_equals_linear_patch_embedding(cfg):
    conv = ViT.from_config(cfg, seed=0, patch_embedding="conv").eval()
    linear = ViT.from_config(cfg, seed=0, patch_embedding="linear").eval()
    state = conv.state_dict()
    state["patch_embed.proj.weight"] = conv.patch_embed.linear_weight()
    linear.load_state_dict(state)
    images = torch.randn(2, cfg.channels, *cfg.image_size)
    with torch.no_grad():
        assert (conv(images) - linear(images)).abs().max().item() <= 1e-5
