"""The softmax-temperature widget's state, statistics, static figure and (browser-free) view."""

import math

import numpy as np
import pytest
import torch

from vit_edu.widgets.softmax_temperature import (
    SoftmaxTemperatureState,
    dot_product_statistics,
    entropy,
    example_scores,
    softmax_temperature_figure,
    softmax_temperature_widget,
    softmax_with_temperature,
)


def test_softmax_with_temperature_matches_torch():
    scores = np.array([[3.0, -1.0, 0.5, 10.0], [0.0, 0.0, 1.0, -2.0]])
    for temperature in (0.1, 1.0, 8.0):
        expected = torch.softmax(torch.tensor(scores) / temperature, dim=-1).numpy()
        np.testing.assert_allclose(softmax_with_temperature(scores, temperature), expected, rtol=1e-12)


def test_softmax_with_large_scores_is_stable():
    weights = softmax_with_temperature(np.array([1000.0, 999.0]), 1.0)
    np.testing.assert_allclose(weights, [1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1))])


def test_entropy_limits():
    assert entropy(np.full(8, 1 / 8)) == pytest.approx(math.log(8))
    assert entropy(np.array([0.0, 1.0, 0.0])) == 0.0
    assert entropy(np.array([0.5, 0.5])) == pytest.approx(math.log(2))


def test_state_set_temperature_returns_weights_and_entropy():
    scores = example_scores(head_dim=64, num_keys=8, seed=2)
    state = SoftmaxTemperatureState(scores)
    entropies = []
    for temperature in (0.5, 1.0, 8.0, 64.0, 1e4):
        weights, h = state.set_temperature(temperature)
        assert weights.shape == (8,) and weights.sum() == pytest.approx(1.0)
        assert h == pytest.approx(entropy(weights))
        entropies.append(h)
    assert entropies == sorted(entropies)  # hotter = flatter
    assert entropies[-1] == pytest.approx(math.log(8), abs=1e-3)  # very hot: uniform
    weights, _ = state.set_temperature(0.01)
    assert weights.argmax() == scores.argmax() and weights.max() > 0.999  # very cold: arg max
    assert "tau = 0.01" in state.label()


def test_example_scores_are_raw_dot_products():
    generator = torch.Generator().manual_seed(5)
    query = torch.randn(16, generator=generator, dtype=torch.float64)
    keys = torch.randn(4, 16, generator=generator, dtype=torch.float64)
    np.testing.assert_allclose(example_scores(head_dim=16, num_keys=4, seed=5), (keys @ query).numpy())


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_state_rejects_bad_temperature(bad):
    state = SoftmaxTemperatureState([1.0, 2.0])
    with pytest.raises(ValueError, match="temperature"):
        state.set_temperature(bad)


def test_state_rejects_bad_inputs():
    with pytest.raises(TypeError, match="temperature"):
        SoftmaxTemperatureState([1.0, 2.0], temperature="hot")
    with pytest.raises(ValueError, match="scores"):
        SoftmaxTemperatureState([[1.0, 2.0]])
    with pytest.raises(ValueError, match="labels"):
        SoftmaxTemperatureState([1.0, 2.0], labels=["a"])


def test_dot_product_statistics_follow_the_variance_argument():
    stats = dot_product_statistics(head_dims=(8, 512), num_queries=400, seq_len=16, seed=1)
    for row in stats:
        assert row.variance_raw == pytest.approx(row.head_dim, rel=0.1)  # Var(q.k) = d
        assert row.variance_scaled == pytest.approx(1.0, rel=0.1)
    small, large = stats
    assert large.max_weight_raw > 0.9 > small.max_weight_raw
    assert large.max_weight_scaled == pytest.approx(small.max_weight_scaled, abs=0.05)
    assert large.jacobian_norm_raw < 0.3 * large.jacobian_norm_scaled


def test_static_figure_draws_one_panel_per_temperature():
    figure = softmax_temperature_figure([1.0, 2.0, 3.0], temperatures=(1.0, 2.0))
    assert len(figure.axes) == 2
    heights = [bar.get_height() for bar in figure.axes[0].patches]
    np.testing.assert_allclose(heights, softmax_with_temperature(np.array([1.0, 2.0, 3.0]), 1.0))


def test_widget_slider_redraws_the_image():
    pytest.importorskip("ipywidgets")
    box = softmax_temperature_widget([1.0, 2.0, 3.0], temperature=1.0)
    slider, image = box.children
    before = image.value
    slider.value = 10.0
    assert image.value != before
