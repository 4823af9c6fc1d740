"""Attention cost: formulas against counting.py and measured bytes against hand-derived sizes."""

import pytest
import torch
import torch.nn.functional as F

from vit_edu import flops_breakdown, preset
from vit_edu.analysis.attention_cost import (
    attention_flops,
    attention_matrix_bytes,
    manual_attention_output,
    measure_attention_cost,
    saved_activation_bytes,
    sequence_length,
)
from vit_edu.viz.attention import attention_cost_figure


def test_sequence_length_by_hand():
    assert sequence_length(224, 16) == 197
    assert sequence_length(224, 4) == 3137
    assert sequence_length((32, 48), 8) == 4 * 6 + 1
    with pytest.raises(ValueError, match="not divisible"):
        sequence_length(224, 15)


@pytest.mark.parametrize("name", ["B/16", "L/16", "B/32"])
def test_attention_flops_agree_with_model_counting(name):
    config = preset(name)
    per_head = attention_flops(config.seq_len, config.head_dim)
    assert flops_breakdown(config)["attention_scores_and_mix"] == config.depth * config.heads * per_head


def test_matrix_bytes_is_the_size_of_a_real_tensor():
    weights = torch.empty(3, 12, 50, 50)
    assert attention_matrix_bytes(50, heads=12, batch=3) == weights.untyped_storage().nbytes()
    assert attention_matrix_bytes(10, bytes_per_element=2) == torch.empty(10, 10, dtype=torch.half).nbytes


def test_saved_bytes_manual_keeps_the_t_by_t_matrix():
    seq_len, d = 40, 8
    q, k, v = (torch.randn(1, 1, seq_len, d, requires_grad=True) for _ in range(3))
    manual = saved_activation_bytes(manual_attention_output, q, k, v)
    assert manual == 4 * (seq_len * seq_len + 3 * seq_len * d)  # A plus q, k, v
    fused = saved_activation_bytes(F.scaled_dot_product_attention, q, k, v)
    assert fused < manual
    assert saved_activation_bytes(manual_attention_output, q.detach(), k.detach(), v.detach()) == 0


def test_measure_attention_cost_rows_and_threads_restored():
    before = torch.get_num_threads()
    rows = measure_attention_cost(patch_sizes=(8, 4), image_size=32, head_dim=16, repeats=1, seed=0)
    assert torch.get_num_threads() == before
    assert [r.seq_len for r in rows] == [17, 65]
    for row in rows:
        assert row.flops == 4 * row.seq_len**2 * 16
        assert row.matrix_bytes == 4 * row.seq_len**2
        assert row.manual_seconds > 0 and row.fused_seconds > 0
    figure = attention_cost_figure(rows)
    flops_axes, memory_axes = figure.axes
    assert list(flops_axes.get_lines()[0].get_ydata()) == [r.flops / 1e6 for r in rows]
    assert list(memory_axes.get_lines()[1].get_ydata()) == [r.fused_saved_bytes / 1e6 for r in rows]
    assert "seconds" not in " ".join(ax.get_ylabel() for ax in figure.axes)   # no clock: it zig-zags
    with pytest.raises(ValueError, match="repeats"):
        measure_attention_cost(patch_sizes=(8,), image_size=32, repeats=0)
