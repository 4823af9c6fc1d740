"""The patching lesson's figures: sample photos, the numbered patch sequence, shuffled patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_edu.patches import patchify
from vit_edu.viz.patches import (
    patch_sequence_figure,
    sample_images_figure,
    shuffle_image_patches,
    shuffled_patches_figure,
)


def ramp_image(height: int = 16, width: int = 24, channels: int = 3) -> np.ndarray:
    """Distinct values in [0, 1]: every pixel and channel can be traced."""
    values = np.arange(height * width * channels, dtype=np.float32) / (height * width * channels)
    return values.reshape(height, width, channels)


def test_sample_images_one_panel_per_image_grey_for_one_channel():
    images = {"colour": ramp_image(8, 8, 3), "grey": ramp_image(8, 8, 1)}
    figure = sample_images_figure(images)
    assert len(figure.axes) == 2
    assert [ax.get_title() for ax in figure.axes] == ["colour\n8 x 8 x 3", "grey\n8 x 8 x 1"]
    np.testing.assert_allclose(figure.axes[0].images[0].get_array(), images["colour"])
    grey = figure.axes[1].images[0]
    assert grey.get_array().ndim == 2 and grey.get_cmap().name == "gray"
    assert all(ax.title.get_fontsize() >= 9 for ax in figure.axes)


def test_patch_sequence_draws_grid_numbers_tiles_and_rows_of_x_p():
    image, p = ramp_image(16, 24, 3), 8                      # a 2 x 3 grid, N = 6
    figure = patch_sequence_figure(image, p, first=4)
    ax_grid, ax_matrix, *tiles = figure.axes
    assert len(tiles) == 4 and [ax.get_title() for ax in tiles] == ["0", "1", "2", "3"]
    assert ax_grid.get_title() == "P = 8: N = 2 x 3 = 6 patches"
    assert [text.get_text() for text in ax_grid.texts] == [str(k) for k in range(6)]
    assert len(ax_grid.lines) == 1 + 2                       # 1 horizontal and 2 vertical grid lines
    tokens = patchify(torch.from_numpy(image).permute(2, 0, 1)[None], p)[0]
    np.testing.assert_allclose(ax_matrix.images[0].get_array(), tokens[:4].numpy())
    np.testing.assert_allclose(tiles[1].images[0].get_array(), image[0:8, 8:16])  # token 1: row 0, column 1
    assert "192 = 8 x 8 x 3" in ax_matrix.get_xlabel()
    assert all(text.get_fontsize() >= 9 for text in ax_grid.texts)


def test_patch_sequence_shows_at_most_n_tokens_and_refuses_a_bad_patch_size():
    assert len(patch_sequence_figure(ramp_image(8, 8, 1), 4, first=10).axes) == 2 + 4
    with pytest.raises(ValueError, match="not a multiple of patch_size 5"):
        patch_sequence_figure(ramp_image(16, 24), 5)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        patch_sequence_figure(ramp_image() * 255, 8)


def test_shuffling_keeps_every_patch_and_moves_them():
    image = ramp_image(16, 24, 3)
    shuffled = shuffle_image_patches(image, 8, seed=1)
    assert shuffled.shape == image.shape and not np.array_equal(shuffled, image)
    before = patchify(torch.from_numpy(image).permute(2, 0, 1)[None], 8)[0]
    after = patchify(torch.from_numpy(shuffled).permute(2, 0, 1)[None], 8)[0]
    assert sorted(map(tuple, before.tolist())) == sorted(map(tuple, after.tolist()))  # the same patches, reordered
    np.testing.assert_array_equal(shuffle_image_patches(image, 8, seed=1), shuffled)  # the seed fixes the order


def test_shuffled_figure_has_the_original_and_one_panel_per_patch_size():
    image = ramp_image(16, 16, 3)
    figure = shuffled_patches_figure(image, (8, 4), seed=2)
    assert [ax.get_title() for ax in figure.axes] == ["original", "P = 8, N = 4\nshuffled", "P = 4, N = 16\nshuffled"]
    np.testing.assert_allclose(figure.axes[0].images[0].get_array(), image)
    np.testing.assert_allclose(figure.axes[2].images[0].get_array(), shuffle_image_patches(image, 4, seed=2))
    with pytest.raises(ValueError, match="at least one"):
        shuffled_patches_figure(image, ())
