"""The figure of patch-embedding filter components (paper Fig. 7 left): tiles, scaling, curves and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_edu.analysis.embedding_filters import filter_components
from vit_edu.viz.embedding_filters import component_image, plot_filter_components


def random_filters(num_filters: int, channels: int, patch: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    scales = torch.linspace(0.2, 2.0, channels * patch * patch, dtype=torch.float64)  # unequal variance shares
    values = torch.randn(num_filters, channels * patch * patch, generator=generator, dtype=torch.float64)
    return (values * scales).reshape(num_filters, channels, patch, patch)


def test_component_image_scales_each_component_to_its_own_range():
    rgb = torch.tensor([[[0.0, 2.0], [4.0, 8.0]], [[1.0, 1.0], [1.0, 1.0]], [[-2.0, 0.0], [0.0, 0.0]]])  # (3, 2, 2)
    image = component_image(rgb)
    assert image.shape == (2, 2, 3)
    np.testing.assert_allclose(image[:, :, 0], [[0.2, 0.4], [0.6, 1.0]])  # (v - (-2)) / (8 - (-2))
    np.testing.assert_allclose(image[0, 0, 2], 0.0)
    grey = component_image(torch.tensor([[[1.0, 3.0], [5.0, 3.0]]]))
    assert grey.shape == (2, 2)
    np.testing.assert_allclose(grey, [[0.0, 0.5], [1.0, 0.5]])
    np.testing.assert_allclose(component_image(torch.full((1, 2, 2), 7.0)), 0.5)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        component_image(torch.zeros(2, 4, 4))


@pytest.mark.parametrize(("num_shown", "columns"), [(16, 4), (6, 4), (3, 3)])
def test_figure_has_one_axes_per_tile_and_a_curve_panel(num_shown, columns):
    results = {"trained": filter_components(random_filters(30, 3, 3, seed=4)),
               "random": filter_components(random_filters(30, 3, 3, seed=5))}
    figure = plot_filter_components(results, num_shown=num_shown, columns=columns)
    assert len(figure.axes) == 2 * num_shown + 1
    tiles = [ax for ax in figure.axes if ax.images]
    assert len(tiles) == 2 * num_shown
    for index in range(num_shown):  # the tiles show the components, in order, each on its own scale
        np.testing.assert_allclose(tiles[index].images[0].get_array(),
                                   component_image(results["trained"].components[index]))
    curves = figure.axes[-1].lines
    assert [line.get_label() for line in curves] == ["trained", "random"]
    expected = 100 * np.cumsum(results["trained"].explained_variance_ratio.numpy())
    np.testing.assert_allclose(curves[0].get_ydata(), expected)


def test_figure_draws_grey_components_for_one_channel():
    results = {"digits": filter_components(random_filters(20, 1, 4, seed=6))}
    figure = plot_filter_components(results, num_shown=4)
    tile = next(ax for ax in figure.axes if ax.images)
    assert tile.images[0].get_array().ndim == 2 and tile.images[0].get_cmap().name == "gray"


def test_figure_refuses_bad_input():
    result = filter_components(random_filters(10, 3, 2), k=4)
    with pytest.raises(ValueError, match="at least one"):
        plot_filter_components({})
    with pytest.raises(ValueError, match="has 4 components but num_shown is 16"):
        plot_filter_components({"x": result})
    with pytest.raises(TypeError, match="FilterComponents"):
        plot_filter_components({"x": result.components}, num_shown=4)
    with pytest.raises(ValueError, match="num_shown"):
        plot_filter_components({"x": result}, num_shown=0)
