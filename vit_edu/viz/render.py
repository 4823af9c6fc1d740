"""Turning a matplotlib figure into PNG bytes for an ``ipywidgets.Image``.

The explorers draw on a :class:`matplotlib.figure.Figure` made without pyplot (so nothing is
shown twice and no global backend state is touched), update its artists in place
(``set_data``), and hand the PNG bytes to an ``ipywidgets.Image``. That renders the same in
JupyterLab, in a plain kernel (nbval) and in an exported HTML page, where the Image widget's
stored value is the static fallback.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float = 6.0, height: float = 4.0, dpi: int = 80) -> Figure:
    """A pyplot-free figure with an Agg canvas attached."""
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def figure_to_png(figure: Figure) -> bytes:
    """Draw ``figure`` and return it as PNG bytes (deterministic for the same artists)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi, metadata={"Software": None})
    return buffer.getvalue()
