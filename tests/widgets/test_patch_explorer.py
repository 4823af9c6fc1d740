"""Patch explorer (the patching lesson): the state class without a browser, its figure, and the widget wiring."""

import socket

import numpy as np
import pytest

from vit_edu.viz.render import figure_to_png
from vit_edu.widgets.patch_explorer import (
    MIN_P_FOR_GRID_LINES,
    SAMPLE_IMAGES,
    PatchExplorerFigure,
    PatchExplorerState,
    load_sample_image,
    patch_explorer_figure,
    patch_explorer_widget,
)


def _image(height, width, channels=3, seed=0):
    return np.random.default_rng(seed).random((height, width, channels), dtype=np.float32)


def _block(image, i, j, p):
    """Patch (i, j) read as an H x W x C picture: the (p1 p2 c) order of the paper's x_p."""
    return image[i * p:(i + 1) * p, j * p:(j + 1) * p].reshape(-1)


@pytest.fixture
def state():
    return PatchExplorerState({"a": _image(48, 64), "grey": _image(48, 64, 1, seed=1)}, patch_size=8)


# --- sample images ---------------------------------------------------------------------------------

def test_sample_images_load_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    for name in SAMPLE_IMAGES:
        image = load_sample_image(name, size=32)
        assert image.shape == (32, 32, 1 if name == "camera" else 3)
        assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1 and image.std() > 0.05


def test_sample_image_errors():
    with pytest.raises(ValueError, match="unknown photo"):
        load_sample_image("lena")


# --- numbers ---------------------------------------------------------------------------------------

def test_summary_of_a_divisible_image(state):
    s = state.summary
    # H = 48, W = 64, P = 8, C = 3: N = (48/8)(64/8) = 48, T = N + 1, P^2 C = 192.
    assert (s["grid"], s["num_patches"], s["sequence_length"], s["patch_dim"]) == ((6, 8), 48, 49, 192)
    assert s["divisible"] and s["dropped"] == (0, 0)
    assert state.labels == ["N = 6 x 8 = 48 patches", "sequence length N + 1 = 49 (with the class token)",
                            "patch dimension P^2 C = 8^2 x 3 = 192"]
    state.set_image("grey").set_patch_size(16)
    assert (state.summary["num_patches"], state.summary["patch_dim"]) == (12, 256)  # C = 1: P^2 C = 256


def test_sample_astronaut_numbers():
    s = PatchExplorerState({"astronaut": load_sample_image("astronaut")}).summary
    assert (s["num_patches"], s["sequence_length"], s["patch_dim"]) == (196, 197, 768)  # ViT-B/16 at 224


def test_patches_are_the_blocks_in_reading_order(state):
    patches = state.patches
    image = state.image
    assert patches.shape == (48, 192)
    for k in (0, 1, 7, 8, 47):
        i, j = divmod(k, 8)
        np.testing.assert_array_equal(patches[k], _block(image, i, j, 8))


def test_not_divisible_explains_instead_of_crashing(state):
    state.set_patch_size(10)  # 48 = 4 x 10 + 8, 64 = 6 x 10 + 4
    s = state.summary
    assert not state.has_sequence and state.patches is None
    assert s["num_patches"] is None and s["sequence_length"] is None
    assert s["dropped"] == (8, 4) and s["patch_dim"] == 300
    assert "not divisible by P = 10" in s["message"] and "40 x 60" in s["message"]
    assert "not defined" in state.labels[0]
    assert state.token_strip.shape == (1, 1, 3) and state.strip_ticks == ([], [])
    grid = state.grid_image
    red = np.array([0.85, 0.1, 0.1])
    np.testing.assert_allclose(grid[45, 10], 0.4 * state.image[45, 10] + 0.6 * red, rtol=1e-6)  # bottom rows
    np.testing.assert_allclose(grid[5, 62], 0.4 * state.image[5, 62] + 0.6 * red, rtol=1e-6)  # right columns
    np.testing.assert_array_equal(grid[5, 5], state.image[5, 5])  # inside the covered 40 x 60


def test_crop_takes_the_centre(state):
    state.set_patch_size(10).set_crop(True)
    assert state.window == (4, 2, 40, 60)
    s = state.summary
    assert (s["num_patches"], s["sequence_length"], s["dropped"]) == (24, 25, (8, 4))
    assert "centre-cropped" in s["message"]
    np.testing.assert_array_equal(state.patches[7], _block(state.image[4:44, 2:62], 1, 1, 10))
    state.set_crop(False).set_patch_size(16)  # divisible: crop changes nothing
    assert state.set_crop(True).window == (0, 0, 48, 64)


# --- pictures --------------------------------------------------------------------------------------

def test_grid_lines_between_patches(state):
    grid = state.grid_image
    assert grid.shape == (48, 64, 3)
    assert (grid[8, :] == 1).all() and (grid[:, 16] == 1).all()  # first row/column of the second patch
    np.testing.assert_array_equal(grid[3, 3], state.image[3, 3])
    assert MIN_P_FOR_GRID_LINES > 2
    state.set_patch_size(2)
    np.testing.assert_array_equal(state.grid_image, state.image)  # tiny patches: no lines hiding the picture


def test_grey_grid_image_is_rgb(state):
    state.set_image("grey")
    assert state.grid_image.shape == (48, 64, 3)
    np.testing.assert_array_equal(state.grid_image[3, 3], np.repeat(state.image[3, 3], 3))


def test_token_strip_shows_first_tokens_then_the_last(state):
    state.strip_tokens = 4
    strip = state.token_strip
    gap = 1  # max(1, 8 // 8)
    assert strip.shape == (8, 6 * 8 + 5 * gap, 3)  # tokens 0-3, "...", token 47
    for slot, k in enumerate((0, 1, 2, 3)):
        tile = strip[:, slot * 9:slot * 9 + 8]
        i, j = divmod(k, 8)
        np.testing.assert_array_equal(tile.reshape(-1), _block(state.image, i, j, 8))
    assert (strip[:, 4 * 9:4 * 9 + 8] == 1).all()  # the "..." slot is blank
    np.testing.assert_array_equal(strip[:, 5 * 9:].reshape(-1), _block(state.image, 5, 7, 8))
    positions, labels = state.strip_ticks
    assert labels == ["0", "1", "2", "3", "...", "47"] and positions[1] - positions[0] == 9


def test_short_sequences_show_every_token(state):
    state.set_patch_size(16)  # N = 3 x 4 = 12 <= strip_tokens + 2
    assert state.strip_ticks[1] == [str(k) for k in range(12)]


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (49, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_patch_size(state, value, error):
    with pytest.raises(error, match="patch_size"):
        state.set_patch_size(value)


def test_bad_images():
    with pytest.raises(ValueError, match="unknown"):
        PatchExplorerState({"a": _image(8, 8)}, patch_size=4).set_image("unknown")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        PatchExplorerState({"rgba": _image(8, 8, 4)})
    with pytest.raises(ValueError, match="255"):
        PatchExplorerState({"uint8": np.full((8, 8, 3), 200)})
    with pytest.raises(ValueError, match="at least one"):
        PatchExplorerState({})


# --- figure and widget ------------------------------------------------------------------------------

def test_figure_updates_its_artists_in_place(state):
    view = PatchExplorerFigure(state)
    artist = view.image_artist
    state.set_patch_size(16)
    view.update()
    assert view.image_artist is artist
    np.testing.assert_array_equal(np.asarray(artist.get_array()), state.grid_image)
    assert np.asarray(view.strip_artist.get_array()).shape == state.token_strip.shape
    assert np.asarray(view.matrix_artist.get_array()).shape == (12, 768)
    assert "N = 3 x 4 = 12 patches" in view.title.get_text()
    state.set_patch_size(10)
    view.update()
    assert "not divisible" in view.message.get_text().replace("\n", " ")
    assert figure_to_png(view.figure).startswith(b"\x89PNG")


def test_static_figure_uses_the_same_state(state):
    figure = patch_explorer_figure("grey", patch_size=16, state=state)
    assert state.image_name == "grey" and len(figure.axes) == 3


@pytest.mark.slow
def test_widget_redraws_when_a_control_changes(state):
    pytest.importorskip("ipywidgets")
    box = patch_explorer_widget(state)
    controls, picture = box.children
    chooser, slider, crop = controls.children
    before = picture.value
    slider.value = 16
    assert state.patch_size == 16 and picture.value != before
    slider.value = 10
    crop.value = True
    assert state.crop and state.summary["num_patches"] == 24
    chooser.value = "grey"
    assert state.image_name == "grey" and state.summary["patch_dim"] == 100
