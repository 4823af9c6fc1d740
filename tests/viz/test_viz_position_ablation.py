"""The position-ablation figure: one bar per kind at the mean over seeds, one dot per seed, live runs as crosses."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle

from vit_edu.viz.positions import ablation_accuracies, plot_position_ablation

ROWS = [
    {"position_embedding": "none", "seed": 0, "test_accuracy": 0.70},
    {"position_embedding": "learned", "seed": 0, "test_accuracy": 0.95},
    {"position_embedding": "none", "seed": 1, "test_accuracy": 0.74},
    {"position_embedding": "learned", "seed": 1, "test_accuracy": 0.93},
    {"position_embedding": "sincos_2d", "seed": 0, "test_accuracy": 0.90},
]


def test_accuracies_are_grouped_by_kind_in_the_configs_order():
    assert ablation_accuracies(ROWS) == {"learned": [0.95, 0.93], "sincos_2d": [0.90], "none": [0.70, 0.74]}


def test_bars_are_the_means_and_dots_the_seeds():
    figure = plot_position_ablation(ROWS, live={"none": 0.72}, chance=0.1)
    ax = figure.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    np.testing.assert_allclose([b.get_height() for b in bars], [94.0, 90.0, 72.0])  # (95+93)/2, 90, (70+74)/2
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in dots] == [2, 1, 2]
    np.testing.assert_allclose(sorted(np.asarray(dots[2].get_offsets())[:, 1]), [70.0, 74.0])
    assert all(abs(x - 2) < 0.3 for x in np.asarray(dots[2].get_offsets())[:, 0])  # the "none" column
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0].startswith("learned 1-D") and labels[-1] == "none"
    cross = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(cross) == 1 and tuple(cross[0].get_xydata()[0]) == (2.0, 72.0)


@pytest.mark.parametrize(("rows", "match"), [
    ([], "non-empty list"),
    ([{"position_embedding": "learned"}], "'test_accuracy'"),
    ([{"position_embedding": "relative", "test_accuracy": 0.9}], "position_embedding='relative'"),
])
def test_bad_rows_are_refused(rows, match):
    with pytest.raises(ValueError, match=match):
        plot_position_ablation(rows)


def test_a_live_run_of_a_kind_not_in_the_table_is_refused():
    with pytest.raises(ValueError, match="'learned_2d', which is not among"):
        plot_position_ablation(ROWS, live={"learned_2d": 0.9})
