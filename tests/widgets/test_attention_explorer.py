"""Attention explorer (the attention-maps lesson): the state class without a browser, its figure, and the widget wiring.

References are independent of the state class: the attention tensors of a separate forward pass,
indexed by hand (row q of A without the class column), ``vit_edu.patches.patchify`` for the
patch order, and the colours of the rendered PNG for the click mapping.
"""

import base64
import io

import numpy as np
import PIL.Image
import pytest
import torch

from vit_edu.analysis.attention_maps import attention_rollout, class_token_map, gradient_weighted_attention
from vit_edu.patches import patchify
from vit_edu.viz.render import figure_to_png
from vit_edu.widgets.attention_explorer import (
    AttentionExplorerFigure,
    AttentionExplorerState,
    attention_explorer_figure,
    attention_explorer_widget,
)
from vit_edu.widgets.clickable_image import ClickableImage

NAMES = ["circle", "square", "triangle", "cross", "star"]


@pytest.fixture
def model(tiny_vit):
    return tiny_vit(image_size=16, patch_size=4, num_classes=5, depth=3, heads=2)  # grid 4 x 4, N = 16


@pytest.fixture
def images():
    return torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def state(model, images):
    return AttentionExplorerState(model, images, labels=[0, 3, None], class_names=NAMES)


def _reference(model, image):
    """Logits and L attention tensors (k, T, T) of one image, from a forward pass of our own."""
    model.eval()
    with torch.no_grad():
        logits, attentions = model(image[None], return_attention=True)
    return logits[0], [a[0] for a in attentions]


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


# --- maps ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [0, 2])
@pytest.mark.parametrize("head", [0, 1, "mean"])
def test_class_token_view_is_row_zero_of_A(state, model, images, layer, head):
    _, attentions = _reference(model, images[1])
    weights = attentions[layer].mean(dim=0) if head == "mean" else attentions[layer][head]  # (T, T)
    state.set_image(1).set_layer(layer).set_head(head).select_class_token()
    assert state.query_index == 0
    assert state.grid_map.shape == (4, 4)
    np.testing.assert_allclose(state.grid_map.ravel(), weights[0, 1:].numpy(), rtol=1e-6, atol=1e-7)


def test_query_view_is_the_patch_row(state, model, images):
    _, attentions = _reference(model, images[0])
    state.set_layer(1).set_head(1).select_patch(6)
    assert state.query_index == 7  # the class token comes first
    np.testing.assert_allclose(state.grid_map.ravel(), attentions[1][1, 7, 1:].numpy(), rtol=1e-6, atol=1e-7)


def test_rollout_and_gradient_views(state, model, images):
    _, attentions = _reference(model, images[2])
    rollout = attention_rollout([a[None] for a in attentions], "mean", 0.9)  # (1, T, T)
    state.set_image(2).set_layer("rollout").set_head(1)  # the head is ignored: rollout fuses heads
    np.testing.assert_allclose(state.grid_map.ravel(), rollout[0, 0, 1:].numpy(), rtol=1e-6)
    state.select_patch(5)
    np.testing.assert_allclose(state.grid_map.ravel(), rollout[0, 6, 1:].numpy(), rtol=1e-6)
    relevance = gradient_weighted_attention(model, images[2:3])
    state.set_layer("gradient").select_class_token()
    np.testing.assert_allclose(state.grid_map.ravel(), class_token_map(relevance)[0].numpy(), rtol=1e-5, atol=1e-7)
    assert "gradient-weighted" in state.description and "rollout" not in state.description


def test_upsampled_map_and_overlay(state):
    state.set_layer(0).set_head("mean").set_opacity(0.35)
    grid, full = state.grid_map, state.map
    assert full.shape == (16, 16)
    np.testing.assert_array_equal(full, np.kron(grid, np.ones((4, 4))))  # one flat 4 x 4 square per patch
    overlay = state.overlay
    assert overlay.shape == (16, 16, 4)
    np.testing.assert_array_equal(overlay[..., 3], 0.35)
    row, col = np.unravel_index(grid.argmax(), grid.shape)
    import matplotlib

    top = matplotlib.colormaps["inferno"](1.0)
    np.testing.assert_allclose(overlay[row * 4 + 1, col * 4 + 2, :3], top[:3])  # brightest colour on the max patch


def test_prediction_matches_the_model(state, model, images):
    logits, _ = _reference(model, images[1])
    state.set_image(1)
    np.testing.assert_allclose(state.probabilities, logits.softmax(-1).numpy(), rtol=1e-5)
    assert state.predicted_class == int(logits.argmax())
    assert state.prediction_text.endswith("true: cross")
    state.set_image(2)
    assert "true" not in state.prediction_text  # a photo has no label
    assert state.names == ["0: circle", "1: cross", "image 2"]


# --- one forward pass per image ----------------------------------------------------------------------

def test_attention_is_cached_per_image(state, model):
    calls = []
    handle = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        for layer in (0, 1, 2, "rollout", 0):
            for head in ("mean", 0, 1):
                state.set_layer(layer).set_head(head)
                for patch in (None, 0, 15):
                    state.select_class_token() if patch is None else state.select_patch(patch)
                    _ = state.overlay
        assert len(calls) == 0  # the image was already evaluated in __init__
        state.set_image(1)
        assert len(calls) == 1
        state.set_image(1)
        assert len(calls) == 1
    finally:
        handle.remove()


def test_model_mode_is_restored(model, images):
    model.train()
    AttentionExplorerState(model, images)
    assert model.training


# --- clicks ------------------------------------------------------------------------------------------

def test_click_selects_the_patch_patchify_puts_there(state):
    # An image whose pixel (y, x) holds y * 16 + x: patchify tells which pixels token p holds.
    coordinates = torch.arange(256.0).reshape(1, 1, 16, 16)
    token_pixels = patchify(coordinates, 4)[0]  # (N, P^2)
    for y in range(16):
        for x in range(16):
            expected = int((token_pixels == y * 16 + x).any(dim=1).nonzero())
            assert state.click(x + 0.5, y + 0.5) == expected
            assert state.patch == expected and state.query_index == expected + 1
    assert state.click(15.99, 0.0) == 3  # top-right corner
    assert state.click(16.0, 3.0) is None and state.click(-0.1, 3.0) is None  # outside: no change
    assert state.patch == 3


def test_png_pixel_under_the_pointer_is_the_selected_patch(model):
    # Colour patch (r, c) with (r + 1, c + 1) / 5 and look at the rendered PNG under each sampled pointer.
    rows, cols = np.meshgrid(np.arange(16) // 4, np.arange(16) // 4, indexing="ij")
    picture = np.stack([(rows + 1) / 5, (cols + 1) / 5, np.zeros_like(rows, dtype=float)])  # (3, H, W)
    state = AttentionExplorerState(model, torch.tensor(picture, dtype=torch.float32)[None])
    state.set_opacity(0.0)
    view = AttentionExplorerFigure(state, show_text=False)
    pixels = _decode(view.render())
    box = view.ax_image.get_window_extent()
    height = pixels.shape[0]
    checked = 0
    for px in np.linspace(box.x0 + 2, box.x1 - 2, 23):
        for py in np.linspace(height - box.y1 + 2, height - box.y0 - 2, 19):
            r, g, b = pixels[int(py), int(px)]
            seen_row, seen_col = round(r / 255 * 5) - 1, round(g / 255 * 5) - 1
            exact = abs(r - (seen_row + 1) * 51) <= 2 and abs(g - (seen_col + 1) * 51) <= 2 and b <= 2
            if not (exact and 0 <= seen_row < 4 and 0 <= seen_col < 4):
                continue  # on a grid line (blended with white) or outside the picture
            assert state.click(*view.image_pixel(int(px) + 0.5, int(py) + 0.5)) == seen_row * 4 + seen_col
            checked += 1
    assert checked > 300
    assert state.click(*view.image_pixel(box.x1 + 20, height - box.y0 + 1)) is None  # beside the image


# --- figure and widget -------------------------------------------------------------------------------

def test_blitted_render_equals_a_full_draw(state):
    view = AttentionExplorerFigure(state)
    for change in (lambda: None, lambda: state.set_image(2).set_layer("rollout"), lambda: state.select_patch(9)):
        change()
        view.update()
        fast, full = _decode(view.render()), _decode(figure_to_png(view.figure))
        assert fast.shape == full.shape
        assert (np.abs(fast - full).max(axis=-1) > 16).mean() < 0.005  # only anti-aliasing at a few edges


def test_static_figure_shows_the_state(state):
    figure = attention_explorer_figure(state, image=1, layer="rollout", patch=4, opacity=0.5)
    assert (state.index, state.layer, state.patch, state.opacity) == (1, "rollout", 4, 0.5)
    assert "where patch 4 (row 1, col 0) looks" in figure._suptitle.get_text()
    with pytest.raises(TypeError, match="unknown choice"):
        attention_explorer_figure(state, colour="red")


def test_widget_wiring(state):
    box = attention_explorer_widget(state)
    canvas, controls = box.canvas, box.controls
    first = base64.b64decode(canvas.png)
    assert first.startswith(b"\x89PNG")
    controls["layer"].value = 0
    controls["head"].value = 1
    assert (state.layer, state.head, state.patch) == (0, 1, None)
    assert canvas.png != base64.b64encode(first).decode()
    view = box.view
    box_px = view.ax_image.get_window_extent()
    height = view.figure.canvas.get_width_height()[1]
    # a click in patch (row 2, col 1) of the 4 x 4 grid
    canvas.click = {"x": box_px.x0 + 0.3 * box_px.width, "y": height - box_px.y1 + 0.6 * box_px.height, "count": 1}
    assert state.patch == 9 and controls["query"].value == "patch"
    assert "patch 9 (row 2, col 1)" in box.children[2].value
    controls["query"].value = "cls"
    assert state.patch is None
    controls["query"].value = "patch"
    assert state.patch == 9  # the last clicked patch comes back
    controls["image"].value = 2
    assert state.index == 2 and "image 2" in box.children[2].value
    assert "png" not in repr(canvas) and "iVBOR" not in repr(box)


def test_clickable_image_rejects_non_png():
    with pytest.raises(ValueError, match="bytes of a PNG"):
        ClickableImage().set_png(b"GIF89a")


# --- errors ------------------------------------------------------------------------------------------

def test_errors_name_the_parameter(state, model, images):
    with pytest.raises(ValueError, match=r"layer must be an int in 0\.\.2 or one of"):
        state.set_layer("last")
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.2"):
        state.set_layer(3)
    with pytest.raises(ValueError, match="head must be"):
        state.set_head(2)
    with pytest.raises(TypeError, match="head must be"):
        state.set_head("max")
    with pytest.raises(ValueError, match=r"patch must be in 0\.\.15"):
        state.select_patch(16)
    with pytest.raises(ValueError, match="opacity"):
        state.set_opacity(1.5)
    with pytest.raises(ValueError, match=r"image index must be in 0\.\.2"):
        state.set_image(3)
    with pytest.raises(ValueError, match="class_names must hold K = 5"):
        AttentionExplorerState(model, images, class_names=["a", "b"])
    with pytest.raises(ValueError, match="labels must hold one entry per image"):
        AttentionExplorerState(model, images, labels=[0])
    with pytest.raises(ValueError, match=r"images must be \(n, C, H, W\)"):
        AttentionExplorerState(model, images[0])


def test_both_pictures_are_large_and_clickable_and_nothing_else_is(state):
    view = AttentionExplorerFigure(state, show_text=False)
    height = view.figure.canvas.get_width_height()[1]
    view.figure.canvas.draw()
    plain, mapped = view.ax_plain.get_window_extent(), view.ax_image.get_window_extent()
    for box in (plain, mapped):
        assert min(box.width, box.height) >= 320  # pixels of the PNG the widget shows at its own width

    def click(box, fx, fy):  # a point at fractions (fx, fy) of a picture, in PNG pixels (y down)
        return state.click(*view.image_pixel(box.x0 + fx * box.width, height - (box.y1 - fy * box.height)))

    assert click(plain, 0.3, 0.6) == click(mapped, 0.3, 0.6) == 2 * 4 + 1  # row 2, col 1 of the 4 x 4 grid
    assert view.figure.axes[2].get_ylabel() == "attention / its maximum"  # the colour bar
    right_of_everything = view.figure.axes[2].get_window_extent().x1 + 5
    assert state.click(*view.image_pixel(right_of_everything, height / 2)) is None


def test_the_caption_lists_the_likeliest_classes(state):
    box = attention_explorer_widget(state)
    caption = box.children[2].value
    names = [name for name, _ in state.top_classes()]
    assert len(names) == 3 and all(name in caption for name in names)
    assert f"<b>{names[0]}" in caption and "Click a patch" in caption
    probabilities = [p for _, p in state.top_classes(5)]
    assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 1) < 1e-6
