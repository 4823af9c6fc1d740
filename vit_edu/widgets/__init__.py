"""Interactive explorers for the lessons, one module per widget.

Each module holds a plain state class (all computation, tested by pytest without a browser),
a static figure function drawn by the same code, and a thin ipywidgets view that wires controls
to the state and redraws by updating existing artists. ``ipywidgets`` is imported only inside
the view functions, so the state classes work without Jupyter.

What a widget says to a student (labels, button texts, status lines) goes through
:func:`vit_edu.language.tr`, so it follows ``vit_edu.use_language``; the figures stay English
(their text is drawn inside :func:`in_english`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from vit_edu.language import current_language, use_language


@contextlib.contextmanager
def in_english() -> Iterator[None]:
    """Within the block, :func:`~vit_edu.language.tr` speaks English: for text drawn into a figure."""
    language = current_language()
    use_language("en")
    try:
        yield
    finally:
        use_language(language)
