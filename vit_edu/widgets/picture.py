"""The picture of a widget, shown at its natural width.

An ``ipywidgets.Image`` inside a ``VBox`` is a flex item, and a flex column stretches its items to
the box's width: a 600-pixel PNG in a 1,150-pixel notebook column is drawn twice as wide and blurred.
:func:`picture` makes an Image that keeps the PNG's own width (and shrinks only when the column is
narrower); :func:`show` sets a new PNG on it.
"""

from __future__ import annotations

from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels of PNG bytes, read from the file's header."""
    if isinstance(data, memoryview):  # what an Image widget's value holds
        data = data.tobytes()
    if not isinstance(data, (bytes, bytearray)) or data[:8] != PNG_SIGNATURE or len(data) < 24:
        raise ValueError("data must be the bytes of a PNG file, e.g. vit_edu.viz.render.figure_to_png(figure).")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def picture(data: bytes) -> Any:
    """An ``ipywidgets.Image`` showing the PNG ``data`` at its natural width."""
    import ipywidgets as widgets

    image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start", max_width="100%",
                                                              height="auto"))
    return show(image, data)


def show(image: Any, data: bytes) -> Any:
    """Put new PNG ``data`` on ``image`` (made by :func:`picture`), keeping its natural width; returns it."""
    width, _ = png_size(data)
    image.value = bytes(data)
    image.width = str(width)
    return image
