"""Result tables of the sweeps: one row (a dict) per run, summarised over seeds and looked up by keys.

The sweeps (:mod:`vit_edu.training.data_efficiency`, :mod:`vit_edu.training.transfer`) return one
row per training run, e.g. ``{"task": "digits", "model": "vit", "fraction": 0.1, "seed": 0,
"test_accuracy": 0.83, ...}``; their benchmark scripts store the rows and their summary in
``benchmarks/results/*.json``, and the lessons re-run one row live and compare it with the table.

- :func:`summarize`: mean, sample standard deviation, min and max of a value over the rows of
  each group (e.g. over seeds, per task, model and fraction);
- :func:`find_row`: the one row whose fields equal the given keys;
- :func:`load_result_table`: a stored table of ``benchmarks/results``, found from any working folder (the
  English lessons run in ``notebooks/``, the Chinese ones in ``notebooks/zh/``).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

Row = dict[str, Any]
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


class RowNotFoundError(KeyError):
    """No row of a table matches: a ``KeyError`` (a failed lookup) whose message prints as plain text."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _check_rows(rows: object) -> None:
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a list of dicts (one per run), got {type(rows).__name__}.")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"rows[{index}] must be a dict, got {type(row).__name__}.")


def _sort_key(value: Any, order: Sequence | None) -> tuple:
    # A listed value sorts by its place in ``order`` and before any unlisted one; None sorts last
    # (e.g. per_class=None, "all the labels", after every number).
    if order is not None and value in order:
        return (0, order.index(value), False, 0)
    if value is None:
        return (1, 0, True, 0)
    return (1, 0, False, value)


def summarize(
    rows: Sequence[Mapping[str, Any]], by: Sequence[str], *, value: str = "test_accuracy",
    order: Mapping[str, Sequence] | None = None,
) -> list[Row]:
    """One row per group of ``rows`` with equal ``by`` fields: the spread of ``value`` over its rows.

    Args:
        rows: one dict per run; every row must have the fields ``by`` and ``value``.
        by: the fields that name a group, e.g. ``("task", "model", "fraction")`` (the other fields,
            typically ``seed``, are summarised over).
        value: the numeric field to summarise.
        order: optional ``{field: values}`` for fields whose groups should come in that order
            (e.g. ``{"method": METHODS}``); other fields sort by value, ``None`` last.

    Returns:
        Sorted summary rows: the ``by`` fields, ``seeds`` (rows in the group), ``mean``, ``std``
        (sample standard deviation, n - 1 in the denominator; 0.0 for a single row), ``min``, ``max``.

    Raises:
        TypeError: ``rows`` is not a list of dicts, ``by`` is a string, or a value is not a number.
        KeyError: a row lacks a ``by`` field or ``value``.
    """
    _check_rows(rows)
    if isinstance(by, str) or not all(isinstance(key, str) for key in by):
        raise TypeError(f"by must be a sequence of field names such as ('task', 'model'), got {by!r}.")
    order = {} if order is None else order
    unknown = set(order) - set(by)
    if unknown:
        raise ValueError(f"order names fields that are not in by={tuple(by)}: {sorted(unknown)}.")
    groups: dict[tuple, list[float]] = {}
    for index, row in enumerate(rows):
        missing = [key for key in (*by, value) if key not in row]
        if missing:
            raise KeyError(f"rows[{index}] has no field {missing[0]!r}; its fields are {sorted(row)}.")
        number = row[value]
        if isinstance(number, bool) or not isinstance(number, Real):
            raise TypeError(f"rows[{index}][{value!r}] must be a number, got {number!r}.")
        groups.setdefault(tuple(row[key] for key in by), []).append(float(number))

    def group_order(group: tuple) -> tuple:
        return tuple(_sort_key(item, order.get(key)) for key, item in zip(by, group))

    return [
        {**dict(zip(by, group)), "seeds": len(values), "mean": statistics.fmean(values),
         "std": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values)}
        for group, values in sorted(groups.items(), key=lambda item: group_order(item[0]))
    ]


def _matches(row: Mapping[str, Any], key: str, wanted: Any) -> bool:
    if key not in row:
        return False
    found = row[key]
    numbers = all(isinstance(x, Real) and not isinstance(x, bool) for x in (found, wanted))
    # JSON keeps floats exactly, but a fraction computed in a lesson (0.1 + 0.2) should still find 0.3
    return math.isclose(found, wanted, rel_tol=1e-9, abs_tol=1e-12) if numbers else found == wanted


def find_row(rows: Sequence[Mapping[str, Any]], **keys: Any) -> Row:
    """The one row whose fields equal ``keys``, e.g. ``find_row(rows, task="digits", model="vit", seed=0)``.

    Numbers compare with a relative tolerance of 1e-9, so a fraction computed as 0.1 + 0.2 finds
    the 0.3 stored in a table.

    Raises:
        ValueError: no keys were given, or several rows match (add a key, e.g. ``seed``, to pick one).
        RowNotFoundError: (a ``KeyError``) no row matches.
    """
    _check_rows(rows)
    if not keys:
        raise ValueError("find_row needs at least one key, e.g. find_row(rows, model='vit', seed=0).")
    found = [row for row in rows if all(_matches(row, key, wanted) for key, wanted in keys.items())]
    wanted = ", ".join(f"{key}={value!r}" for key, value in keys.items())
    if not found:
        for key, value in keys.items():  # name the first key that no row has, to point at the typo or gap
            if not any(_matches(row, key, value) for row in rows):
                values = sorted({repr(row[key]) for row in rows if key in row})
                present = ", ".join(values[:10]) + (", ..." if len(values) > 10 else "") if values else "no row"
                raise RowNotFoundError(f"no row with {wanted}: no row has {key}={value!r} "
                                       f"(values of {key}: {present}).")
        raise RowNotFoundError(f"no row with {wanted} (each key matches some rows, but no row matches them all).")
    if len(found) > 1:
        differing = sorted({key for row in found for key in row if row.get(key) != found[0].get(key)})
        raise ValueError(f"{len(found)} rows match {wanted}; add a key to pick one, e.g. one of {differing}.")
    return found[0]


def load_result_table(name: str) -> dict[str, Any]:
    """The stored result ``benchmarks/results/<name>.json`` of the repository (e.g. ``"transfer"``)."""
    if not isinstance(name, str) or not name or "/" in name or name.endswith(".json"):
        raise ValueError(f"name must be a result's name such as 'transfer' (no folder, no .json), got {name!r}.")
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        known = sorted(found.stem for found in RESULTS.glob("*.json")) if RESULTS.is_dir() else []
        raise ValueError(f"no stored result {name!r} in {RESULTS}" + (f"; the results are {known}." if known else
                         ": vit_edu is not installed from a clone of the repository (pip install -e .)."))
    return json.loads(path.read_text(encoding="utf-8"))
