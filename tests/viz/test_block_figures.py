"""The encoder lesson's figures: the pre-norm and post-norm block diagrams, and GELU against its approximation."""

import math

import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex
from matplotlib.text import Annotation

from vit_edu.viz.blocks import BLOCKS, RESIDUAL_COLOUR, block_diagram_figure, gelu_figure
from vit_edu.viz.render import figure_style_problems


def boxes(ax):
    """The boxes' texts (the arrows are annotations without text)."""
    return [text for text in ax.texts if not isinstance(text, Annotation)]


def box_labels(ax):
    """The labels of the boxes, bottom to top."""
    return [text.get_text() for text in sorted(boxes(ax), key=lambda text: text.get_position()[1])]


def residual_lines(ax):
    return [line for line in ax.get_lines() if to_hex(line.get_color()) == RESIDUAL_COLOUR]


def test_block_diagram_draws_pre_norm_and_post_norm_in_order():
    figure = block_diagram_figure()
    pre, post = figure.axes
    assert "pre-norm" in pre.get_title() and "ViT" in pre.get_title()
    assert "post-norm" in post.get_title()
    assert box_labels(pre)[1:-1] == ["LN", "MSA", "+", "LN", "MLP", "+"]  # Eq. 2-3: the norm inside each branch
    assert box_labels(post)[1:-1] == ["MSA", "+", "LN", "MLP", "+", "LN"]  # a norm after each residual sum
    assert "residual" in figure.texts[0].get_text()


@pytest.mark.parametrize("kind", ["pre", "post"])
def test_residual_paths_start_below_a_step_and_end_at_a_plus(kind):
    figure = block_diagram_figure(kind)
    [ax] = figure.axes
    lines = residual_lines(ax)
    assert len(lines) == 2
    labels = {round(text.get_position()[1], 6): text.get_text() for text in boxes(ax)}
    for line in lines:
        ys = line.get_ydata()
        assert labels[round(float(ys[-1]), 6)] == "+"  # the skip ends at a residual sum
        assert ys[0] < ys[-1]  # and starts below it
    if kind == "pre":  # pre-norm: the residual path never enters a LayerNorm, it starts at z_{l-1} and at a "+"
        starts = sorted(round(float(line.get_ydata()[0]) - 0.3, 6) for line in lines)
        assert [labels[y] for y in starts] == [BLOCKS["pre"][1][0], "+"]


def test_block_diagram_text_is_readable_and_kinds_are_checked():
    figure = block_diagram_figure()
    assert figure_style_problems(figure) == []
    assert all(text.get_fontsize() >= 9 for ax in figure.axes for text in [*ax.texts, ax.title])
    assert all(text.get_fontsize() >= 9 for text in figure.texts)
    with pytest.raises(ValueError, match="among"):
        block_diagram_figure(("pre", "parallel"))
    with pytest.raises(ValueError, match="among"):
        block_diagram_figure(())


def test_gelu_figure_plots_the_curves_and_their_difference():
    x = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    exact = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    approximate = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    figure = gelu_figure(x, exact, approximate, every=10)
    activation, gap = figure.axes
    assert [line.get_label() for line in activation.get_lines()] == ["ReLU", "GELU (exact)", "GELU (tanh approx.)"]
    relu, gelu, tanh = activation.get_lines()
    assert np.allclose(relu.get_ydata(), np.maximum(x[::10].numpy(), 0))
    assert np.allclose(gelu.get_ydata(), exact[::10].numpy()) and np.allclose(tanh.get_ydata(), approximate[::10])
    [difference] = gap.get_lines()
    assert np.allclose(difference.get_ydata(), (exact - approximate)[::10].numpy())
    assert "minus" in gap.get_title() and activation.get_title() == "activation"
    assert figure_style_problems(figure) == []


def test_gelu_figure_refuses_mismatched_inputs():
    x = torch.linspace(-1, 1, 11)
    with pytest.raises(ValueError, match="same length"):
        gelu_figure(x, x[:5], x)
    with pytest.raises(ValueError, match="every"):
        gelu_figure(x, x, x, every=0)
