"""Interactive explorers for the lessons, one module per widget.

Each module holds a plain state class (all computation, tested by pytest without a browser),
a static figure function drawn by the same code, and a thin ipywidgets view that wires controls
to the state and redraws by updating existing artists. ``ipywidgets`` is imported only inside
the view functions, so the state classes work without Jupyter.

What a widget says to a student (labels, button texts, status lines) goes through
:func:`vit_edu.language.tr`, so it follows ``vit_edu.use_language``; the figures stay English
(their text is drawn inside ``vit_edu.language.speaking("en")``).
"""
