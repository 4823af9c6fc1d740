"""The parameter-counting lesson's figures: the bars, curves and lines hold the numbers they are given."""

import numpy as np
import pytest
from matplotlib.colors import to_hex

from vit_edu.viz.counting import (
    BASELINE_COLOUR,
    GROUP_COLOURS,
    parameter_scaling_figure,
    parameter_shares_figure,
    resolution_cost_figure,
)
from vit_edu.viz.render import figure_style_problems
from vit_edu.widgets.parameter_calculator import ParameterCalculatorState


def readable(figure):
    return figure_style_problems(figure) == []


def test_shares_are_stacked_bars_in_percent():
    shares = {}
    for name in ("Ti/16", "B/16", "H/14"):
        groups = ParameterCalculatorState(name).groups()
        shares[name] = {group: count / sum(groups.values()) for group, count in groups.items()}
    figure = parameter_shares_figure(shares)
    [ax] = figure.axes
    assert [to_hex(patch.get_facecolor()) for patch in ax.patches[::3]] == list(GROUP_COLOURS.values())
    bars = np.array([patch.get_width() for patch in ax.patches]).reshape(len(GROUP_COLOURS), 3)  # group x model
    assert np.allclose(bars.sum(axis=0), 100)
    assert np.allclose(bars[2], [100 * shares[name]["mlp"] for name in shares])
    assert [label.get_text() for label in ax.get_yticklabels()] == list(shares)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["embeddings", "attention", "mlp",
                                                                        "layer norms", "head"]
    assert readable(figure)


def test_shares_refuse_missing_groups():
    with pytest.raises(ValueError, match="needs every group"):
        parameter_shares_figure({"B/16": {"mlp": 1.0}})
    with pytest.raises(ValueError, match="empty"):
        parameter_shares_figure({})


def test_scaling_panels_plot_millions_with_the_baseline_and_guides():
    series = {"width D": ([192, 384, 768], [6e6, 22e6, 86e6]), "depth L": ([1, 2, 4], [8e6, 15e6, 29e6]),
              "patch size P": ([4, 8, 16], [86.6e6, 86.57e6, 86.56e6])}
    guides = {"width D": ([192, 768], [5e6, 85e6], "12 L D²")}
    figure = parameter_scaling_figure(series, baseline=86_567_656, guides=guides, log2=["patch size P"],
                                      title="B/16 with one hyper-parameter changed")
    axes = figure.axes
    assert [ax.get_xlabel() for ax in axes] == list(series)
    assert np.allclose(axes[1].get_lines()[0].get_ydata(), [8, 15, 29])
    for ax in axes:
        baselines = [line for line in ax.get_lines() if to_hex(line.get_color()) == BASELINE_COLOUR]
        assert len(baselines) == 1 and np.allclose(baselines[0].get_ydata(), 86.567656)
        assert ax.get_ylim()[0] == 0
    assert axes[0].get_legend().get_texts()[0].get_text() == "12 L D²"
    assert axes[2].get_xscale() == "log" and axes[0].get_xscale() == "linear"
    assert figure._suptitle.get_text().startswith("B/16") and readable(figure)


def test_scaling_refuses_bad_series():
    with pytest.raises(ValueError, match="same length"):
        parameter_scaling_figure({"D": ([1, 2], [3])}, baseline=1)
    with pytest.raises(ValueError, match="does not have"):
        parameter_scaling_figure({"D": ([1], [3])}, baseline=1, log2=["P"])


def test_resolution_panels_hold_the_ratios_and_shares():
    sizes = [112, 224, 384]
    figure = resolution_cost_figure(sizes, [0.25, 1.0, 3.2], [0.99, 1.0, 1.003], [0.02, 0.04, 0.11])
    ratio, share = figure.axes
    flops, params = ratio.get_lines()[:2]
    assert flops.get_label() == "FLOPs" and params.get_label() == "parameters"
    assert np.allclose(flops.get_ydata(), [0.25, 1.0, 3.2]) and ratio.get_yscale() == "log"
    assert np.allclose(share.get_lines()[0].get_ydata(), [2, 4, 11])
    assert "B/16" in share.get_xlabel() and "224 px" in ratio.get_ylabel() and readable(figure)
    marks = [line.get_xdata()[0] for line in share.get_lines()[1:]]
    assert marks == [224, 384]
    with pytest.raises(ValueError, match="quadratic_share"):
        resolution_cost_figure(sizes, [1, 1, 1], [1, 1, 1], [1])
