"""Progress bars for work that takes more than a few seconds, the same in a terminal and in a notebook.

A bar is plain text on standard output, redrawn in place (``\\r``): JupyterLab, a terminal, a CI log
and the static site all show it, no widget state is needed, and once the work ends the cell keeps
one line, e.g. ``training: 100%|####################| 600/600 [00:27<00:00, 22.1 step/s, loss=0.1]``.
The part in brackets (times, speed and the figures after them) changes from run to run and from
machine to machine; the lessons' nbval settings replace it (``notebooks/nbval_sanitize.cfg``), so a
stored lesson compares equal on any machine.

    with progress_bar(total=len(images), desc="deleting patches", unit="image") as bar:
        for chunk in chunks:
            ...
            bar.update(len(chunk))
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from vit_edu.checks import check_int

T = TypeVar("T")

# Everything that varies between runs sits inside the final brackets: elapsed<remaining, the rate
# and the postfix (a loss, an accuracy).
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def progress_bar(total: int, desc: str, unit: str = "step", enabled: bool = True):
    """A tqdm bar on standard output with the course's format; use it as a context manager.

    Args:
        total: how many units the work has (``update`` adds to the count).
        desc: what is running, e.g. ``"training"``.
        unit: what one unit is, e.g. ``"step"`` or ``"image"``.
        enabled: ``False`` shows nothing (the bar still counts).
    """
    from tqdm import tqdm

    check_int(total, "total", minimum=0)
    if not isinstance(desc, str) or not desc.strip():
        raise ValueError(f"desc must say what is running (a non-empty str), got {desc!r}.")
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stdout, ascii=" #",
                bar_format=BAR_FORMAT, mininterval=0.5, leave=True, dynamic_ncols=False)


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "item",
          enabled: bool = True) -> Iterator[T]:
    """Yield ``items`` while a :func:`progress_bar` counts them (``total`` defaults to ``len(items)``)."""
    if total is None:
        if not hasattr(items, "__len__"):
            raise ValueError("items has no length: pass total=, the number of items it yields.")
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(total, desc, unit, enabled) as bar:
        for item in items:
            yield item
            bar.update(1)


def postfix(bar: Any, **values: float) -> None:
    """Show ``values`` after the bar (rounded to 3 decimals), without forcing a redraw."""
    bar.set_postfix({name: f"{value:.3f}" for name, value in values.items()}, refresh=False)


def collapse_redrawn_output(notebook: Any) -> bool:
    """Store every progress bar of an executed notebook as the one line it ends as; True if anything changed.

    A kernel sends each redraw of a bar as its own piece of output; JupyterLab draws only the last, but
    the file keeps them all (and a code host shows them all). This merges consecutive stream outputs of
    the same name and keeps, on every line, what follows its last carriage return, as a terminal does.
    """
    changed = False
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        merged: list[Any] = []
        for output in cell.outputs:
            previous = merged[-1] if merged else None
            if (output.output_type == "stream" and previous is not None and previous.output_type == "stream"
                    and previous.name == output.name):
                previous.text += output.text
                changed = True
            else:
                merged.append(output)
        for output in merged:
            if output.output_type == "stream" and "\r" in output.text:
                lines = output.text.split("\n")
                output.text = "\n".join(line.rsplit("\r", 1)[-1].rstrip() if "\r" in line else line
                                        for line in lines)
                changed = True
        cell.outputs = merged
    return changed
