"""The course's figures: one style, pyplot-free figures, and PNG bytes for an ``ipywidgets.Image``.

**Style.** Every figure of the course reads at the size the notebook shows it: text of at least
:data:`MIN_TEXT_PT` points, at least :data:`MIN_DPI` pixels per inch (a 6-inch figure is 600 pixels
wide, shown at its natural width, never stretched), a colour bar on every heatmap whose values
matter, and labels beside images, not over them. :func:`figure_style_problems` checks a drawn
figure against these rules (the tests run it on every figure the package draws);
:func:`apply_course_style` sets matplotlib's defaults to them (``setup_lesson`` calls it, so
figures a lesson draws itself follow them too).

The explorers draw on a :class:`matplotlib.figure.Figure` made without pyplot (so nothing is
shown twice and no global backend state is touched), update its artists in place
(``set_data``), and hand the PNG bytes to an ``ipywidgets.Image``. That renders the same in
JupyterLab, in a plain kernel (nbval) and in an exported HTML page, where the Image widget's
stored value is the static fallback.
"""

from __future__ import annotations

import io
import weakref

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MIN_DPI = 100
MIN_TEXT_PT = 9.0
MAX_WIDTH_PX = 1100  # JupyterLab's output column on a 1920-pixel screen: a wider picture is shrunk, its text with it
COURSE_RC = {"figure.dpi": MIN_DPI, "savefig.dpi": MIN_DPI, "font.size": 10.0, "axes.titlesize": 10.0,
             "axes.labelsize": 10.0, "xtick.labelsize": MIN_TEXT_PT, "ytick.labelsize": MIN_TEXT_PT,
             "legend.fontsize": MIN_TEXT_PT, "legend.title_fontsize": MIN_TEXT_PT, "figure.titlesize": 11.0}
_CREATED: weakref.WeakSet = weakref.WeakSet()  # figures made by new_figure (the tests check their style)


def apply_course_style() -> None:
    """Set matplotlib's defaults (``rcParams``) to the course's figure style."""
    matplotlib.rcParams.update(COURSE_RC)


def new_figure(width: float = 6.0, height: float = 4.0, dpi: int = MIN_DPI) -> Figure:
    """A pyplot-free figure with an Agg canvas attached, at least :data:`MIN_DPI` pixels per inch."""
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or dpi < MIN_DPI:
        raise ValueError(f"dpi must be a number >= {MIN_DPI} (the course's figures stay sharp at the width they are "
                         f"shown), got {dpi!r}; make the figure smaller in inches instead.")
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    _CREATED.add(figure)
    return figure


def created_figures() -> list[Figure]:
    """The figures :func:`new_figure` made that are still alive."""
    return list(_CREATED)


def _undrawn_tick_labels(figure: Figure) -> set[int]:
    """ids of the tick labels matplotlib keeps but does not draw (ticks outside the axis' view)."""
    hidden = set()
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            margin = 1e-9 * max(1.0, abs(high - low))
            shown = ax.axison and axis.get_visible()
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                location = tick.get_loc()
                if not shown or location is None or not low - margin <= location <= high + margin:
                    hidden.update((id(tick.label1), id(tick.label2)))
    return hidden


def figure_style_problems(figure: Figure) -> list[str]:
    """What in a figure breaks the course's style (empty when nothing does); draws the figure first.

    Checks: resolution >= :data:`MIN_DPI`; width <= :data:`MAX_WIDTH_PX` pixels; every visible text
    >= :data:`MIN_TEXT_PT` points and inside the figure; no axis label or title lies over the image of
    another axes.
    """
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

    problems = []
    if figure.dpi < MIN_DPI:
        problems.append(f"dpi {figure.dpi:g} < {MIN_DPI}")
    width = figure.get_figwidth() * figure.dpi
    if width > MAX_WIDTH_PX + 0.5:
        problems.append(f"{width:.0f} pixels wide > {MAX_WIDTH_PX}: the notebook would shrink it and its text")
    figure.canvas.draw()
    if figure.get_layout_engine() is not None:
        figure.canvas.draw()  # a layout engine places titles on the first draw, the texts follow on the next
    renderer = figure.canvas.get_renderer()
    seen = _undrawn_tick_labels(figure)
    page = figure.bbox.padded(1.0)
    for text in figure.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in seen:
            continue
        seen.add(id(text))
        if text.get_fontsize() < MIN_TEXT_PT - 1e-6:
            problems.append(f"text {text.get_text()[:40]!r} is {text.get_fontsize():g} pt < {MIN_TEXT_PT:g} pt")
        box = text.get_window_extent(renderer)
        if box.x0 < page.x0 or box.x1 > page.x1 or box.y0 < page.y0 or box.y1 > page.y1:
            problems.append(f"text {text.get_text()[:40]!r} runs off the figure")
    image_boxes = [(ax, ax.get_window_extent(renderer)) for ax in figure.axes
                   if any(isinstance(artist, AxesImage) for artist in ax.get_images())]
    for ax in figure.axes:
        for label in (ax.xaxis.label, ax.yaxis.label, ax.title):
            if not label.get_visible() or not label.get_text().strip():
                continue
            box = label.get_window_extent(renderer)
            for other, image_box in image_boxes:
                if other is not ax and box.overlaps(image_box.shrunk(0.98, 0.98)):
                    problems.append(f"label {label.get_text()[:40]!r} lies over the image of another axes")
    return problems


def figure_to_png(figure: Figure) -> bytes:
    """Draw ``figure`` and return it as PNG bytes (deterministic for the same artists)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi, metadata={"Software": None})
    return buffer.getvalue()


class BlitRenderer:
    """PNG bytes of a figure in which only some artists change, fast: the rest is drawn once.

    The first :meth:`render` draws the figure without the ``dynamic`` artists and keeps that
    background; every render restores it and draws the dynamic artists on top, in the order given
    (give them in matplotlib's drawing order: images, patches, lines, spines, texts, and include
    what lies on top of a changing image, e.g. grid lines). ``figure_to_png`` still draws everything.
    """

    def __init__(self, figure: Figure, dynamic: list) -> None:
        self.figure, self.dynamic, self._background = figure, list(dynamic), None

    def render(self) -> bytes:
        import numpy as np
        import PIL.Image

        canvas = self.figure.canvas
        if self._background is None:
            for artist in self.dynamic:
                artist.set_animated(True)  # left out of a full draw
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            for artist in self.dynamic:
                artist.set_animated(False)
        canvas.restore_region(self._background)
        for artist in self.dynamic:
            self.figure.draw_artist(artist)
        buffer = io.BytesIO()
        PIL.Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()
