"""Position-embedding similarity explorer (paper Fig. 7, centre).

Pick a patch (row, column) and see the cosine similarity of its position embedding with every
patch's, for several sets of embeddings side by side (e.g. a trained model and random init).

- :class:`PositionSimilarityState`: ``select_patch(row, col)`` returns the maps;
- :func:`position_similarity_figure`: the maps of the selected patch (static figure, and the
  widget's drawing code);
- :func:`similarity_mosaic_figure`: the whole grid of maps, as in the paper's figure;
- :func:`position_similarity_widget`: two sliders over the same state and drawing code.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from vit_edu.analysis.positions import position_similarity, similarity_mosaic
from vit_edu.checks import Size2d, to_2tuple
from vit_edu.language import tr
from vit_edu.viz.render import figure_to_png, new_figure


class PositionSimilarityState:
    """Similarity maps of one selected patch for several sets of position embeddings.

    Args:
        sources: name -> E_pos (1, prefix + N, D), all for the same grid.
        grid_size: (h, w), h w = N.
        num_prefix_tokens: rows before the patches (1: the class token).
    """

    def __init__(self, sources: Mapping[str, torch.Tensor], grid_size: Size2d, num_prefix_tokens: int = 1):
        if not sources:
            raise ValueError("sources must name at least one set of position embeddings, e.g. {'trained': pos}.")
        self.grid_size = to_2tuple(grid_size, "grid_size")
        self.similarities = {
            name: position_similarity(pos, self.grid_size, num_prefix_tokens).numpy() for name, pos in sources.items()
        }  # name -> (h, w, h, w)
        self.row, self.col = 0, 0
        self.maps = self.select_patch(0, 0)

    @property
    def names(self) -> list[str]:
        return list(self.similarities)

    def select_patch(self, row: int, col: int) -> dict[str, np.ndarray]:
        """Select patch (row, col); returns name -> (h, w) map of cosine similarities."""
        height, width = self.grid_size
        for name, value, size in (("row", row, height), ("col", col, width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
                raise ValueError(
                    f"{name} must be an int in [0, {size - 1}] for a {height}x{width} grid, got {value!r}."
                )
        self.row, self.col = int(row), int(col)
        self.maps = {name: sim[self.row, self.col] for name, sim in self.similarities.items()}
        return self.maps

    @property
    def single_patch(self) -> bool:
        """A 1 x 1 grid: the one patch has no other to compare with."""
        return self.grid_size == (1, 1)

    def most_similar_other(self, name: str) -> tuple[int, int, float]:
        """(row, col, cosine) of the patch most similar to the selected one, itself excluded."""
        if name not in self.maps:
            raise ValueError(f"unknown source {name!r}; choose one of {self.names}.")
        if self.single_patch:
            raise ValueError("a 1x1 grid has a single patch and no other patch to compare it with; use a grid of "
                             "at least 2 patches (check the state's single_patch first).")
        values = self.maps[name].copy()
        values[self.row, self.col] = -np.inf
        row, col = np.unravel_index(int(np.argmax(values)), values.shape)
        return int(row), int(col), float(values[row, col])

    def label(self, name: str) -> str:
        """A one-line description of the selected patch's map for ``name``."""
        if self.single_patch and name in self.maps:
            return tr("{name}: patch (0, 0) is the only patch of the 1x1 grid; there is no other patch to compare",
                      name=name)
        row, col, value = self.most_similar_other(name)
        return tr("{name}: patch ({row}, {col}); most similar other patch ({other_row}, {other_col}), cos {value:.2f}",
                  name=name, row=self.row, col=self.col, other_row=row, other_col=col, value=value)


def _draw(figure, state: PositionSimilarityState):
    figure.set_layout_engine("constrained")
    artists = []
    names = state.names
    for index, name in enumerate(names):
        axes = figure.add_subplot(1, len(names), index + 1)
        image = axes.imshow(state.maps[name], cmap="viridis", vmin=-1, vmax=1)
        (marker,) = axes.plot([state.col], [state.row], "r+", markersize=12, markeredgewidth=2)
        title = axes.set_title(f"{name}\npatch ({state.row}, {state.col})", fontsize=9)
        axes.set_xlabel("input patch column")
        if index == 0:
            axes.set_ylabel("input patch row")
        artists.append((name, image, marker, title))
    figure.colorbar(artists[-1][1], ax=figure.axes, shrink=0.8, label="cosine similarity")
    return artists


def _update(artists, state: PositionSimilarityState) -> None:
    for name, image, marker, title in artists:
        image.set_data(state.maps[name])
        marker.set_data([state.col], [state.row])
        title.set_text(f"{name}\npatch ({state.row}, {state.col})")


def position_similarity_figure(state: PositionSimilarityState):
    """Static figure: the selected patch's similarity map for every source."""
    figure = new_figure(3.3 * len(state.names) + 1.0, 3.2)
    _draw(figure, state)
    return figure


def similarity_mosaic_figure(sources: Mapping[str, torch.Tensor], grid_size: Size2d, num_prefix_tokens: int = 1):
    """Static figure: the full grid of maps per source (tile (r, c) = patch (r, c)'s map), Fig. 7 centre."""
    figure = new_figure(3.6 * len(sources) + 1.0, 3.6)
    figure.set_layout_engine("constrained")
    image = None
    for index, (name, pos) in enumerate(sources.items()):
        axes = figure.add_subplot(1, len(sources), index + 1)
        mosaic = similarity_mosaic(position_similarity(pos, grid_size, num_prefix_tokens))
        image = axes.imshow(mosaic, cmap="viridis", vmin=-1, vmax=1)
        axes.set_title(name, fontsize=9)
        axes.set_xlabel("input patch column")
        if index == 0:
            axes.set_ylabel("input patch row")
        axes.set_xticks([])
        axes.set_yticks([])
    figure.colorbar(image, ax=figure.axes, shrink=0.8, label="cosine similarity")
    return figure


def position_similarity_widget(sources: Mapping[str, torch.Tensor], grid_size: Size2d, row: int = 0, col: int = 0):
    """Row and column sliders choosing the patch whose similarity maps are drawn (needs ipywidgets)."""
    import ipywidgets as widgets

    from vit_edu.widgets.picture import picture as picture_widget
    from vit_edu.widgets.picture import show

    state = PositionSimilarityState(sources, grid_size)
    state.select_patch(row, col)
    figure = new_figure(3.3 * len(state.names) + 1.0, 3.2)
    artists = _draw(figure, state)
    image = picture_widget(figure_to_png(figure))
    height, width = state.grid_size
    row_slider = widgets.IntSlider(value=row, min=0, max=height - 1, description=tr("row"))
    col_slider = widgets.IntSlider(value=col, min=0, max=width - 1, description=tr("column"))
    text = widgets.HTML("<br>".join(state.label(name) for name in state.names))

    def on_change(_change) -> None:
        state.select_patch(row_slider.value, col_slider.value)
        _update(artists, state)
        show(image, figure_to_png(figure))
        text.value = "<br>".join(state.label(name) for name in state.names)

    row_slider.observe(on_change, names="value")
    col_slider.observe(on_change, names="value")
    return widgets.VBox([widgets.HBox([row_slider, col_slider]), text, image])
