"""The Fig. 1-style architecture figure and the lessons' "you are here" strip."""

import io

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from vit_edu.viz.architecture import STAGES, architecture_figure, architecture_strip
from vit_edu.viz.render import figure_to_png


def pixels(figure):
    return imread(io.BytesIO(figure_to_png(figure)))[..., :3]


def share_of(image, colour):
    return np.all(np.abs(image - np.array(to_rgb(colour))) < 2 / 255, axis=-1).mean()


@pytest.mark.parametrize("draw", [architecture_figure, architecture_strip])
def test_only_the_highlighted_stages_are_in_colour(draw):
    for stage in ("projection", "head", "attention"):
        image = pixels(draw(stage))
        assert share_of(image, STAGES[stage]) > 0.002, stage
        others = [name for name in ("projection", "tokens", "attention", "mlp", "head") if name != stage]
        assert all(share_of(image, STAGES[name]) == 0 for name in others), stage


def test_the_full_figure_colours_everything_and_shows_the_block():
    figure = architecture_figure()
    image = pixels(figure)
    assert all(share_of(image, STAGES[name]) > 0.001 for name in ("projection", "tokens", "attention", "mlp", "head"))
    texts = " ".join(text.get_text() for text in figure.axes[0].texts)
    for label in ("linear projection", "position", "[class]", "Transformer encoder", "MLP head", "Norm",
                  "Multi-head", "MLP"):
        assert label in texts, label


@pytest.mark.parametrize("figure", [architecture_figure(), architecture_strip("tokens")])
def test_text_is_readable_and_sharp(figure):
    assert figure.dpi >= 100
    assert all(text.get_fontsize() >= 9 for text in figure.axes[0].texts)


def test_unknown_stages_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="stage names among"):
        architecture_figure("decoder")
    with pytest.raises(ValueError, match="stage names among"):
        architecture_strip(())
