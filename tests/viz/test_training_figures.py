"""The training lesson's figures: the learning-rate schedule and several runs' test accuracy per epoch."""

import numpy as np
import pytest

from vit_edu.training.loop import learning_rate_at
from vit_edu.viz.render import figure_style_problems
from vit_edu.viz.training import plot_accuracy_curves, plot_learning_rate


def test_schedule_plots_every_step_and_marks_the_warm_up():
    schedule = [learning_rate_at(t, 100, 10, 3e-3) for t in range(100)]
    figure = plot_learning_rate(schedule, 10)
    [ax] = figure.axes
    curve, warmup = ax.get_lines()
    assert np.allclose(curve.get_ydata(), schedule) and list(curve.get_xdata()) == list(range(100))
    assert list(warmup.get_xdata()) == [10, 10]
    assert ax.get_xlabel() == "optimizer step t" and ax.get_ylabel() == "learning rate"
    assert "cosine" in ax.get_title() and figure_style_problems(figure) == []


def test_schedule_refuses_bad_input():
    with pytest.raises(ValueError, match="empty"):
        plot_learning_rate([], 0)
    with pytest.raises(ValueError, match="warmup_steps"):
        plot_learning_rate([1.0, 0.5], 3)


def test_accuracy_curves_label_each_run_with_its_final_accuracy():
    curves = {"a": [0.3, 0.6, 0.9], "b": [0.25, 0.3]}
    figure = plot_accuracy_curves(curves, chance=0.25, title="4 starts")
    [ax] = figure.axes
    a, b, chance = ax.get_lines()
    assert np.allclose(a.get_ydata(), [0.3, 0.6, 0.9]) and list(a.get_xdata()) == [1, 2, 3]
    assert np.allclose(b.get_ydata(), [0.25, 0.3])
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["a: 90.0%", "b: 30.0%", "chance (25%)"]
    assert list(chance.get_ydata()) == [0.25, 0.25]
    assert ax.get_ylim() == (0, 1) and list(ax.get_xticks()) == [1, 2, 3] and ax.get_title() == "4 starts"
    assert figure_style_problems(figure) == []


def test_accuracy_curves_refuse_empty_runs():
    with pytest.raises(ValueError, match="non-empty"):
        plot_accuracy_curves({})
    with pytest.raises(ValueError, match="non-empty"):
        plot_accuracy_curves({"a": []})
