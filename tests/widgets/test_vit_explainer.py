"""The ViT explainer without a browser: what each part shows, what each click chooses, and that the fast
redraw gives the same picture as a full draw."""

import io

import numpy as np
import PIL.Image
import pytest
import torch

from vit_edu.analysis.forward_trace import STAGES
from vit_edu.viz.render import figure_to_png
from vit_edu.widgets.vit_explainer import ExplainerFigure, ExplainerState, explainer_figure, explainer_widget


@pytest.fixture
def state(perturbed_vit):
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    return ExplainerState(perturbed_vit(depth=3, heads=2, weight_init="timm"), images, class_names=list("abcde"),
                          names=["x", "y", "z"])


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def png_point(view: ExplainerFigure, ax, x: float, y: float) -> tuple[float, float]:
    """Data coordinates of ``ax`` -> the PNG pixel (x right, y down) a browser click reports."""
    view.figure.canvas.draw()
    px, py = ax.transData.transform((x, y))
    return float(px), view.figure.canvas.get_width_height()[1] - float(py)


def test_thumbnails_are_the_querys_attention_rows(state):
    attentions = state.trace.attentions  # (L, k, T, T)
    torch.testing.assert_close(state.head_rows(), attentions[:, :, 0, 1:])
    state.select_patch(5)
    torch.testing.assert_close(state.head_rows(), attentions[:, :, 6, 1:])  # token 6 = patch 5
    mosaic = state.head_mosaic()
    assert mosaic.shape == (3 * 5 - 1, 2 * 5 - 1) and np.isnan(mosaic[4]).all()  # 4 x 4 tiles, NaN gaps
    tile = attentions[1, 1, 6, 1:].reshape(4, 4)
    np.testing.assert_allclose(mosaic[5:9, 5:9], (tile / tile.max()).numpy(), rtol=1e-6)


def test_the_map_under_the_image_follows_the_choice(state):
    for kind in ("raw", "rollout", "flow", "gradient"):
        assert state.set_map(kind).current_map().max() == pytest.approx(1.0)
    state.set_map("gradient", target=3)
    expected = state.maps["gradient"][3]
    torch.testing.assert_close(state.current_map(), expected / expected.max())
    state.set_map("raw").set_layer(1)
    torch.testing.assert_close(state.current_map(), state.maps["raw"][1] / state.maps["raw"][1].max())


def test_clicks_choose_a_stage_a_patch_a_head_and_a_layer(state):
    view = ExplainerFigure(state, show_text=False)
    assert view.click(*png_point(view, view.ax_stages, STAGES.index("embedding") + 0.5, 0.5)) == "stage"
    assert state.stage == "embedding"
    assert view.click(*png_point(view, view.ax_image, 9.0, 5.0)) == "patch"  # pixel (x 9, y 5): row 1, col 2
    assert state.patch == 1 * 4 + 2
    assert view.click(*png_point(view, view.ax_image, 9.0, 5.0)) == "patch" and state.patch is None  # back
    assert view.click(*png_point(view, view.ax_heads, 1 * 5 + 1.5, 2 * 5 + 1.5)) == "head"  # tile (layer 2, head 1)
    assert (state.layer, state.head, state.stage) == (2, 1, "blocks")
    assert view.click(*png_point(view, view.ax_lens, 0.0, 1.0)) == "layer" and state.layer == 0
    assert view.click(1.0, 1.0) is None  # the corner: nothing there


def test_the_fast_redraw_is_the_full_picture(state):
    view = ExplainerFigure(state, show_text=False)
    view.render()
    state.set_image(2).select_patch(3).set_head(1, 0)
    state.set_map("flow")
    fast = view.update().render()
    assert np.abs(pixels(fast) - pixels(figure_to_png(view.figure))).max() <= 2


def test_every_stage_states_its_real_shapes(state):
    trace = state.trace
    expected = {"image": "3 x 16 x 16", "patches": "16 x 48", "embedding": "16 x 32", "class token": "T = N + 1 = 17",
                "positions": "17 x 32", "blocks": "2 x 17 x 17", "final norm": "D = 32", "head": "K = 5"}
    for stage in STAGES:
        text = " ".join(state.set_stage(stage).detail())
        assert expected[stage] in text, (stage, text)
    top = int(trace.probabilities.argmax())
    assert f"{float(trace.probabilities[top]):.1%}" in " ".join(state.set_stage("head").detail())


def test_the_static_figure_and_the_saved_files(state, tmp_path):
    figure = explainer_figure(state, image=1, stage="head", layer=2, head=1, patch=7, map="gradient", target=2)
    assert "y: predicted" in "".join(text.get_text() for text in figure.texts)
    view = ExplainerFigure(state)
    png = view.save(tmp_path / "view.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        view.save(png)
    assert b"<svg" in view.save(tmp_path / "view.svg").read_bytes()[:400]
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        view.save(tmp_path / "view.jpg")
    with pytest.raises(TypeError, match="unknown choices"):
        explainer_figure(state, colour="red")


def test_the_widget_redraws_on_controls_and_clicks_and_never_overwrites(state, tmp_path):
    box = explainer_widget(state, save_folder=tmp_path)
    first = box.canvas.png
    box.controls["map"].value = "flow"
    assert box.canvas.png != first and state.map_kind == "flow"
    box.controls["image"].value = 2
    assert state.index == 2 and "z: predicted" in box.detail.value
    point = png_point(box.view, box.view.ax_heads, 1.5, 5 + 1.5)  # tile (layer 1, head 0)
    box.canvas.click = {"x": point[0], "y": point[1], "count": 1}
    assert (state.layer, state.head) == (1, 0) and "block 1" in box.detail.value
    box.controls["save_png"].click()
    box.controls["save_png"].click()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["vit_explainer_z_blocks.png",
                                                                "vit_explainer_z_blocks_2.png"]


def test_bad_input_is_refused_clearly(state, tiny_vit):
    with pytest.raises(ValueError, match=r"layer must be an int in 0\.\.2"):
        state.set_head(3, 0)
    with pytest.raises(ValueError, match="map kind"):
        state.set_map("saliency")
    with pytest.raises(ValueError, match=r"patch must be an int in 0\.\.15"):
        state.select_patch(16)
    with pytest.raises(ValueError, match="class_names must hold K = 5"):
        ExplainerState(tiny_vit(), torch.rand(1, 3, 16, 16), class_names=["a"])
    with pytest.raises(ValueError, match="\\(n, C, H, W\\)"):
        ExplainerState(tiny_vit(), torch.rand(3, 16, 16))
