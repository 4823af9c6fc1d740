"""Data efficiency: a small CNN and a ViT of about the same size, trained on growing shares of the data.

The paper's claim (§3.1, §4.3): with little data the CNN's built-in locality and translation
equivariance help; with enough data (ImageNet-21k, JFT-300M) ViT catches up and overtakes. At
course scale we can only test the first half: train both models on 10 %, 25 %, 50 % and 100 %
of a small training set and compare test accuracies.

Fairness rules, the same for both models of a task:
- about the same number of parameters (the CNN's width c is chosen by ``match_cnn_width``);
- the same optimiser, learning-rate schedule, batch size and number of optimiser *steps*
  (``vit_edu.training.loop.train``; fewer images means more epochs, so every run gets the same
  compute budget in updates);
- the same stratified, nested training subset for a given seed (10 % of seed 0 lies inside
  25 % of seed 0, ...), the same test set, no augmentation.

``benchmarks/data_efficiency.py`` runs the full sweep and commits the table to
``benchmarks/results/data_efficiency.json``; the lesson and the tests re-run single rows
with :func:`run_one`.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vit_edu.data.digits import load_digits_split
from vit_edu.data.shapes import make_shapes
from vit_edu.model import ViT
from vit_edu.training.cnn import SmallCNN, match_cnn_width
from vit_edu.training.loop import evaluate, train

MODEL_NAMES = ("cnn", "vit")
FRACTIONS = (0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class SweepTask:
    """One dataset with its two models and the shared training budget.

    Attributes:
        name: key in :data:`TASKS`.
        dataset: ``"digits"`` (sklearn, 8 x 8 grey, 1347 train / 450 test) or ``"shapes"``.
        clutter: for shapes, ``"grey"`` or ``"colour"`` (see ``vit_edu.data.shapes``).
        num_train, num_test: shapes only; generated with seeds 1 and 2 (fixed across runs).
        vit: keyword arguments of the ViT (``image_size``, ``patch_size``, ``dim``, ...).
        cnn_depth, cnn_pool_every: L and pooling of the CNN; its width is matched to the ViT.
        steps, batch_size, lr, weight_decay, warmup_steps: the training budget of every run.
        max_shift, flip, label_smoothing: augmentation and smoothing (the same for both models).
        fractions: the shares of the training set the sweep uses.
    """

    name: str
    dataset: str
    vit: dict[str, Any] = field(default_factory=dict)
    clutter: str | None = None
    num_train: int = 0
    num_test: int = 0
    cnn_depth: int = 3
    cnn_pool_every: int = 0
    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup_steps: int = 30
    max_shift: int = 0
    flip: bool = False
    label_smoothing: float = 0.0
    fractions: tuple[float, ...] = FRACTIONS


TASKS: dict[str, SweepTask] = {
    "digits": SweepTask(
        name="digits", dataset="digits",
        vit=dict(image_size=8, patch_size=2, channels=1, num_classes=10, dim=32, depth=2, heads=2, mlp_dim=64),
        cnn_depth=3, cnn_pool_every=0, steps=600,
    ),
    # The harder shapes: the object must be found by its shape among coloured distractors. Larger
    # data, H1's augmentation for the course's shapes model, and only two fractions (CPU budget).
    "shapes_colour": SweepTask(
        name="shapes_colour", dataset="shapes", clutter="colour", num_train=8000, num_test=2000,
        vit=dict(image_size=32, patch_size=4, channels=3, num_classes=4, dim=48, depth=3, heads=3, mlp_dim=96),
        cnn_depth=4, cnn_pool_every=1, steps=750, batch_size=128, warmup_steps=60, max_shift=1, flip=True,
        label_smoothing=0.1, fractions=(0.25, 1.0),
    ),
}


def get_task(task: str | SweepTask) -> SweepTask:
    """Look a task up by name (or pass a :class:`SweepTask` through)."""
    if isinstance(task, SweepTask):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}.")
    return TASKS[task]


def task_data(task: str | SweepTask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed (train_images, train_labels, test_images, test_labels) of a task."""
    task = get_task(task)
    if task.dataset == "digits":
        return tuple(load_digits_split(seed=0))
    train_set = make_shapes(task.num_train, image_size=task.vit["image_size"], seed=1, clutter=task.clutter)
    test_set = make_shapes(task.num_test, image_size=task.vit["image_size"], seed=2, clutter=task.clutter)
    return train_set.images, train_set.labels, test_set.images, test_set.labels


def stratified_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of round(fraction * n_c) images of every class c (at least 1), nested in ``fraction``.

    For a fixed seed each class's images are taken in one random order, so a smaller fraction
    is always a subset of a larger one.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}; e.g. 0.1 for 10 % of the data.")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in labels.unique(sorted=True):
        members = (labels == label).nonzero().flatten()
        order = members[torch.randperm(len(members), generator=generator)]
        chosen.append(order[:max(1, round(fraction * len(members)))])
    return torch.cat(chosen).sort().values


def build_model(task: str | SweepTask, model: str, seed: int) -> nn.Module:
    """The task's ViT, or a :class:`SmallCNN` whose width makes its parameter count closest to the ViT's."""
    task = get_task(task)
    if model not in MODEL_NAMES:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {model!r}.")
    vit = ViT(**task.vit, seed=seed)
    if model == "vit":
        return vit
    channels, classes = task.vit.get("channels", 3), task.vit["num_classes"]
    width = match_cnn_width(vit.num_parameters(), channels=channels, num_classes=classes, depth=task.cnn_depth)
    return SmallCNN(channels=channels, num_classes=classes, width=width, depth=task.cnn_depth,
                    pool_every=task.cnn_pool_every, seed=seed)


def run_one(
    task: str | SweepTask, model: str, fraction: float, seed: int, data: tuple | None = None, progress: bool = False,
    return_model: bool = False,
):
    """Train one model on one stratified share of the training set and test it.

    Args:
        task: a name in :data:`TASKS` or a :class:`SweepTask`.
        model: ``"cnn"`` or ``"vit"``.
        fraction: share of the training set in (0, 1].
        seed: seeds the subset, the initial weights and the data order.
        data: the output of :func:`task_data`, to avoid rebuilding it for every run.
        progress: show ``train``'s progress bar.
        return_model: also return the trained network.

    Returns:
        A row: task, model, fraction, seed, num_train, parameters, steps, test_accuracy,
        train_accuracy and seconds (wall clock, machine-dependent); ``(row, network)`` with
        ``return_model``.
    """
    task = get_task(task)
    train_images, train_labels, test_images, test_labels = task_data(task) if data is None else data
    index = stratified_subset(train_labels, fraction, seed)
    network = build_model(task, model, seed)
    steps_per_epoch = max(1, len(index) // task.batch_size)
    epochs = max(1, math.ceil(task.steps / steps_per_epoch))
    start = time.perf_counter()
    history = train(network, train_images[index], train_labels[index], epochs=epochs,
                    batch_size=min(task.batch_size, len(index)), lr=task.lr, weight_decay=task.weight_decay,
                    warmup_epochs=task.warmup_steps / steps_per_epoch, label_smoothing=task.label_smoothing,
                    max_shift=task.max_shift, flip=task.flip, seed=seed, device="cpu", progress=progress)
    row = {
        "task": task.name, "model": model, "fraction": fraction, "seed": seed, "num_train": len(index),
        "parameters": sum(p.numel() for p in network.parameters()), "steps": epochs * steps_per_epoch,
        "test_accuracy": evaluate(network, test_images, test_labels),
        "train_accuracy": history.train_accuracy[-1], "seconds": time.perf_counter() - start,
    }
    return (row, network) if return_model else row


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation of test accuracy over seeds, per (task, model, fraction)."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["model"], row["fraction"]), []).append(row["test_accuracy"])
    return [
        {"task": t, "model": m, "fraction": f, "seeds": len(accs), "mean": statistics.fmean(accs),
         "std": statistics.stdev(accs) if len(accs) > 1 else 0.0, "min": min(accs), "max": max(accs)}
        for (t, m, f), accs in sorted(groups.items())
    ]


def find_row(rows: list[dict[str, Any]], task: str, model: str, fraction: float, seed: int) -> dict[str, Any]:
    """The one row of a table with these keys (``ValueError`` if there is none)."""
    for row in rows:
        if (row["task"], row["model"], row["seed"]) == (task, model, seed) and math.isclose(row["fraction"], fraction):
            return row
    raise ValueError(f"no row for task={task!r}, model={model!r}, fraction={fraction}, seed={seed} in the table.")


def plot_data_efficiency(table: dict[str, Any], task: str, ax=None):
    """Test accuracy vs share of the training set: mean over seeds (line), every seed (dots), per model.

    Args:
        table: the committed table (``rows`` and ``summary`` as written by the benchmark script).
        task: which task to draw.
        ax: a matplotlib Axes (a new pyplot-free figure's Axes if ``None``).

    Returns:
        The Axes.
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(4.2, 3.2), dpi=80).add_subplot()
    colours = {"cnn": "tab:blue", "vit": "tab:orange"}
    for model in MODEL_NAMES:
        summary = [s for s in table["summary"] if (s["task"], s["model"]) == (task, model)]
        if not summary:
            raise ValueError(f"the table has no rows for task={task!r}, model={model!r}.")
        rows = [r for r in table["rows"] if (r["task"], r["model"]) == (task, model)]
        points = [(r["fraction"], r["test_accuracy"]) for r in rows]
        ax.plot([s["fraction"] for s in summary], [s["mean"] for s in summary], "-o", color=colours[model],
                label=f"{model.upper()} (mean of {summary[0]['seeds']} seed{'s' if summary[0]['seeds'] > 1 else ''})")
        ax.scatter(*zip(*points), s=12, color=colours[model], alpha=0.4)
    ax.set_xscale("log")
    ax.set_xticks(list(FRACTIONS), [f"{f:.0%}" for f in FRACTIONS])
    ax.minorticks_off()
    ax.set_xlabel("share of the training set")
    ax.set_ylabel("test accuracy")
    ax.set_title(task)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return ax
