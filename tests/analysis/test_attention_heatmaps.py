"""``attention_heatmaps_figure``: attention matrices drawn as heatmaps (query rows, key columns), one panel
per head, with optional target markers and printed weights; checked on the artists behind the image."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from vit_edu.viz.attention import attention_heatmaps_figure


def image_axes(figure):
    return [ax for ax in figure.axes if ax.images]


def test_two_heads_two_panels_with_their_weights_and_markers():
    weights = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(0)).softmax(dim=-1)
    content = torch.tensor([3, 4, 5, 0, 1, 2])
    previous = torch.tensor([5, 0, 1, 2, 3, 4])
    figure = attention_heatmaps_figure(weights, titles=["head 0: by name", "head 1: by position"],
                                       targets={"content": content, "previous": previous})
    assert isinstance(figure, Figure)
    panels = image_axes(figure)
    assert len(panels) == 2  # the colour bar is not an image panel
    for h, ax in enumerate(panels):
        array = np.asarray(ax.images[0].get_array())
        assert array.shape == (6, 6)
        np.testing.assert_allclose(array, weights[h].numpy())  # rows are queries, columns keys
        assert ax.images[0].get_clim() == (0.0, 1.0)  # one scale for both heads
        assert ax.get_xlabel().startswith("key") and (h > 0 or ax.get_ylabel().startswith("query"))
        offsets = [collection.get_offsets() for collection in ax.collections]
        np.testing.assert_array_equal(offsets[0], np.stack([content.numpy(), np.arange(6)], axis=1))
        np.testing.assert_array_equal(offsets[1], np.stack([previous.numpy(), np.arange(6)], axis=1))
    assert [ax.get_title() for ax in panels] == ["head 0: by name", "head 1: by position"]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["content", "previous"]


def test_one_matrix_with_labels_and_printed_weights():
    weights = torch.tensor([[0.5, 0.25, 0.25, 0.0, 0.0], [0.1, 0.2, 0.3, 0.2, 0.2], [0.0, 0.0, 0.0, 0.0, 1.0]])
    figure = attention_heatmaps_figure(weights, titles=["A"], query_labels=["a", "b", "c"],
                                       key_labels=list("vwxyz"), annotate=True)
    (ax,) = image_axes(figure)
    assert np.asarray(ax.images[0].get_array()).shape == (3, 5)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_xticklabels()] == list("vwxyz")
    printed = {(text.get_position(), text.get_text()) for text in ax.texts}
    assert printed == {((j, i), f"{float(weights[i, j]):.2f}") for i in range(3) for j in range(5)}
    assert not figure.legends and ax.get_title() == "A"


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(weights=torch.rand(4)), ValueError, r"weights must be a \(k, T, S\) or \(T, S\) tensor"),
    (dict(weights=[[1.0]]), ValueError, r"weights must be a \(k, T, S\) or \(T, S\) tensor .*got list"),
    (dict(weights=torch.rand(2, 3, 3), titles=["one"]), ValueError, r"titles must have one title per panel \(2\)"),
    (dict(weights=torch.rand(3, 4), query_labels=["a"]), ValueError, r"query_labels must have one label .*\(3\)"),
    (dict(weights=torch.rand(3, 4), key_labels=list("abc")), ValueError, r"key_labels must have one label .*\(4\)"),
    (dict(weights=torch.rand(3, 4), targets={"t": torch.tensor([0, 1])}), ValueError, r"must be a \(3,\) tensor"),
    (dict(weights=torch.rand(3, 4), targets={"t": torch.tensor([0, 1, 4])}), ValueError, r"key indices in 0\.\.3"),
    (dict(weights=torch.rand(3, 4), vmax=0.0), ValueError, r"vmax must be a finite number > 0"),
])
def test_bad_arguments_are_named(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        attention_heatmaps_figure(**kwargs)
