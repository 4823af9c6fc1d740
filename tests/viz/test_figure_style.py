"""The course's figure style: the checker finds each kind of problem, new_figure refuses low resolution,
setup_lesson applies the style, and the figures no other test draws follow it (tests/conftest.py checks
every figure the package draws during any test)."""

import json
from pathlib import Path

import matplotlib
import pytest
import torch

from vit_edu.course.lesson import setup_lesson
from vit_edu.viz.inductive_bias import plot_data_efficiency
from vit_edu.viz.render import MAX_WIDTH_PX, MIN_DPI, MIN_TEXT_PT, figure_style_problems, new_figure
from vit_edu.viz.transfer import plot_label_budget, plot_resampled_similarity

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def broken_figure(width, height):
    """A figure drawn wrong on purpose: the style check of tests/conftest.py leaves it to the test."""
    figure = new_figure(width, height)
    figure._style_checked = True
    return figure


def test_a_plain_figure_has_no_problems():
    figure = new_figure(4, 3)
    figure.subplots().plot([0, 1], [1, 0])
    assert figure_style_problems(figure) == []


@pytest.mark.parametrize("dpi", [72, 99.5, 0, True, "100"])
def test_new_figure_refuses_a_low_or_odd_resolution(dpi):
    with pytest.raises(ValueError, match="dpi"):
        new_figure(4, 3, dpi=dpi)


def test_small_text_is_found():
    figure = broken_figure(4, 3)
    ax = figure.subplots()
    ax.set_title("fine")
    ax.text(0.5, 0.5, "tiny", fontsize=MIN_TEXT_PT - 2)
    problems = figure_style_problems(figure)
    assert len(problems) == 1 and "'tiny'" in problems[0]


def test_a_figure_wider_than_the_notebook_is_found():
    wide = broken_figure(MAX_WIDTH_PX / MIN_DPI + 0.5, 2)
    assert any("pixels wide" in problem for problem in figure_style_problems(wide))
    assert figure_style_problems(new_figure(MAX_WIDTH_PX / MIN_DPI, 2)) == []


def test_low_resolution_is_found_on_a_figure_not_made_by_new_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 3), dpi=72)
    FigureCanvasAgg(figure)
    assert figure_style_problems(figure) == [f"dpi 72 < {MIN_DPI}"]


def test_a_row_label_over_the_neighbouring_image_is_found():
    figure = broken_figure(4, 2)
    left, right = figure.subplots(1, 2, gridspec_kw={"wspace": 0.0})
    left.imshow(torch.rand(8, 8).numpy())
    right.imshow(torch.rand(8, 8).numpy())
    right.set_ylabel("a long row label that runs into the left image")
    assert any("lies over the image" in problem for problem in figure_style_problems(figure))


def test_setup_lesson_applies_the_course_style():
    with matplotlib.rc_context({"figure.dpi": 72.0, "legend.fontsize": 6}):
        setup_lesson(seed=0, threads=1)
        assert matplotlib.rcParams["figure.dpi"] == MIN_DPI
        assert matplotlib.rcParams["legend.fontsize"] >= MIN_TEXT_PT


def test_transfer_figures_follow_the_style():
    table = json.loads((RESULTS / "transfer.json").read_text())
    budget = plot_label_budget(table["summary"], live=[{"per_class": 5, "test_accuracy": 0.5}])
    legend = {text.get_text() for text in budget.axes[0].get_legend().get_texts()}
    assert {"re-run in this notebook", "chance", "ViT from scratch"} <= legend
    generator = torch.Generator().manual_seed(0)
    similarity = plot_resampled_similarity(torch.randn(1, 17, 8, generator=generator), (4, 4),
                                           torch.randn(1, 37, 8, generator=generator), (6, 6))
    assert similarity.axes[-1].get_ylabel() == "cosine similarity"       # the colour bar of both panels


def test_data_efficiency_figure_follows_the_style():
    table = json.loads((RESULTS / "data_efficiency.json").read_text())
    figure = new_figure(8, 3)
    for ax, task in zip(figure.subplots(1, len(table["tasks"]), squeeze=False)[0], table["tasks"]):
        assert plot_data_efficiency(table, task, ax=ax) is ax
    figure.tight_layout()  # as the inductive-bias lesson does
    assert figure_style_problems(figure) == []
    own = plot_data_efficiency(table, "digits")                          # draws on a figure of its own
    assert figure_style_problems(own.figure) == []
