"""The ViT explainer stays interactive: in the exported static site (no kernel, nothing from the network,
drawn by ``_static/vit_explainer.js`` from the bundle stored with the widget) and in a real JupyterLab.

A tiny lesson shows the explainer on the committed shapes model; it is exported with execution and opened
offline in Chromium, and opened and run in JupyterLab. Each click must change what the page shows; the
static page's pixels are compared with colours computed here from the model's own attention.
"""

import json
import os
import re

import nbformat
import numpy as np
import pytest
import torch
from support.browser import find_chromium, watch_offline

from vit_edu.classroom.site import WIDGET_STATE, WIDGET_VIEW, freeze_controls, replace_unbundled_widgets

LESSON = "01_vit_explainer.ipynb"
SETUP_CODE = """from vit_edu.data.shapes import SHAPE_CLASSES
from vit_edu.training.recipes import course_shapes, load_course_model
from vit_edu.widgets.vit_explainer import ExplainerState, explainer_widget

shapes = course_shapes(3, seed=101)
state = ExplainerState(load_course_model("shapes"), shapes.images, class_names=SHAPE_CLASSES,
                       names=[f"shape {i}" for i in range(3)])"""
WIDGET_CODE = "explainer_widget(state)"
OPACITY = 0.55  # of the map over the image (vit_explainer.js, as in the Python figure)
LOCAL = ("file://", "data:", "blob:", "about:")

needs_chromium = pytest.mark.skipif(find_chromium() is None and not os.environ.get("CI"),
                                    reason="Chromium is not installed (apt-get install -y chromium); "
                                           "CI installs it and never skips")


def explainer_lesson() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# The explainer\n\nEvery stage of $z_0$ to $z_L$."),
                nbformat.v4.new_code_cell(SETUP_CODE), nbformat.v4.new_code_cell(WIDGET_CODE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def course():
    """The model and the three images the lesson shows, in this process."""
    from vit_edu.data.shapes import SHAPE_CLASSES
    from vit_edu.training.recipes import course_shapes, load_course_model

    return load_course_model("shapes"), course_shapes(3, seed=101).images, SHAPE_CLASSES


def inferno() -> np.ndarray:
    from matplotlib import colormaps

    return np.rint(np.asarray(colormaps["inferno"].colors) * 255)  # (256, 3)


# --- the site's replacement, without a kernel or a browser ------------------------------------------------
def test_the_export_swaps_the_explainer_for_the_static_script(tiny_vit, tmp_path):
    import ipywidgets as widgets
    from ipywidgets.embed import dependency_state

    from vit_edu.widgets.vit_explainer import BUNDLE_FORMAT, ExplainerState, explainer_widget

    state = ExplainerState(tiny_vit().eval(), torch.rand(2, 3, 16, 16))
    box = explainer_widget(state, save_folder=tmp_path)
    slider = widgets.IntSlider(3)
    views = [box, slider]
    nb = nbformat.v4.new_notebook()
    nb.metadata.widgets = {WIDGET_STATE: {"version_major": 2, "version_minor": 0,
                                          "state": dependency_state(views, drop_defaults=True)}}
    nb.cells = [nbformat.v4.new_code_cell("view", outputs=[nbformat.v4.new_output(
        "display_data", data={WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": view.model_id},
                              "text/plain": "view"})]) for view in views]
    stored = nb.metadata.widgets[WIDGET_STATE]["state"]
    slider_models = {slider.model_id, slider.layout.model_id, slider.style.model_id}
    assert len(stored) > len(slider_models) + 5
    bundle_text, box_id = box.canvas.bundle, box.model_id
    for view in views:
        view.close()

    assert replace_unbundled_widgets(nb) == {box_id: "explainer"}
    html = nb.cells[0].outputs[0]["data"]["text/html"]
    assert WIDGET_VIEW not in nb.cells[0].outputs[0]["data"]
    data = re.search(r'<script type="application/json" id="([\w-]+)-data">(.*?)</script>', html, flags=re.S)
    assert data and f'<div id="{data.group(1)}"' in html and '<script src="_static/vit_explainer.js">' in html
    assert json.loads(data.group(2)) == json.loads(bundle_text) and json.loads(bundle_text)["format"] == BUNDLE_FORMAT
    assert set(stored) == slider_models  # the explainer's models (and their large bundle) left the page's state
    assert freeze_controls(nb) == 1 and len(nb.cells[0].outputs) == 1  # no "run in JupyterLab" note under it


# --- the browser ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lesson_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lessons")
    nbformat.write(explainer_lesson(), folder / LESSON)
    return folder


@pytest.fixture(scope="module")
def browser_context():
    from support.browser import chromium

    with chromium(viewport=(1400, 1000)) as context:
        yield context


def canvas_pixels(canvas, left: int, top: int, width: int, height: int) -> np.ndarray:
    """(height, width, 3) RGB of a canvas region, in canvas pixels."""
    data = canvas.evaluate("(c, r) => Array.from(c.getContext('2d').getImageData(r[0], r[1], r[2], r[3]).data)",
                           [left, top, width, height])
    return np.asarray(data, dtype=float).reshape(height, width, 4)[..., :3]


def click_canvas(canvas, x: float, y: float) -> None:
    """Click canvas pixel (x, y), whatever the CSS size of the canvas."""
    box, size = canvas.bounding_box(), canvas.evaluate("c => [c.width, c.height]")
    canvas.click(position={"x": x * box["width"] / size[0], "y": y * box["height"] / size[1]})


def snapshot(canvas) -> str:
    return canvas.evaluate("c => c.toDataURL()")


@pytest.mark.browser
@needs_chromium
def test_the_static_site_explainer_answers_clicks_offline(lesson_folder, browser_context, course, tmp_path):
    from vit_edu.analysis.forward_trace import trace_forward
    from vit_edu.classroom.site import export_html

    model, images, _ = course
    [page_path] = export_html(tmp_path / "site", source=lesson_folder, mathjax=None)
    assert (tmp_path / "site" / "_static" / "vit_explainer.js").is_file()
    page = browser_context.new_page()
    log = watch_offline(page)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(page_path.as_uri())
    page.wait_for_selector("canvas.vit-explainer-heads")
    root = page.locator("div.vit-explainer")
    image_canvas, heads = root.locator("canvas.vit-explainer-image"), root.locator("canvas.vit-explainer-heads")
    detail, title = root.locator("pre.vit-explainer-detail"), root.locator(".vit-explainer-title")
    assert detail.inner_text().startswith("blocks:\nblock 3:")  # the last layer, head 0, as in the widget
    trace = trace_forward(model, images[0])
    attentions = trace.attentions  # (L, k, T, T)
    lut, gh, gw, patch_size = inferno(), 8, 8, 4

    # the raw map of layer 3 under image 0: each patch centre = image pixel blended with the map's colour
    before = snapshot(image_canvas)
    root.locator("button[data-map='raw']").click()
    assert snapshot(image_canvas) != before
    raw = attentions.mean(dim=1)[3, 0, 1:]
    levels = np.rint(255 * (raw / raw.max()).numpy()).astype(int)  # (N,)
    side = image_canvas.evaluate("c => c.width") // gw
    shown = canvas_pixels(image_canvas, 0, 0, side * gw, side * gh)[side // 2::side, side // 2::side]  # (gh, gw, 3)
    centre = patch_size // 2
    picture = np.rint(images[0].permute(1, 2, 0).numpy() * 255)[centre::patch_size, centre::patch_size]
    expected = (1 - OPACITY) * picture + OPACITY * lut[levels].reshape(gh, gw, 3)
    assert np.abs(shown - expected).max() <= 6

    # a stage: its detail
    root.locator("button[data-stage='embedding']").click()
    assert detail.inner_text().splitlines()[:2] == ["embedding:", "x_p E: N x D = 64 x 64"]

    # a head thumbnail (layer 1, head 2): the detail of that block and head, the marker moves
    layout = json.loads(heads.evaluate("c => c.dataset.layout"))
    pitch_x, pitch_y = layout["tileWidth"] + layout["gap"], layout["tileHeight"] + layout["gap"]
    tile_left, tile_top = layout["left"] + 2 * pitch_x, layout["top"] + 1 * pitch_y
    before = snapshot(heads)
    click_canvas(heads, tile_left + layout["tileWidth"] / 2, tile_top + layout["tileHeight"] / 2)
    lines = detail.inner_text().splitlines()
    assert lines[0] == "blocks:" and lines[1].startswith("block 1:") and "head 2, the class token" in lines[3]
    assert snapshot(heads) != before

    # a patch (row 3, column 5): the thumbnails show its attention row
    before_heads, before_image = snapshot(heads), snapshot(image_canvas)
    click_canvas(image_canvas, (5 + 0.5) * side, (3 + 0.5) * side)
    assert "query: patch (3, 5)" in title.inner_text()
    assert snapshot(heads) != before_heads and snapshot(image_canvas) != before_image
    row = attentions[1, 2, 1 + 3 * gw + 5]  # (T,) the patch's attention in layer 1, head 2
    stored = np.rint(255 * (row / row.max()).numpy())  # the bundle's documented quantisation
    levels = np.rint(255 * stored[1:] / stored[1:].max()).astype(int)
    cell = layout["tileWidth"] // gw
    shown = canvas_pixels(heads, tile_left, tile_top, cell * gw, cell * gh)[cell // 2::cell, cell // 2::cell]
    assert np.abs(shown - lut[levels].reshape(gh, gw, 3)).max() <= 6  # one colour-map step at most

    click_canvas(image_canvas, (5 + 0.5) * side, (3 + 0.5) * side)  # again: back to the class token
    assert "query: the class token" in title.inner_text() and snapshot(heads) == before_heads
    page.close()
    assert log.problems == [], log.problems
    assert requests and all(url.startswith(LOCAL) for url in requests), [u for u in requests if not u.startswith(LOCAL)]


def png_point(view, ax, x: float, y: float) -> tuple[float, float]:
    """Data coordinates of ``ax`` -> the PNG pixel (x right, y down), as tests/widgets/test_vit_explainer.py."""
    view.figure.canvas.draw()
    px, py = ax.transData.transform((x, y))
    return float(px), view.figure.canvas.get_width_height()[1] - float(py)


@pytest.mark.browser
@needs_chromium
def test_the_explainer_answers_clicks_in_jupyterlab(lesson_folder, browser_context, course, tmp_path):
    from support.browser import wait_until
    from support.jupyterlab import JupyterLabServer, cell_output, image_digest, open_notebook, run_all_cells

    from vit_edu.analysis.forward_trace import STAGES
    from vit_edu.widgets.vit_explainer import ExplainerFigure, ExplainerState

    model, images, class_names = course
    view = ExplainerFigure(ExplainerState(model, images[:1], class_names=class_names), show_text=False)  # the layout
    (tmp_path / LESSON).write_bytes((lesson_folder / LESSON).read_bytes())
    with JupyterLabServer(tmp_path) as server:
        page = browser_context.new_page()
        log = watch_offline(page)
        open_notebook(page, server, LESSON)
        cells = run_all_cells(page)
        assert not [cell["errors"] for cell in cells if cell["errors"]]
        output = cell_output(page, WIDGET_CODE)
        picture = output.locator("img[alt='click a patch']").first
        picture.scroll_into_view_if_needed()
        natural = wait_until(lambda: picture.evaluate("img => img.naturalWidth && [img.naturalWidth, "
                                                      "img.naturalHeight]"), 30, message="the explainer's picture")
        assert tuple(natural) == view.figure.canvas.get_width_height()

        def click_and_wait(ax, x: float, y: float, text: str) -> None:
            before = image_digest(picture)
            png_x, png_y = png_point(view, ax, x, y)
            box = picture.bounding_box()
            picture.click(position={"x": png_x * box["width"] / natural[0], "y": png_y * box["height"] / natural[1]})
            wait_until(lambda: image_digest(picture) != before and text in output.inner_text(), 30,
                       message=f"a new picture and {text!r}")

        click_and_wait(view.ax_stages, STAGES.index("embedding") + 0.5, 0.5, "x_p E: N x D = 64 x 64")
        click_and_wait(view.ax_heads, 2 * 9 + 3.5, 1 * 9 + 3.5, "block 1:")  # tile (layer 1, head 2) of 8 x 8 cells
        click_and_wait(view.ax_image, 5 * 4 + 1.5, 3 * 4 + 1.5, "query: patch (3, 5)")  # image pixel in patch (3, 5)
        page.close()
    assert log.page_errors == [] and log.blocked_requests == [], log.problems
