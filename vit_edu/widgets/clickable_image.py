"""A PNG that reports where it was clicked: a tiny ``anywidget`` (no build step, no network).

Why this mechanism: click-to-select has to work in a real JupyterLab. Two ways were tried
there: an ``anywidget`` element and ipympl's ``button_press_event``. Both receive real browser
clicks, but the anywidget gives exact pixel coordinates of the picture the student sees, with no
toolbar, pan/zoom mode or double display (ipympl needs ``plt.ioff()``) getting in the way, and it
needs no extra front-end extension: anywidget ships its JavaScript inside the Python object.

Protocol (two synced traitlets):
- ``png``: the picture, base64 PNG text; Python sets it, the browser shows it in an ``<img>``.
- ``click``: ``{"x": ..., "y": ..., "count": n}``, set by the browser on every click; x (right)
  and y (down) are in pixels of the PNG itself (the CSS scale of the ``<img>`` is undone), and
  ``count`` grows so that two clicks on the same pixel are two changes.

Python observes ``click`` and maps the PNG pixel to whatever was drawn there (see
``AttentionExplorerFigure.image_pixel``).
"""

from __future__ import annotations

import base64

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  const img = document.createElement("img");
  img.style.cursor = "crosshair";
  img.style.maxWidth = "100%";
  img.alt = "click a patch";
  const show = () => { img.src = "data:image/png;base64," + model.get("png"); };
  show();
  model.on("change:png", show);
  img.addEventListener("click", (event) => {
    const box = img.getBoundingClientRect();
    const x = (event.clientX - box.left) * img.naturalWidth / box.width;
    const y = (event.clientY - box.top) * img.naturalHeight / box.height;
    const count = (model.get("click").count || 0) + 1;
    model.set("click", { x: x, y: y, count: count });
    model.save_changes();
  });
  el.appendChild(img);
  return () => model.off("change:png", show);
}
export default { render };
"""


class ClickableImage(anywidget.AnyWidget):
    """Shows PNG bytes and reports clicks as PNG pixel coordinates (see the module docstring)."""

    _esm = _ESM
    png = traitlets.Unicode("").tag(sync=True)
    click = traitlets.Dict({}).tag(sync=True)

    def set_png(self, data: bytes) -> None:
        """Show new PNG bytes (they travel base64-encoded)."""
        if not isinstance(data, (bytes, bytearray)) or not bytes(data[:8]) == b"\x89PNG\r\n\x1a\n":
            raise ValueError("data must be the bytes of a PNG file, e.g. vit_edu.viz.render.figure_to_png(fig).")
        self.png = base64.b64encode(bytes(data)).decode("ascii")

    def _repr_keys(self):
        # The picture is long and machine-dependent text: keep it out of the text repr (nbval compares it).
        return [key for key in super()._repr_keys() if key not in ("png", "click")]
