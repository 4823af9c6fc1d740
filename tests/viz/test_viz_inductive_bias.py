"""The inductive-bias panels: images in colour, maps with their scale, signed maps centred at 0, masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_edu.viz.inductive_bias import image_panels_figure
from vit_edu.viz.render import figure_style_problems


def _images(figure):
    return [ax.get_images() for ax in figure.axes]


def test_images_maps_and_titles_row_by_row():
    image = torch.rand(3, 6, 6)
    feature_map = torch.arange(36.0).reshape(6, 6)
    difference = torch.full((6, 6), 1e-8)
    figure = image_panels_figure([("x", image), ("f(x)", feature_map), ("difference", difference)], columns=2,
                                 signed={"difference"}, signed_scale=35.0, title="a shift")
    assert len(figure.axes) == 4  # a 2 x 2 grid, the last cell switched off
    assert [ax.get_title() for ax in figure.axes] == ["x", "f(x)", "difference", ""]
    assert not figure.axes[3].axison and figure.axes[0].get_xticks().size == 0
    assert figure._suptitle.get_text() == "a shift" and figure._suptitle.get_fontsize() >= 9
    shown = _images(figure)
    np.testing.assert_allclose(shown[0][0].get_array(), image.permute(1, 2, 0).numpy(), rtol=1e-6)
    assert shown[1][0].get_cmap().name == "viridis"
    np.testing.assert_allclose(shown[1][0].get_array(), feature_map.numpy())
    assert shown[2][0].get_cmap().name == "RdBu_r" and shown[2][0].get_clim() == (-35.0, 35.0)
    assert all(ax.title.get_fontsize() >= 9 for ax in figure.axes[:3])
    assert figure_style_problems(figure) == []


def test_masks_figure_with_a_title_follows_the_course_style():
    panels = [(f"layer {i}", torch.rand(8, 8) - 0.5) for i in range(4)]
    assert figure_style_problems(image_panels_figure(panels, masks=True, title="receptive fields")) == []


def test_grey_images_are_repeated_to_rgb_and_clamped():
    grey = torch.tensor([[[-0.5, 0.5], [1.5, 0.25]]])  # (1, 2, 2)
    array = _images(image_panels_figure([("digit", grey)]))[0][0].get_array()
    assert array.shape == (2, 2, 3)
    np.testing.assert_allclose(array[..., 0], [[0.0, 0.5], [1.0, 0.25]])


def test_a_signed_map_without_a_scale_uses_its_own_largest_value():
    difference = torch.tensor([[0.5, -2.0], [1.0, 0.0]])
    shown = _images(image_panels_figure([("d", difference)], signed=["d"]))[0][0]
    assert shown.get_clim() == (-2.0, 2.0)


def test_masks_show_where_a_map_is_positive():
    gradient = torch.tensor([[0.0, 0.3], [2.0, 0.0]])
    shown = _images(image_panels_figure([("field", gradient), ("image", torch.rand(3, 2, 2))], masks=True))
    assert shown[0][0].get_cmap().name == "Greys"
    np.testing.assert_array_equal(shown[0][0].get_array(), [[0.0, 1.0], [1.0, 0.0]])
    assert shown[1][0].get_array().shape == (2, 2, 3)  # images stay images


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(panels=[]), "non-empty list"),
    (dict(panels=[("a", torch.rand(2, 3, 4, 4))]), "image \\(C, H, W\\) or a map"),
    (dict(panels=[("a", torch.rand(4, 5, 5))]), "1 or 3 channels"),
    (dict(panels=[(1, torch.rand(5, 5))]), "str title"),
    (dict(panels=[("a", torch.rand(5, 5))], signed=["b"]), "not among the titles"),
    (dict(panels=[("a", torch.rand(5, 5))], signed=["a"], signed_scale=0.0), "signed_scale"),
])
def test_bad_panels_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        image_panels_figure(**kwargs)
