"""Widgets in a real JupyterLab driven by headless Chromium: run the lesson, interact, see the picture change.

One private JupyterLab (127.0.0.1, random port and token) serves copies of the lessons from a
temporary folder, so running them never rewrites the repository's notebooks.
"""

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import torch
from support.browser import find_chromium, watch_offline

from vit_edu import ViT, preset

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CALCULATOR_LESSON = "05_parameter_count.ipynb"
EXPLORER_LESSON = "07_attention_maps.ipynb"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None and not os.environ.get("CI"),
                       reason="Chromium is not installed (apt-get install -y chromium); CI installs it, never skips"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from support.browser import chromium
    from support.jupyterlab import JupyterLabServer

    root = tmp_path_factory.mktemp("lab")
    for name in (CALCULATOR_LESSON, EXPLORER_LESSON):
        if (NOTEBOOKS / name).is_file():
            shutil.copy(NOTEBOOKS / name, root / name)
    # The Chinese edition's attention lesson up to its explorer (what follows it does not change the widget)
    chinese = nbformat.read(NOTEBOOKS / "zh" / EXPLORER_LESSON, as_version=4)
    explorer = next(i for i, cell in enumerate(chinese.cells) if "attention_explorer_widget(" in cell.source)
    chinese.cells = chinese.cells[:explorer + 1]
    (root / "zh").mkdir()
    nbformat.write(chinese, root / "zh" / EXPLORER_LESSON)
    with JupyterLabServer(root) as server, chromium(viewport=(1400, 1000)) as context:
        yield server, context


def run_lesson(lab, name):
    from support.jupyterlab import open_notebook, run_all_cells

    server, context = lab
    page = context.new_page()
    log = watch_offline(page)
    open_notebook(page, server, name)
    cells = run_all_cells(page)
    errors = [(i, c["errors"]) for i, c in enumerate(cells) if c["errors"]]
    assert not errors, f"{name}: cells raised in JupyterLab: {errors}"
    return page, log


def reference_total(name, **overrides):
    with torch.device("meta"):
        model = ViT.from_config(preset(name, **overrides))
    return sum(p.numel() for p in model.parameters())


def table_total(output):
    text = output.locator(".widget-html").first.inner_text()
    match = re.search(r"total\s+([\d,]+)", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def test_parameter_calculator_redraws_in_jupyterlab(lab):
    from support.jupyterlab import cell_output, image_digest, wait_for_new_image

    page, log = run_lesson(lab, CALCULATOR_LESSON)
    output = cell_output(page, "parameter_calculator_widget(")
    picture = output.locator(".widget-image").first
    first = image_digest(picture)
    assert table_total(output) == reference_total("B/16")

    output.locator(".widget-dropdown select").first.select_option(label="S/16")
    second = wait_for_new_image(picture, first)
    assert table_total(output) == reference_total("S/16")

    depth = output.locator(".widget-slider", has_text="depth").locator(".noUi-handle")
    depth.focus()
    depth.press("ArrowRight")  # L: 12 -> 13
    wait_for_new_image(picture, second)
    assert table_total(output) == reference_total("S/16", depth=13)
    page.close()
    assert log.page_errors == [] and log.blocked_requests == [], log.problems


# What a student sees in each edition: the layer control's label, its options, the clicked-patch button.
EXPLORER_WORDS = {"en": ("layer", "layer {}", "clicked patch"), "zh": ("层", "第 {} 层", "点击的图像块")}


@pytest.mark.parametrize("language", ["zh"])
def test_attention_explorer_reacts_to_layer_and_clicks_in_jupyterlab(lab, language):
    """The attention lesson's explorer in JupyterLab, run from the Chinese edition: the same code as the English
    lesson (whose labels the widget tests check without a browser), and the Chinese student's way from the
    course to the explorer, its controls in Chinese. ``EXPLORER_WORDS["en"]`` runs it in English."""
    from support.jupyterlab import cell_output, image_digest, wait_for_new_image

    layer_label, option, clicked = EXPLORER_WORDS[language]
    page, log = run_lesson(lab, EXPLORER_LESSON if language == "en" else f"zh/{EXPLORER_LESSON}")
    output = cell_output(page, "attention_explorer_widget(")
    canvas = output.locator("img[alt='click a patch']").first
    canvas.scroll_into_view_if_needed()
    first = image_digest(canvas)

    layer = output.locator(".widget-dropdown", has_text=layer_label).locator("select")
    current = layer.evaluate("select => select.options[select.selectedIndex].text")
    layer.select_option(label=option.format(0) if current != option.format(0) else option.format(1))
    second = wait_for_new_image(canvas, first)

    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.2, "y": box["height"] * 0.5})  # a patch left of centre
    wait_for_new_image(canvas, second)
    active = output.locator(".widget-toggle-button.mod-active").first.inner_text()
    assert clicked in active
    page.close()
    assert log.page_errors == [] and log.blocked_requests == [], log.problems
