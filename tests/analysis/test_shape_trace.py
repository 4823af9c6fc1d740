"""shape_trace: shapes checked against the paper's formulas (N = HW/P^2, T = N + 1, ...)."""

import pytest
import torch
from torch import nn

from vit_edu import ViT
from vit_edu.analysis.shape_trace import TraceRow, format_trace, shape_trace, vit_stage

# A rectangular image catches height/width mix-ups.
H, W, P, C, D, L, HEADS, M, K, B = 24, 40, 8, 3, 32, 2, 4, 48, 7, 2


def small_vit(**kwargs):
    return ViT(image_size=(H, W), patch_size=P, num_classes=K, dim=D, depth=L, heads=HEADS, mlp_dim=M,
               dropout=0.1, emb_dropout=0.1, seed=0, **kwargs)


def by_name(rows):
    return {row.name: row for row in rows}


def test_shapes_follow_the_paper():
    model = small_vit()
    rows = by_name(shape_trace(model, torch.randn(B, C, H, W)))
    n = (H // P) * (W // P)  # N = HW / P^2
    t = n + 1
    assert rows["input"].output_shape == (B, C, H, W)
    assert rows["patch_embed.proj"].output_shape == (B, D, H // P, W // P)
    assert rows["patch_embed"].output_shape == (B, n, D)
    assert rows["pos_drop"].output_shape == (B, t, D)
    for i in range(L):
        assert rows[f"blocks.{i}.norm1"].output_shape == (B, t, D)
        assert rows[f"blocks.{i}.attn.qkv"].output_shape == (B, t, 3 * D)
        assert rows[f"blocks.{i}.attn"].output_shape == (B, t, D)
        assert rows[f"blocks.{i}.mlp.fc1"].output_shape == (B, t, M)
        assert rows[f"blocks.{i}"].output_shape == (B, t, D)
    assert rows["norm"].output_shape == (B, t, D)
    assert rows["head"].input_shape == (B, D)  # the pooled y
    assert rows["head"].output_shape == (B, K)
    assert rows["output"].output_shape == (B, K)


def test_rows_in_data_flow_order_and_parameters():
    model = small_vit()
    rows = shape_trace(model, torch.randn(1, C, H, W))
    names = [row.name for row in rows]
    assert names[0] == "input" and names[-1] == "output"
    assert names.index("patch_embed") < names.index("pos_drop") < names.index("blocks.0.norm1")
    assert names.index("blocks.0.attn.qkv") < names.index("blocks.0.attn") < names.index("blocks.0")
    assert names.index("blocks.0") < names.index("blocks.1") < names.index("norm") < names.index("head")
    table = by_name(rows)
    block_params = sum(p.numel() for p in model.blocks[0].parameters())
    assert table["blocks.0"].parameters == block_params == 4 * D * D + 4 * D + 2 * D * M + M + D + 4 * D
    assert table["output"].parameters == model.num_parameters()


def test_eval_mode_during_trace_and_state_restored():
    model = small_vit().train()
    seen = []
    model.blocks[0].register_forward_hook(lambda module, args, out: seen.append(module.training))
    shape_trace(model, torch.randn(1, C, H, W))
    assert seen == [False]
    assert model.training
    # our hooks are gone: only the one registered above remains
    assert len(model.blocks[0]._forward_hooks) == 1
    assert all(len(m._forward_hooks) == 0 for m in model.modules() if m is not model.blocks[0])


def test_hooks_removed_after_an_error():
    model = small_vit().train()
    with pytest.raises(ValueError, match="image_size"):
        shape_trace(model, torch.randn(1, C, H + 1, W))
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert model.training


@pytest.mark.slow
def test_meta_device_gives_the_same_shapes():
    real = shape_trace(small_vit(), torch.randn(B, C, H, W))
    with torch.device("meta"):
        meta_model = small_vit()
    meta = shape_trace(meta_model, torch.empty(B, C, H, W, device="meta"))
    assert [(r.name, r.output_shape, r.parameters) for r in real] == [
        (r.name, r.output_shape, r.parameters) for r in meta
    ]


def test_filters():
    model = small_vit()
    x = torch.randn(1, C, H, W)
    shallow = shape_trace(model, x, max_depth=2)
    assert all(row.name.count(".") <= 1 for row in shallow)
    assert {"blocks.0", "blocks.1", "patch_embed"} <= {row.name for row in shallow}
    only_block0 = shape_trace(model, x, include=lambda name: name.startswith("blocks.0"))
    assert {row.name for row in only_block0[1:-1]} == {
        name for name, _ in model.named_modules() if name.startswith("blocks.0")
    }
    with pytest.raises(ValueError, match="max_depth"):
        shape_trace(model, x, max_depth=0)


def test_any_module_and_bad_arguments():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    rows = shape_trace(net, torch.randn(5, 4))
    assert [(r.name, r.input_shape, r.output_shape, r.parameters) for r in rows[1:-1]] == [
        ("0", (5, 4), (5, 8), 40), ("1", (5, 8), (5, 8), 0), ("2", (5, 8), (5, 2), 18)
    ]
    assert rows[1].stage == ""
    with pytest.raises(TypeError, match="model"):
        shape_trace("not a model", torch.randn(1))
    with pytest.raises(TypeError, match="images"):
        shape_trace(net, [1, 2, 3, 4])


def test_vit_stage_labels():
    assert "Eq. 1" in vit_stage("pos_drop")
    assert vit_stage("blocks.11") == vit_stage("blocks.0") != ""
    assert "Eq. 4" in vit_stage("norm")
    assert vit_stage("blocks.0.attn.proj_drop") == ""
    assert vit_stage("something.else") == ""


def test_format_trace():
    rows = [TraceRow("input", "Tensor", (1, 3), (1, 3), 0, "images"),
            TraceRow("head", "Linear", (1, 3), (1, 10), 1234567, "class scores")]
    text = format_trace(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["name", "output_shape", "parameters", "stage"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert "1,234,567" in lines[3] and "(1, 10)" in lines[3]
    assert "kind" in format_trace(rows, columns=("name", "kind")).splitlines()[0]
    with pytest.raises(ValueError, match="unknown column"):
        format_trace(rows, columns=("name", "colour"))
