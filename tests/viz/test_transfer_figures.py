"""The transfer lesson's figure of example images from the pre-training and the downstream task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_edu.viz.transfer import plot_task_examples


def test_task_examples_draw_one_row_per_task_with_captions():
    generator = torch.Generator().manual_seed(0)
    small, large = torch.rand(9, 3, 8, 8, generator=generator), torch.rand(9, 3, 12, 12, generator=generator)
    figure = plot_task_examples([(small, [f"class {i}" for i in range(9)]), (large, ["48 px"] * 9)], count=4)
    assert len(figure.axes) == 8
    first, fifth = figure.axes[0], figure.axes[4]
    np.testing.assert_allclose(first.images[0].get_array(), small[0].permute(1, 2, 0).numpy())
    np.testing.assert_allclose(fifth.images[0].get_array(), large[0].permute(1, 2, 0).numpy())
    assert [ax.get_title() for ax in figure.axes[:4]] == ["class 0", "class 1", "class 2", "class 3"]
    assert figure.axes[7].get_title() == "48 px" and not figure.axes[7].get_xticks().size
    assert min(ax.title.get_fontsize() for ax in figure.axes) >= 9
    assert "downstream" in figure._suptitle.get_text()


def test_task_examples_refuse_bad_rows():
    with pytest.raises(ValueError, match="at least one"):
        plot_task_examples([])
    with pytest.raises(ValueError, match="count=8"):
        plot_task_examples([(torch.rand(3, 3, 8, 8), ["a"] * 3)])
    with pytest.raises(ValueError, match="B, 3, H, W"):
        plot_task_examples([(torch.rand(8, 8, 8), ["a"] * 8)])
