"""The pretrained-checkpoints lesson's figures: weight layouts and the two preprocessing recipes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_edu.data.preprocessing import preprocess_image, unnormalize
from vit_edu.viz.checkpoints import flattening_orders, plot_preprocessing, plot_weight_layouts


def test_flattening_orders_put_the_channels_outside_or_inside():
    orders = flattening_orders(patch_size=2, channels=3)
    assert orders.shape == (2, 12)
    np.testing.assert_array_equal(orders[0], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])  # reshape: channel by channel
    np.testing.assert_array_equal(orders[1], [0, 1, 2] * 4)  # patchify: pixel by pixel, channels innermost


def test_weight_layouts_draw_the_fused_weight_the_kernel_and_the_orders():
    dim, heads, head_dim = 12, 3, 4
    qkv = torch.randn(3 * dim, dim, generator=torch.Generator().manual_seed(0))
    kernel = qkv[:dim].T.reshape(dim, heads, head_dim)  # the JAX kernel of the same queries
    figure = plot_weight_layouts(qkv, kernel, patch_size=4)
    assert len(figure.axes) == 3
    fused, jax, orders = figure.axes
    np.testing.assert_allclose(fused.images[0].get_array(), qkv.double().numpy())
    np.testing.assert_allclose(jax.images[0].get_array(), qkv[:dim].T.double().numpy())  # = W_q^T
    assert fused.images[0].get_clim() == jax.images[0].get_clim()  # one colour scale for both
    np.testing.assert_array_equal(orders.images[0].get_array(), flattening_orders(4, 3))
    assert [t.get_text() for t in fused.texts] == ["$W_q$", "$W_k$", "$W_v$"]
    assert len(fused.lines) == 3 * heads - 1  # a line between every two heads, solid between q, k and v
    assert sum(line.get_linestyle() == "-" for line in fused.lines) == 2
    assert len(jax.lines) == heads - 1 and jax.get_xlabel() == "head 0 | head 1 | head 2"
    assert "(3D, D)" in fused.get_title() and "(D, k, d_h)" in jax.get_title()
    assert "P^2 C = 48" in orders.get_xlabel()
    assert min(text.get_fontsize() for ax in figure.axes for text in (ax.title, ax.xaxis.label)) >= 9


def test_weight_layouts_refuse_wrong_shapes():
    with pytest.raises(ValueError, match="fused"):
        plot_weight_layouts(torch.zeros(12, 12), torch.zeros(12, 3, 4))
    with pytest.raises(ValueError, match="D = 4"):
        plot_weight_layouts(torch.zeros(12, 4), torch.zeros(12, 3, 4))


def test_preprocessing_shows_the_photo_its_crop_and_both_recipes():
    photo = (np.random.default_rng(0).random((60, 90, 3)) * 255).astype(np.uint8)
    prepared = {style: preprocess_image(photo, style=style, image_size=28) for style in ("vit", "imagenet")}
    figure = plot_preprocessing(photo, prepared)
    assert len(figure.axes) == 3
    original, vit, imagenet = figure.axes
    np.testing.assert_array_equal(original.images[0].get_array(), photo)
    np.testing.assert_allclose(vit.images[0].get_array(), unnormalize(prepared["vit"], "vit"))
    np.testing.assert_allclose(imagenet.images[0].get_array(), unnormalize(prepared["imagenet"], "imagenet"))
    [crop] = original.patches  # only the 'imagenet' recipe crops: 28 / 256 of the shorter side, centred
    side = 28 / 256 * 60
    assert crop.get_width() == pytest.approx(side)
    assert crop.get_xy() == pytest.approx(((90 - side) / 2, (60 - side) / 2))
    assert "'imagenet' crop" in original.get_title() and "squeezed to 28 x 28" in vit.get_title()
    assert "256, centre 28" in imagenet.get_title()


def test_preprocessing_refuses_bad_input():
    with pytest.raises(ValueError, match="H, W, 3"):
        plot_preprocessing(np.zeros((4, 4)), {"vit": torch.zeros(3, 4, 4)})
    with pytest.raises(ValueError, match="recipe names"):
        plot_preprocessing(np.zeros((4, 4, 3)), {"clip": torch.zeros(3, 4, 4)})
