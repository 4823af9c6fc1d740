"""The position-similarity explorer: state maps, labels, static figures, and the browser-free view."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vit_edu.widgets.position_similarity import (
    PositionSimilarityState,
    position_similarity_figure,
    position_similarity_widget,
    similarity_mosaic_figure,
)


def _line_embeddings():
    # a 2 x 3 grid whose patch embeddings are known vectors; class token row first
    patches = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [1.0, 0.2], [-1.0, 0.0], [0.5, 0.5]])
    return torch.cat([torch.zeros(1, 2), patches])[None], patches


def test_select_patch_returns_cosine_maps_per_source():
    pos, patches = _line_embeddings()
    state = PositionSimilarityState({"a": pos, "b": -pos}, (2, 3))
    maps = state.select_patch(1, 2)  # patch index 5
    assert set(maps) == {"a", "b"} and maps["a"].shape == (2, 3)
    expected = F.cosine_similarity(patches[5][None], patches, dim=-1).reshape(2, 3).numpy()
    np.testing.assert_allclose(maps["a"], expected, atol=1e-6)
    np.testing.assert_allclose(maps["b"], expected, atol=1e-6)  # negating every vector keeps cosines
    assert maps["a"][1, 2] == pytest.approx(1.0)


def test_most_similar_other_and_label():
    pos, _ = _line_embeddings()
    state = PositionSimilarityState({"trained": pos}, (2, 3))
    state.select_patch(0, 0)  # (1, 0): the nearest direction is patch 1 (0, 1), cos(0.1)
    row, col, value = state.most_similar_other("trained")
    assert (row, col) == (0, 1) and value == pytest.approx(1 / np.sqrt(1.01), abs=1e-6)
    assert "most similar other patch (0, 1)" in state.label("trained")
    with pytest.raises(ValueError, match="unknown source"):
        state.most_similar_other("random")


@pytest.mark.parametrize(("row", "col"), [(2, 0), (0, 3), (-1, 0), (0.5, 0), (True, 0)])
def test_select_patch_rejects_out_of_range(row, col):
    pos, _ = _line_embeddings()
    state = PositionSimilarityState({"a": pos}, (2, 3))
    with pytest.raises(ValueError, match="must be an int in"):
        state.select_patch(row, col)


def test_state_needs_a_source_and_matching_grid():
    with pytest.raises(ValueError, match="at least one"):
        PositionSimilarityState({}, (2, 3))
    pos, _ = _line_embeddings()
    with pytest.raises(ValueError, match="needs"):
        PositionSimilarityState({"a": pos}, (3, 3))


def test_figures_draw_the_state_maps():
    pos, _ = _line_embeddings()
    state = PositionSimilarityState({"a": pos, "b": torch.randn(1, 7, 2)}, (2, 3))
    state.select_patch(1, 1)
    figure = position_similarity_figure(state)
    image = figure.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), state.maps["a"])
    mosaic = similarity_mosaic_figure({"a": pos}, (2, 3))
    assert mosaic.axes[0].images[0].get_array().shape == (2 * 3 - 1, 3 * 4 - 1)


def test_widget_sliders_update_image_and_text():
    pytest.importorskip("ipywidgets")
    pos, _ = _line_embeddings()
    box = position_similarity_widget({"a": pos}, (2, 3))
    (row_slider, col_slider), text, image = box.children[0].children, box.children[1], box.children[2]
    before_image, before_text = image.value, text.value
    row_slider.value = 1
    col_slider.value = 2
    assert image.value != before_image
    assert "patch (1, 2)" in text.value and text.value != before_text
