"""Figures for training results: learning curves, a learning-rate schedule, runs compared, a confusion
matrix, an image grid.

All functions return a pyplot-free :class:`matplotlib.figure.Figure` (made by
:func:`vit_edu.viz.render.new_figure`), so nothing is shown twice and no global pyplot state
is touched. In a notebook, a figure that ends a cell is shown; ``display(fig)`` works too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from vit_edu.training.loop import History
from vit_edu.viz.render import new_figure


def plot_history(history: History, title: str | None = None) -> Figure:
    """Loss (left) and accuracy (right, train and test) per epoch, with the learning rate in grey."""
    if not isinstance(history, History):
        raise TypeError(f"history must be a vit_edu.training.loop.History, got {type(history).__name__}.")
    if not history.train_loss:
        raise ValueError("history is empty: train for at least one epoch first.")
    epochs = np.arange(1, len(history.train_loss) + 1)
    figure = new_figure(8.0, 3.0)
    loss_ax, acc_ax = figure.subplots(1, 2)
    loss_ax.plot(epochs, history.train_loss, color="tab:blue", label="train loss")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    lr_ax = loss_ax.twinx()
    lr_ax.plot(epochs, history.learning_rate, color="grey", linestyle=":", label="learning rate")
    lr_ax.set_ylabel("learning rate", color="grey")
    lr_ax.tick_params(axis="y", colors="grey")
    acc_ax.plot(epochs, 100 * np.asarray(history.train_accuracy), color="tab:blue", label="train")
    if history.test_accuracy:
        acc_ax.plot(epochs, 100 * np.asarray(history.test_accuracy), color="tab:orange", label="test")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    acc_ax.legend(loc="lower right")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> np.ndarray:
    """Counts (K, K): row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions differ in length: {labels.size} vs {predictions.size}.")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def plot_confusion_matrix(
    labels: torch.Tensor, predictions: torch.Tensor, class_names: Sequence[str], title: str | None = None
) -> Figure:
    """Confusion matrix with counts in the cells (rows: true class, columns: predicted)."""
    counts = confusion_matrix(labels, predictions, len(class_names))
    size = 1.5 + 0.45 * len(class_names)
    figure = new_figure(size + 1.0, size)
    ax = figure.subplots()
    image = ax.imshow(counts, cmap="Blues")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45 if max(map(len, class_names)) > 2 else 0)
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true", title=title or f"accuracy {np.trace(counts) / counts.sum():.1%}")
    threshold = counts.max() / 2
    for row, col in np.ndindex(*counts.shape):
        if counts[row, col]:
            ax.text(col, row, str(counts[row, col]), ha="center", va="center", fontsize=9,
                    color="white" if counts[row, col] > threshold else "black")
    figure.colorbar(image, ax=ax, fraction=0.046)
    figure.tight_layout()
    return figure


def plot_image_grid(
    images: torch.Tensor, titles: Sequence[str] | None = None, columns: int = 8, size: float = 1.2
) -> Figure:
    """Images (n, C, H, W) in [0, 1] (C = 1 grey or 3 RGB) in a grid, with optional titles."""
    images = torch.as_tensor(images).detach().cpu()
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (n, 1 or 3, H, W), got {tuple(images.shape)}.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images.")
    count = max(1, len(images))
    columns = min(columns, count)
    rows = -(-count // columns)
    figure = new_figure(size * columns, (size + 0.25) * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for index, ax in enumerate(axes):
        ax.axis("off")
        if index >= len(images):
            continue
        picture = images[index].permute(1, 2, 0).clamp(0, 1).numpy()  # (H, W, C)
        if picture.shape[-1] == 1:
            ax.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(picture)
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
    figure.tight_layout()
    return figure


def plot_learning_rate(schedule: Sequence[float], warmup_steps: int, title: str = "warm-up + cosine decay") -> Figure:
    """The learning rate of every optimizer step, with a dotted line where the warm-up ends."""
    if len(schedule) == 0:
        raise ValueError("schedule is empty: give one learning rate per optimizer step.")
    if not 0 <= warmup_steps <= len(schedule):
        raise ValueError(f"warmup_steps must lie in [0, {len(schedule)}] (the number of steps), got {warmup_steps}.")
    figure = new_figure(4.5, 2.2)
    ax = figure.subplots()
    ax.plot(np.arange(len(schedule)), schedule)
    ax.axvline(warmup_steps, color="grey", linestyle=":")
    ax.set(xlabel="optimizer step t", ylabel="learning rate", title=title)
    figure.tight_layout()
    return figure


def plot_accuracy_curves(curves: Mapping[str, Sequence[float]], chance: float | None = None,
                         title: str | None = None) -> Figure:
    """Test accuracy per epoch of several runs, one line each, labelled with its final accuracy.

    Args:
        curves: ``{run name: [accuracy after epoch 1, 2, ...]}``, accuracies in [0, 1].
        chance: the accuracy of guessing, drawn as a dotted grey line.
        title: the axes' title.
    """
    if not curves or any(len(values) == 0 for values in curves.values()):
        raise ValueError("curves must map each run's name to a non-empty list of accuracies per epoch.")
    figure = new_figure(7.5, 3.0)
    ax = figure.subplots()
    longest = max(len(values) for values in curves.values())
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=f"{name}: {values[-1]:.1%}")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label=f"chance ({chance:.0%})")
    ax.set(xlabel="epoch", ylabel="test accuracy", xticks=list(range(1, longest + 1)), ylim=(0, 1))
    if title:
        ax.set_title(title)
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.tight_layout()
    return figure
