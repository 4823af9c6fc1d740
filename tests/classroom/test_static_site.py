"""The static site: lessons exported to HTML read offline in headless Chromium.

All lessons are exported from their stored outputs (cheap) and opened offline: no console errors,
no requests leaving the machine, every figure loaded, every stored widget rendered, equations
typeset. Executing during export is proven on one lesson and on a small notebook with anywidgets
(whose front end is not in the html-manager bundle and must fall back to their picture).
"""

import base64
import copy
import os
from pathlib import Path

import nbformat
import pytest
from support.browser import find_chromium, static_page_summary, watch_offline

from vit_edu.classroom.site import (
    EXPLORE_NOTE,
    MISSING_STATE_NOTE,
    WIDGET_STATE,
    WIDGET_VIEW,
    export_html,
    freeze_controls,
    replace_explainers,
    replace_unbundled_widgets,
)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
EXECUTED_LESSON = "05_parameter_count"  # widgets (dropdown, sliders, image, HTML table), about 10 s
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
                       "AAAABJRU5ErkJggg==")  # a 1x1 PNG

needs_chromium = pytest.mark.skipif(find_chromium() is None and not os.environ.get("CI"),
                                    reason="Chromium is not installed (apt-get install -y chromium); "
                                           "CI installs it and never skips")


def expected_counts(nb):
    """Figures and widget views of a notebook, counted from its JSON (an explainer becomes HTML, not a view)."""
    nb = copy.deepcopy(nb)
    replace_explainers(nb)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    figures = views = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and data[WIDGET_VIEW]["model_id"] in state:
                views += 1
            elif any(key in data for key in ("image/png", "image/jpeg", "image/svg+xml")):
                figures += 1
    return figures, views


def anywidget_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Anywidget fallbacks\n\nThe grid has $N = HW/P^2$ patches."),
        nbformat.v4.new_code_cell(
            "import base64\nimport ipywidgets as widgets\nfrom vit_edu.widgets.clickable_image import ClickableImage\n"
            f"picture = ClickableImage()\npicture.set_png(base64.b64decode({base64.b64encode(PNG).decode()!r}))\n"
            "widgets.VBox([widgets.IntSlider(3, description='layer'), picture])"),
        nbformat.v4.new_code_cell(
            "import anywidget, traitlets\nclass Counter(anywidget.AnyWidget):\n"
            "    _esm = 'export default { render({ model, el }) { el.textContent = model.get(\"value\"); } }'\n"
            "    value = traitlets.Int(1).tag(sync=True)\nCounter()"),
    ]
    return nb


def stored_widget_notebook():
    """A notebook with the widget state that a kernel would store, built in this process (no kernel)."""
    import anywidget
    import ipywidgets as widgets
    import traitlets
    from ipywidgets.embed import dependency_state

    from vit_edu.widgets.clickable_image import ClickableImage

    class Counter(anywidget.AnyWidget):
        _esm = "export default { render({ model, el }) { el.textContent = model.get('value'); } }"
        value = traitlets.Int(1).tag(sync=True)

    picture = ClickableImage()
    picture.set_png(PNG)
    views = [widgets.VBox([widgets.IntSlider(3, description="layer"), picture]), Counter()]
    nb = nbformat.v4.new_notebook()
    nb.metadata.widgets = {WIDGET_STATE: {"version_major": 2, "version_minor": 0,
                                          "state": dependency_state(views, drop_defaults=True)}}
    nb.cells = [nbformat.v4.new_code_cell("view", outputs=[nbformat.v4.new_output(
        "display_data", data={WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": view.model_id},
                              "text/plain": repr(type(view).__name__)})]) for view in views]
    for view in views:
        view.close()
    return nb


def test_unbundled_widgets_become_their_picture_or_a_note():
    nb = stored_widget_notebook()
    state = nb.metadata.widgets[WIDGET_STATE]["state"]
    before = copy.deepcopy(state)
    anywidgets = {k for k, v in before.items() if v["model_module"] == "anywidget"}
    assert len(anywidgets) == 2
    replaced = replace_unbundled_widgets(nb)
    assert set(replaced) == anywidgets and sorted(replaced.values()) == ["image", "note"]
    for model_id, kind in replaced.items():
        entry = state[model_id]
        assert entry["model_module"] == "@jupyter-widgets/controls"
        if kind == "image":
            assert entry["model_name"] == "ImageModel"
            assert base64.b64decode(entry["buffers"][0]["data"]) == PNG
        else:
            assert entry["model_name"] == "HTMLModel" and "kernel" in entry["state"]["value"]
        for value in entry["state"].values():  # references resolve
            if isinstance(value, str) and value.startswith("IPY_MODEL_"):
                assert value[len("IPY_MODEL_"):] in state
    for model_id, entry in before.items():  # bundled models untouched
        if model_id not in anywidgets:
            assert state[model_id] == entry
    # a view whose model was not stored becomes a note, never the widget's text repr
    nb.cells[0].outputs[0]["data"][WIDGET_VIEW]["model_id"] = "lost"
    assert replace_unbundled_widgets(nb) == {"lost": "missing"}
    assert nb.cells[0].outputs[0]["data"]["text/html"] == MISSING_STATE_NOTE
    assert "VBox" not in str(nb.cells[0].outputs[0]["data"])


def test_controls_are_shown_disabled_with_a_note_under_their_widget():
    nb = stored_widget_notebook()
    state = nb.metadata.widgets[WIDGET_STATE]["state"]
    sliders = [k for k, v in state.items() if v["model_name"] == "IntSliderModel"]
    assert len(sliders) == 1 and not state[sliders[0]]["state"].get("disabled", False)
    assert freeze_controls(nb) == 1
    assert state[sliders[0]]["state"]["disabled"] is True
    notes = [o for cell in nb.cells for o in cell.outputs if o.get("data", {}).get("text/html") == EXPLORE_NOTE]
    assert len(notes) == 2  # one under each widget view
    assert freeze_controls(nbformat.v4.new_notebook()) == 0


@pytest.mark.slow
def test_a_lesson_saved_without_widget_state_exports_notes_and_warns(tmp_path):
    """JupyterLab saves a run lesson without its widget state unless told to: the page must not show reprs."""
    source = tmp_path / "lessons"
    source.mkdir()
    nb = nbformat.read(NOTEBOOKS / f"{EXECUTED_LESSON}.ipynb", as_version=4)
    views = sum(WIDGET_VIEW in o.get("data", {}) for cell in nb.cells for o in cell.get("outputs", []))
    assert views >= 1
    nb.metadata.pop("widgets", None)  # what an autosave after a JupyterLab run leaves
    nbformat.write(nb, source / f"{EXECUTED_LESSON}.ipynb")
    with pytest.warns(UserWarning, match=f"{views} widget view"):
        [page] = export_html(tmp_path / "site", source=source, execute=False)
    text = page.read_text(encoding="utf-8")
    assert "VBox(" not in text and "HBox(" not in text and "Dropdown(" not in text
    assert text.count("its state was not saved") == views


@pytest.mark.slow
def test_the_index_is_a_course_map(tmp_path):
    from vit_edu.course.catalogue import load_catalogue

    lessons = load_catalogue()[:2]
    export_html(tmp_path, lessons=[lesson.label for lesson in lessons], execute=False, languages=["en"])
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    for lesson in lessons:
        assert f'href="{lesson.filename.removesuffix(".ipynb")}.html">{lesson.title}</a>' in index
        assert f"{lesson.study} min" in index and lesson.paper in index
    assert index.count("about ") >= 2  # the measured run times of the two lessons' headers


@pytest.mark.slow
def test_export_guards_files_and_arguments(tmp_path):
    [page] = export_html(tmp_path, lessons=[LESSONS[0].stem], execute=False, languages=["en"])
    assert page.name == f"{LESSONS[0].stem}.html" and (tmp_path / "index.html").is_file()
    assert (tmp_path / "_static" / "embed-amd.js").is_file() and (tmp_path / "_static" / "mathjax").is_dir()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_html(tmp_path, lessons=[LESSONS[0].stem], execute=False, languages=["en"])
    export_html(tmp_path, lessons=[LESSONS[0].stem], execute=False, overwrite=True, languages=["en"])
    with pytest.raises(TypeError, match="mathjax"):
        export_html(tmp_path / "b", lessons=[LESSONS[0].stem], execute=False, mathjax=True)


@pytest.mark.slow
def test_the_site_speaks_both_languages(tmp_path):
    """The Chinese pages sit in zh/, every page links to its twin, and the site's own words follow the page."""
    from vit_edu.course.catalogue import load_catalogue
    from vit_edu.language import catalogue, current_language

    english, chinese = export_html(tmp_path, lessons=[EXECUTED_LESSON], execute=False)
    assert chinese == tmp_path / "zh" / english.name and current_language() == "en"
    english_page, chinese_page = english.read_text(encoding="utf-8"), chinese.read_text(encoding="utf-8")
    assert f'href="zh/{english.name}" hreflang="zh"' in english_page
    assert f'href="../{english.name}" hreflang="en"' in chinese_page
    assert 'src="../_static/require.js"' in chinese_page and 'src="_static/' not in chinese_page
    assert '<html lang="zh">' in chinese_page
    explore = catalogue("zh")[EXPLORE_NOTE]
    assert explore in chinese_page and EXPLORE_NOTE not in chinese_page and EXPLORE_NOTE in english_page
    lesson = next(entry for entry in load_catalogue() if entry.filename == f"{EXECUTED_LESSON}.ipynb")
    index = (tmp_path / "zh" / "index.html").read_text(encoding="utf-8")
    assert f">{lesson.title_zh}</a>" in index and f"{lesson.study} 分钟" in index and "约 " in index
    assert 'href="../index.html" hreflang="en"' in index and '<html lang="zh">' in index
    assert 'href="zh/index.html" hreflang="zh"' in (tmp_path / "index.html").read_text(encoding="utf-8")
    only_english = tmp_path / "lessons"
    only_english.mkdir()
    nbformat.write(nbformat.read(NOTEBOOKS / f"{EXECUTED_LESSON}.ipynb", as_version=4),
                   only_english / f"{EXECUTED_LESSON}.ipynb")
    with pytest.raises(ValueError, match=r"python scripts/chinese_edition\.py"):
        export_html(tmp_path / "b", source=only_english, execute=False, languages=["zh"])
    with pytest.raises(ValueError, match="'en', 'zh'"):
        export_html(tmp_path / "c", lessons=[EXECUTED_LESSON], execute=False, languages=["fr"])
    with pytest.raises(TypeError, match="list"):
        export_html(tmp_path / "d", lessons=[EXECUTED_LESSON], execute=False, languages="zh")


@pytest.fixture(scope="module")
def stored_site(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("site")
    export_html(outdir, execute=False, languages=["en"])  # the Chinese pages: test_the_site_speaks_both_languages
    return outdir


@pytest.fixture(scope="module")
def browser_context():
    from support.browser import chromium

    with chromium() as context:
        yield context


def open_offline(context, page_path, expected_views):
    page = context.new_page()
    log = watch_offline(page)
    page.goto(page_path.as_uri())
    summary = static_page_summary(page, expected_views)
    page.close()
    return summary, log


@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_exported_lesson_reads_offline(stored_site, browser_context, path):
    nb = nbformat.read(path, as_version=4)
    figures, views = expected_counts(nb)
    summary, log = open_offline(browser_context, stored_site / f"{path.stem}.html", views)
    assert log.problems == [], log.problems
    assert summary["figures"] == summary["loadedFigures"] == figures, summary
    assert summary["renderedWidgets"] >= views and summary["widgetErrors"] == 0, summary
    assert summary["loadedWidgetImages"] == summary["widgetImages"], summary
    has_math = any(cell.cell_type == "markdown" and "$" in cell.source for cell in nb.cells)
    assert summary["mathErrors"] == 0 and (summary["math"] > 0) == has_math, summary


@pytest.mark.browser
@needs_chromium
def test_index_links_every_lesson(stored_site, browser_context):
    page = browser_context.new_page()
    log = watch_offline(page)
    page.goto((stored_site / "index.html").as_uri())
    links = page.eval_on_selector_all(".lessons a", "links => links.map(a => a.getAttribute('href'))")
    page.close()
    assert links == [f"{p.stem}.html" for p in LESSONS] and log.problems == []
    assert all((stored_site / link).is_file() for link in links)


@pytest.mark.browser
@needs_chromium
def test_executed_export_renders_widgets_and_anywidget_fallbacks(tmp_path, browser_context):
    source = tmp_path / "lessons"
    source.mkdir()
    (source / f"{EXECUTED_LESSON}.ipynb").write_bytes((NOTEBOOKS / f"{EXECUTED_LESSON}.ipynb").read_bytes())
    nbformat.write(anywidget_notebook(), source / "99_anywidgets.ipynb")
    pages = export_html(tmp_path / "site", source=source)
    lesson, anywidgets = pages
    summary, log = open_offline(browser_context, lesson, expected_views=1)
    assert log.problems == [] and summary["sliders"] >= 7 and summary["dropdowns"] >= 1, (summary, log.problems)
    assert summary["widgetImages"] == summary["loadedWidgetImages"] >= 1
    summary, log = open_offline(browser_context, anywidgets, expected_views=2)
    assert log.problems == [], log.problems
    assert summary["loadedWidgetImages"] == 1 and summary["sliders"] == 1 and summary["math"] == 1, summary
