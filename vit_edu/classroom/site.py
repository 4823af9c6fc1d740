"""A static HTML site of the course: every lesson executed and exported, readable offline.

``export_html(outdir)`` runs each lesson in a fresh kernel (widget state stored), converts it with
nbconvert's ``lab`` template and writes an ``index.html``. The pages load nothing from the
network: the front-end files are copied from ``vit_edu/classroom/static`` into ``outdir/_static``

- ``embed-amd.js`` (``@jupyter-widgets/html-manager``) and ``require.js`` render the stored
  widgets (sliders, dropdowns, images) in their last state, without a kernel;
- ``mathjax/tex-svg-full.js`` (MathJax 3) typesets the equations (``mathjax=None`` leaves them as
  LaTeX source, ``mathjax="https://..."`` loads another build).

Widgets whose front end is not in the html-manager bundle (anywidget, ipympl, ...) would render
blank (or try a CDN) in such a page, so their stored state is replaced: by an image widget showing
their last picture when they hold one (a base64 PNG), else by a short note. A widget whose state
was never saved (JupyterLab saves a notebook without it unless told to) would show as its Python
repr; it becomes a note instead, with a warning. Controls cannot change anything without a kernel,
so they are shown disabled, with "run the lesson in JupyterLab to explore" under the widget.

One widget stays interactive: the ViT explainer (:func:`vit_edu.widgets.vit_explainer.explainer_widget`)
stores everything it can show in its picture's ``bundle`` (an ``ExplainerCanvas``). The output that
displays it becomes a ``<div>``, the bundle as ``<script type="application/json">`` and a call of
``_static/vit_explainer.js``, which draws the explainer in the browser (stages, maps, patches, heads,
logit lens) from that data alone; the explainer's widget models leave the page's widget state.

The Chinese edition (``notebooks/zh``, see :mod:`vit_edu.course.translation`) becomes ``zh/`` beside the
English pages, with its own index; every page links to the same page in the other language, and the
notes the site writes (above) are in the page's language.

The index page is the course map: each lesson's title, what it teaches, its paper sections and its
study and run times (from the course catalogue and the lesson's header card).
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import warnings
from collections.abc import Iterable
from importlib import resources as importlib_resources
from pathlib import Path

import nbformat

from vit_edu.checks import check_int, check_output_path
from vit_edu.classroom.editions import lesson_paths
from vit_edu.language import current_language, speaking, tr
from vit_edu.widgets.picture import png_size

STATIC_DIR = "_static"
STATIC_FILES = ("embed-amd.js", "embed-amd.js.LICENSE.txt", "LICENSE-html-manager.txt", "require.js",
                "vit_explainer.js")
MATHJAX_FILES = ("mathjax/tex-svg-full.js", "mathjax/LICENSE")
BUNDLED_WIDGET_MODULES = ("@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output")
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The notes below are English templates of vit_edu.language.tr: a Chinese page shows their Chinese entries.
KERNEL_ONLY_NOTE = ("<em>This interactive view needs a running Python kernel: open the lesson in JupyterLab. "
                    "The static figure beside it shows the same picture.</em>")
MISSING_STATE_NOTE = ("<em>An interactive view was here, but its state was not saved with the notebook: run the "
                      "lesson in JupyterLab to explore it. The static figure beside it shows the same picture.</em>")
EXPLORE_NOTE = "<em>Run the lesson in JupyterLab to explore: the controls above show their last state.</em>"
CONTROL_MODELS = ("DropdownModel", "IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "IntRangeSliderModel",
                  "FloatRangeSliderModel", "SelectionSliderModel", "SelectionRangeSliderModel", "ToggleButtonsModel",
                  "ToggleButtonModel", "ButtonModel", "CheckboxModel", "RadioButtonsModel", "SelectModel",
                  "SelectMultipleModel", "TextModel", "IntTextModel", "FloatTextModel", "BoundedIntTextModel",
                  "BoundedFloatTextModel", "PlayModel", "ComboboxModel")
_PNG_BASE64 = re.compile(r"^(data:image/png;base64,)?(iVBORw0KGgo[A-Za-z0-9+/=]+)$")
_MODEL_REFERENCE = re.compile(r"IPY_MODEL_(\w+)")
EXPLAINER_TEXT = "(the ViT explainer, drawn by _static/vit_explainer.js)"

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_mathjax -%}
{%- if resources.mathjax_url -%}
<script>
// MathJax 3, plus the one MathJax 2 call that the widget manager makes (MathJax.Hub.Queue) mapped onto it.
(function () {
  var current = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
                       processEscapes: true, processEnvironments: true, tags: 'ams'},
                 svg: {fontCache: 'global'}};
  var hub = {Queue: function (job) {
    var mathjax = current, element = job && job[2];
    if (mathjax && mathjax.startup && mathjax.typesetPromise) {
      mathjax.startup.promise.then(function () { return mathjax.typesetPromise(element ? [element] : undefined); });
    }
  }};
  Object.defineProperty(window, 'MathJax', {configurable: true, get: function () { return current; },
    set: function (value) { current = value; if (value && !value.Hub) { value.Hub = hub; } }});
  current.Hub = hub;
}());
</script>
<script defer src="{{ resources.mathjax_url }}"></script>
{%- endif -%}
{%- endblock html_head_js_mathjax -%}
{% block body_header %}{{ super() }}{{ resources.vit_edu_nav }}{% endblock body_header %}
{% block body_footer %}{{ resources.vit_edu_nav }}{{ super() }}{% endblock body_footer %}
"""


def lesson_title(nb: nbformat.NotebookNode, default: str = "") -> str:
    """The text of the notebook's first level-1 Markdown heading (``# ...``), else ``default``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if match:
                return match.group(1).strip()
    return default


def _png_in(entry: dict) -> bytes | None:
    for value in entry.get("state", {}).values():
        match = _PNG_BASE64.match(value) if isinstance(value, str) else None
        if match:
            return base64.b64decode(match.group(2))
    for buffer in entry.get("buffers", []):
        data = base64.b64decode(buffer.get("data", ""))
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return data
    return None


def _explainer_bundle_in(entry: dict) -> str | None:
    """The bundle JSON text of a stored ``ExplainerCanvas`` (see the module docstring), else ``None``."""
    text = entry.get("state", {}).get("bundle")
    if not isinstance(text, str) or not text:
        return None
    from vit_edu.widgets.vit_explainer import BUNDLE_FORMAT

    try:
        bundle = json.loads(text)
    except json.JSONDecodeError:
        return None
    return text if isinstance(bundle, dict) and bundle.get("format") == BUNDLE_FORMAT else None


def _models_of(widget_state: dict, model_id: str) -> set[str]:
    """``model_id`` and every stored model its state refers to (children, layout, style...), recursively."""
    found, todo = set(), [model_id]
    while todo:
        current = todo.pop()
        if current in found or current not in widget_state:
            continue
        found.add(current)
        todo += _MODEL_REFERENCE.findall(json.dumps(widget_state[current].get("state", {})))
    return found


def _explainer_html(bundle: str, model_id: str) -> str:
    """The static explainer: a ``<div>``, the bundle as JSON data and the call of ``vit_explainer.js``."""
    element = "vit-explainer-" + re.sub(r"\W", "", model_id)
    data = bundle.replace("<", "\\u003c")  # valid JSON that cannot close the <script> element
    return (f'<div id="{element}" class="vit-explainer"></div>\n'
            f'<script type="application/json" id="{element}-data">{data}</script>\n'
            f'<script src="{STATIC_DIR}/vit_explainer.js"></script>\n'
            f'<script>vitExplainer(document.getElementById("{element}"), '
            f'JSON.parse(document.getElementById("{element}-data").textContent));</script>')


def replace_explainers(nb: nbformat.NotebookNode) -> list[str]:
    """Make each output that shows a ViT explainer with a stored bundle the static explainer (in place).

    The models reachable only from those outputs are removed from the notebook's widget state.

    Returns:
        The model ids of the replaced widget views.
    """
    widget_state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced, remaining = [], []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None or view.get("model_id") not in widget_state:
                continue
            models = sorted(_models_of(widget_state, view["model_id"]))
            bundle = next((text for text in map(_explainer_bundle_in, (widget_state[m] for m in models)) if text),
                          None)
            if bundle is None:
                remaining.append(view["model_id"])
                continue
            output["data"] = {"text/html": _explainer_html(bundle, view["model_id"]), "text/plain": EXPLAINER_TEXT}
            replaced.append(view["model_id"])
    kept = set().union(*(_models_of(widget_state, model_id) for model_id in remaining))
    for model_id in set().union(*(_models_of(widget_state, model_id) for model_id in replaced)) - kept:
        del widget_state[model_id]
    return replaced


def _fallback_state(model_id: str, png: bytes | None) -> dict[str, dict]:
    """Widget-state entries of a bundled widget (Image or HTML) that stands in for ``model_id``."""
    import ipywidgets
    from ipywidgets.embed import dependency_state

    if png:  # shown at its own pixel width, as an <img> would be
        widget = ipywidgets.Image(value=png, format="png", width=str(png_size(png)[0]))
    else:
        widget = ipywidgets.HTML(value=tr(KERNEL_ONLY_NOTE))
    try:
        state = dependency_state([widget], drop_defaults=True)
        main_id = widget.model_id
    finally:
        for created in (widget, widget.layout, getattr(widget, "style", None)):
            if created is not None:
                created.close()
    text = json.dumps(state)
    text = text.replace(main_id, model_id)
    for i, other in enumerate(other for other in state if other != main_id):
        text = text.replace(other, f"{model_id}_fallback_{i}")
    return json.loads(text)


def replace_unbundled_widgets(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Make the notebook's stored widgets renderable by the html-manager bundle alone (in place).

    A ViT explainer with a stored bundle becomes the static explainer (:func:`replace_explainers`);
    models from other front-end modules become an Image of their last PNG, or an HTML note;
    widget-view outputs whose model is not stored become a note (never the widget's text repr).

    Returns:
        ``{model_id: "explainer" | "image" | "note" | "missing"}`` for each replaced view or model.
    """
    replaced = dict.fromkeys(replace_explainers(nb), "explainer")
    widget_state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for model_id, entry in list(widget_state.items()):
        modules = {entry.get("model_module"), entry.get("state", {}).get("_view_module")} - {None}
        if modules <= set(BUNDLED_WIDGET_MODULES):
            continue
        png = _png_in(entry)
        widget_state.update(_fallback_state(model_id, png))
        replaced[model_id] = "image" if png else "note"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is not None and view.get("model_id") not in widget_state:
                output["data"] = {"text/html": tr(MISSING_STATE_NOTE),
                                  "text/plain": "(an interactive view: run the lesson in JupyterLab to explore it)"}
                replaced[view.get("model_id", "")] = "missing"
    return replaced


def freeze_controls(nb: nbformat.NotebookNode) -> int:
    """Show the stored widgets' controls disabled and put a "run in JupyterLab" note under each widget (in place).

    Without a kernel a slider would move while its picture stays: it should not pretend to work.

    Returns:
        The number of controls disabled.
    """
    widget_state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    frozen = 0
    for entry in widget_state.values():
        if entry.get("model_name") in CONTROL_MODELS:
            entry.setdefault("state", {})["disabled"] = True
            frozen += 1
    if not frozen:
        return 0
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            outputs.append(output)
            if output.get("data", {}).get(WIDGET_VIEW, {}).get("model_id") in widget_state:
                outputs.append(nbformat.v4.new_output("display_data", data={"text/html": tr(EXPLORE_NOTE),
                                                                            "text/plain": "(run in JupyterLab)"}))
        if "outputs" in cell:
            cell["outputs"] = outputs
    return frozen


def execute_lesson(nb: nbformat.NotebookNode, cwd: str | Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run all cells in a fresh ``python3`` kernel in ``cwd``, storing widget state (in place)."""
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


LANGUAGE_NAMES = {"en": "English", "zh": "中文"}


def _nav(paths: list[Path], index: int, switch: str = "") -> str:
    """The links above and below a page: previous lesson, course index, next lesson, the other language."""
    links = [f'<a href="index.html">{html.escape(tr("Course index"))}</a>']
    if index > 0:
        links.insert(0, f'<a href="{paths[index - 1].stem}.html">&larr; {html.escape(paths[index - 1].stem)}</a>')
    if index + 1 < len(paths):
        links.append(f'<a href="{paths[index + 1].stem}.html">{html.escape(paths[index + 1].stem)} &rarr;</a>')
    if switch:
        links.append(switch)
    return f'<nav class="vit-edu-nav" style="margin:1em 0;font-family:sans-serif">{" | ".join(links)}</nav>'


def _switch(language: str, languages: list[str], page: str) -> str:
    """The link to the same page in the other language ("" when the site has one language)."""
    if len(languages) < 2:
        return ""
    other = next(code for code in languages if code != language)
    target = f"zh/{page}" if other == "zh" else f"../{page}"
    return (f'<a class="vit-edu-language" href="{target}" hreflang="{other}" lang="{other}">'
            f'{LANGUAGE_NAMES[other]}</a>')


def _run_time(nb: nbformat.NotebookNode) -> str:
    """The run time the lesson's header card states ("about 10 s", "约 10 秒"), or "" when it has none."""
    for cell in nb.cells[:2]:
        match = (re.search(r"\*\*Run time:\*\*\s*([^·\n]+?)(?: on [^·\n]*)?$", cell.source, flags=re.M)
                 or re.search(r"\*\*运行时间：\*\*\s*(?:在[^·\n]*?核上)?([^·\n]+?)$", cell.source, flags=re.M))
        if cell.cell_type == "markdown" and match:
            return match.group(1).strip()
    return ""


INDEX_TITLE = "vit_edu &mdash; the Vision Transformer, built and seen step by step"
INDEX_INTRO = ("The lessons as they were last run: code, outputs, figures and widgets in their last state. To move a "
               "slider or click a patch, run the lessons in JupyterLab (see the repository's README).")


def _index_page(entries: list[tuple[Path, str, str]], mathjax_url: str, language: str = "en", switch: str = "") -> str:
    """The site's course map: one row per lesson with what it teaches, paper, study and run time."""
    from nbconvert.filters import markdown2html

    from vit_edu.course.catalogue import load_catalogue, paper_sections

    catalogue = {lesson.filename: lesson for lesson in load_catalogue()}
    rows = []
    for path, title, run_time in entries:
        lesson = catalogue.get(path.name)
        learn = lesson.learn_zh if lesson and language == "zh" else lesson.learn if lesson else ""
        learn = markdown2html(learn).removeprefix("<p>").removesuffix("</p>").strip()
        title = re.sub(r"^(Lesson [0-9]+|第 [0-9]+ 课) — ", "", title)
        study = tr("{minutes} min", minutes=lesson.study) if lesson else ""
        rows.append(f'<tr><td>{html.escape(path.stem[:2])}</td><td><a href="{path.stem}.html">'
                    f'{html.escape(title)}</a></td><td>{learn}</td>'
                    f'<td>{html.escape(paper_sections(lesson, language)) if lesson else ""}</td>'
                    f'<td>{study}</td><td>{html.escape(run_time)}</td></tr>')
    script = f'<script defer src="{html.escape(mathjax_url)}"></script>' if mathjax_url else ""
    headings = "".join(f"<th>{html.escape(name)}</th>" for name in
                       ("#", tr("lesson"), tr("what you learn"), tr("paper"), tr("study time"), tr("run time")))
    return f"""<!DOCTYPE html>
<html lang="{language}"><head><meta charset="utf-8"><title>{tr("vit_edu: the Vision Transformer course")}</title>
<script>window.MathJax = {{tex: {{inlineMath: [['$', '$']]}}}};</script>{script}
<style>body{{font-family:sans-serif;max-width:64em;margin:2em auto;line-height:1.5}}
table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:.4em .6em;vertical-align:top;text-align:left}}
</style></head>
<body>{f'<nav class="vit-edu-nav">{switch}</nav>' if switch else ""}<h1>{tr(INDEX_TITLE)}</h1>
<p>{html.escape(tr(INDEX_INTRO))}</p>
<table class="lessons">
<tr>{headings}</tr>
{chr(10).join(rows)}
</table></body></html>
"""


def _static_sources(mathjax: str | None) -> dict[str, Path]:
    root = Path(str(importlib_resources.files("vit_edu.classroom") / "static"))
    names = STATIC_FILES + (MATHJAX_FILES if mathjax == "local" else ())
    return {name: root / name for name in names}


def site_editions(paths: list[Path], languages: Iterable[str] | None = None) -> dict[str, list[Path]]:
    """language -> the lessons to export in it: ``paths`` in English, the same lessons of the ``zh/`` folder
    beside them in Chinese.

    Args:
        paths: the English lessons.
        languages: ``("en", "zh")``, ``("en",)`` or ``("zh",)``; ``None`` exports Chinese too when every
            lesson of ``paths`` has its Chinese edition.
    """
    chinese = [path.parent / "zh" / path.name for path in paths]
    complete = all(path.is_file() for path in chinese)
    if languages is None:
        return {"en": paths, "zh": chinese} if complete else {"en": paths}
    if isinstance(languages, str):
        raise TypeError(f"languages must be a list such as ['en', 'zh'], got the string {languages!r}.")
    wanted = list(dict.fromkeys(languages))
    unknown = [code for code in wanted if code not in LANGUAGE_NAMES]
    if not wanted or unknown:
        raise ValueError(f"languages={list(languages)!r}: choose among {list(LANGUAGE_NAMES)}.")
    if "zh" in wanted and not complete:
        missing = next(path for path in chinese if not path.is_file())
        raise ValueError(f"languages includes 'zh' but {missing} does not exist: build the Chinese edition "
                         "(python scripts/chinese_edition.py) or pass languages=['en'].")
    return {code: paths if code == "en" else chinese for code in wanted}


def export_html(outdir: str | Path, source: str | Path | None = None, lessons: Iterable[str | int] | None = None,
                overwrite: bool = False, execute: bool = True, mathjax: str | None = "local",
                timeout: int | None = 600, progress: bool = False,
                languages: Iterable[str] | None = None) -> list[Path]:
    """Execute and export lessons to ``outdir/NN_name.html`` with an ``index.html``; returns the pages.

    The Chinese edition (``source/zh``) goes to ``outdir/zh/``, and every page links to itself in the
    other language.

    Args:
        outdir: folder for the site (created if missing).
        source: folder of the lessons (default: the repository's ``notebooks/``).
        lessons: lesson numbers or names (default: all).
        overwrite: replace files that already exist in ``outdir``.
        execute: run each lesson first (``False`` exports the stored outputs as they are).
        mathjax: ``"local"`` (the vendored MathJax 3), ``None`` (equations stay LaTeX source) or a URL.
        timeout: seconds allowed per cell when executing (``None``: no limit).
        progress: show a progress bar over the lessons.
        languages: which editions, e.g. ``["en"]`` (default: English, and Chinese when ``source/zh`` has
            the lessons; :func:`site_editions`).

    Raises:
        RuntimeError: a lesson raised while executing (its name and the error are in the message).
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    if mathjax is not None and not isinstance(mathjax, str):
        raise TypeError(f"mathjax must be 'local', None or a URL string, got {mathjax!r}.")
    if timeout is not None:  # nbclient's "no limit"
        check_int(timeout, "timeout", hint=" (seconds per cell, or None for no limit)")
    editions = site_editions(lesson_paths(source, lessons), languages)
    outdir = check_output_path(outdir, "outdir", folder=True)
    folders = {code: outdir if code == "en" else outdir / code for code in editions}
    statics = _static_sources(mathjax)
    pages = {code: [folders[code] / f"{path.stem}.html" for path in paths] for code, paths in editions.items()}
    existing = [p for code in editions for p in [*pages[code], folders[code] / "index.html"] if p.exists()]
    targets = {outdir / STATIC_DIR / name: src for name, src in statics.items()}
    existing += [dst for dst, src in targets.items() if dst.exists() and dst.read_bytes() != src.read_bytes()]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} file(s) would be overwritten, e.g. {existing[0]}; "
                              "pass overwrite=True (--force on the command line) or choose another folder.")
    mathjax_url = f"{STATIC_DIR}/mathjax/tex-svg-full.js" if mathjax == "local" else mathjax or ""
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"vit_edu_lesson.html.j2": _TEMPLATE})],
                            template_file="vit_edu_lesson.html.j2", require_js_url=f"{STATIC_DIR}/require.js",
                            widget_renderer_url=f"{STATIC_DIR}/embed-amd.js",
                            mathjax_url=mathjax_url)
    outdir.mkdir(parents=True, exist_ok=True)
    for target, src in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    from tqdm.auto import tqdm

    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    ups = {code: "" if folders[code] == outdir else "../" for code in editions}  # from a page to _static/
    entries: dict[str, list[tuple[Path, str, str]]] = {code: [] for code in editions}
    jobs = [(code, index, path) for code, paths in editions.items() for index, path in enumerate(paths)]
    for code, index, path in tqdm(jobs, desc="export", disable=not progress):
        page = pages[code][index]
        with speaking(code):
            nav = _nav(editions[code], index, _switch(code, list(editions), page.name))
            entries[code].append((path, *_export_page(path, page, exporter, execute, timeout, nav, ups[code])))
    for code in editions:
        with speaking(code):
            (folders[code] / "index.html").write_text(
                _index_page(entries[code], ups[code] + mathjax_url if mathjax == "local" else mathjax_url, code,
                            _switch(code, list(editions), "index.html")), encoding="utf-8")
    return [page for code in editions for page in pages[code]]


def _export_page(path: Path, page: Path, exporter, execute: bool, timeout: int | None, nav: str,
                 up: str = "") -> tuple[str, str]:
    """Export one lesson to ``page`` in the current language; ``up`` leads from the page's folder to the site's
    (``"../"`` for the Chinese pages). Returns the lesson's title and stated run time."""
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    if execute:
        try:
            execute_lesson(nb, cwd=path.parent, timeout=timeout)
        except CellExecutionError as error:
            raise RuntimeError(f"{path.name} raised while executing; fix it or export with execute=False "
                               f"(--no-execute):\n{str(error)[-2000:]}") from error
    missing = [kind for kind in replace_unbundled_widgets(nb).values() if kind == "missing"]
    if missing:
        warnings.warn(f"{path.name}: {len(missing)} widget view(s) have no saved state (JupyterLab saved the "
                      "notebook without it); the page shows a note there instead. Export with execute=True "
                      "(without --no-execute) to render them.", stacklevel=3)
    freeze_controls(nb)
    title = lesson_title(nb, default=f"Lesson {path.stem[:2]}: {path.stem[3:].replace('_', ' ')}")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}, "vit_edu_nav": nav})
    body = re.sub(r'href="(\d\d_\w+)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)  # links between lessons
    body = body.replace(f'="{STATIC_DIR}/', f'="{up}{STATIC_DIR}/')  # the shared front-end files
    body = body.replace('<html lang="en">', f'<html lang="{current_language()}">', 1)
    page.write_text(body, encoding="utf-8")
    return title, _run_time(nb)
