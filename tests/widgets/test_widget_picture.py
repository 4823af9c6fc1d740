"""A widget's picture keeps its natural width: a flex column must not stretch (and blur) it."""

import pytest

from vit_edu.viz.render import figure_to_png, new_figure
from vit_edu.widgets.picture import picture, png_size, show
from vit_edu.widgets.softmax_temperature import softmax_temperature_widget


def png(width_in, height_in, dpi=100):
    figure = new_figure(width_in, height_in, dpi)
    figure.set_layout_engine("constrained")  # tick labels inside the small figure
    figure.add_subplot().plot([0, 1])
    return figure_to_png(figure)


def test_png_size_reads_the_header_and_refuses_other_bytes():
    assert png_size(png(3.0, 2.0)) == (300, 200)
    with pytest.raises(ValueError, match="PNG"):
        png_size(b"GIF89a" + bytes(30))


def test_the_picture_has_its_natural_width_and_is_not_stretched():
    image = picture(png(3.0, 2.0))
    assert image.width == "300" and image.layout.align_self == "flex-start" and image.layout.max_width == "100%"
    show(image, png(5.0, 2.0))
    assert image.width == "500" and png_size(image.value) == (500, 200)


def test_lesson_widgets_show_their_picture_at_its_natural_width():
    box = softmax_temperature_widget([1.0, 2.0, 0.5], temperature=1.0)
    image = box.children[-1]
    assert image.width == str(png_size(image.value)[0])
    box.children[0].value = 4.0
    assert image.width == str(png_size(image.value)[0])
