"""Widget states at their edges: labels outside 0..K-1, a grid of one patch, extreme temperatures and non-finite
scores. Each either works (a finite, meaningful answer) or refuses with a message that names the fix."""

import math
import warnings

import numpy as np
import pytest
import torch

from vit_edu.widgets.attention_explorer import AttentionExplorerState
from vit_edu.widgets.position_similarity import PositionSimilarityState, position_similarity_figure
from vit_edu.widgets.softmax_temperature import SoftmaxTemperatureState, entropy, softmax_with_temperature


# --- attention explorer: true labels --------------------------------------------------------------
@pytest.fixture(scope="module")
def explorer_inputs():
    from vit_edu import ViT

    model = ViT(image_size=8, patch_size=4, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32, seed=0)
    return model, torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("labels, error, pattern", [
    ([-1, 0], ValueError, r"labels\[0\] must be a class index in 0\.\.2 \(K = 3\) or None, got -1"),
    ([0, 3], ValueError, r"labels\[1\] must be a class index in 0\.\.2 .*got 3"),
    ([0, 1.0], TypeError, r"labels\[1\] must be a class index \(int\) or None, got 1\.0"),
    ([True, 0], TypeError, r"labels\[0\] must be a class index"),
    (["1", 0], TypeError, r"labels\[0\] must be a class index"),
    (torch.tensor([0.0, 1.0]), TypeError, r"labels\[0\] must be a class index"),
    (torch.tensor([0, -2]), ValueError, r"labels\[1\] .*got -2"),
])
def test_explorer_refuses_labels_outside_the_classes(explorer_inputs, labels, error, pattern):
    model, images = explorer_inputs
    with pytest.raises(error, match=pattern):
        AttentionExplorerState(model, images, labels=labels)


@pytest.mark.parametrize("labels", [[2, None], torch.tensor([0, 2]), np.array([1, 0]), [np.int64(2), 1]])
def test_explorer_names_the_true_class(explorer_inputs, labels):
    model, images = explorer_inputs
    state = AttentionExplorerState(model, images, labels=labels, class_names=["a", "b", "c"])
    first = int(labels[0])
    assert state.labels[0] == first and type(state.labels[0]) is int
    assert state.prediction_text.endswith(f"true: {'abc'[first]}")


# --- position similarity: a grid of one patch -----------------------------------------------------
def test_a_single_patch_grid_has_no_other_patch():
    state = PositionSimilarityState({"trained": torch.randn(1, 2, 8)}, 1)
    assert state.single_patch and state.maps["trained"].shape == (1, 1)
    assert state.maps["trained"][0, 0] == pytest.approx(1.0)
    label = state.label("trained")
    assert "only patch" in label and "inf" not in label
    with pytest.raises(ValueError, match="1x1 grid has a single patch"):
        state.most_similar_other("trained")
    assert position_similarity_figure(state).axes  # the static figure draws a 1 x 1 grid too


def test_two_patches_still_report_the_other():
    state = PositionSimilarityState({"a": torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(0))}, (1, 2))
    assert not state.single_patch
    row, col, value = state.most_similar_other("a")
    assert (row, col) == (0, 1) and math.isfinite(value)


# --- softmax temperature ---------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [5e-324, 1e-300, 1e-20, 1e-3, 1.0, 1e3, 1e300])
def test_every_accepted_temperature_gives_finite_weights(temperature):
    state = SoftmaxTemperatureState([1.0, 2.0, 3.0, 3.0 - 1e-9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        weights, spread = state.set_temperature(temperature)
    assert np.isfinite(weights).all() and weights.sum() == pytest.approx(1.0)
    assert 0.0 <= spread <= state.max_entropy + 1e-12
    assert "nan" not in state.label() and "-0.00" not in state.label()


def test_tiny_temperatures_pick_the_maximum_and_huge_ones_are_uniform():
    np.testing.assert_array_equal(softmax_with_temperature([1.0, 5.0, 2.0], 1e-300), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(softmax_with_temperature([1.0, 5.0, 2.0], 1e300), [1 / 3] * 3)
    np.testing.assert_array_equal(softmax_with_temperature([1e308, -1e308], 1e-3), [1.0, 0.0])
    assert entropy(np.array([0.0, 1.0])) == 0.0 and math.copysign(1, entropy(np.array([0.0, 1.0]))) == 1


def test_ordinary_temperatures_match_torch_softmax():
    scores = np.array([[5.9, 3.4, 15.8, 1.7], [-1.4, -13.7, 2.9, 0.4]])
    for temperature in (1.0, 8.0, 64.0):
        expected = torch.from_numpy(scores / temperature).softmax(dim=-1).numpy()
        np.testing.assert_allclose(softmax_with_temperature(scores, temperature), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("scores", [[1.0, math.nan], [1.0, math.inf], [-math.inf, 0.0]])
def test_non_finite_scores_are_refused(scores):
    with pytest.raises(ValueError, match="scores must be finite numbers"):
        SoftmaxTemperatureState(scores)
    with pytest.raises(ValueError, match="scores must be finite numbers"):
        softmax_with_temperature(scores, 1.0)
