"""Data efficiency: a small CNN and a ViT of about the same size, trained on growing shares of the data.

The paper's claim (§3.1, §4.3): with little data the CNN's built-in locality and translation
equivariance help; with enough data (ImageNet-21k, JFT-300M) ViT catches up and overtakes. At
course scale we can only test the first half: train both models on 10 %, 25 %, 50 % and 100 %
of a small training set and compare test accuracies.

Fairness rules, the same for both models of a task:
- about the same number of parameters (the CNN's width c is chosen by ``match_cnn_width``; the
  hybrid is the ViT on a small conv stem's feature map, with as many tokens as the ViT);
- the same optimiser, learning-rate schedule, batch size and number of optimiser *steps*
  (``vit_edu.training.loop.train``; fewer images means more epochs, so every run gets the same
  compute budget in updates);
- the same stratified, nested training subset for a given seed (10 % of seed 0 lies inside
  25 % of seed 0, ...), the same test set, the same augmentation (none for the digits);
- each model trained the way that works for it: the ViT with the paper's initialisation
  (``weight_init="jax"``) and inputs scaled to [-1, 1] (the recipe's ``input_normalization``,
  the training lesson's finding); the CNN and the hybrid, whose first layer is a convolution
  followed by BatchNorm, on the images as they are.

A task's ViT, data and training budget are one :class:`~vit_edu.training.recipes.Recipe`; the
three models are :data:`MODEL_NAMES`: ``"cnn"``, ``"hybrid"`` (:class:`~vit_edu.training.hybrid.HybridViT`,
paper §3.1) and ``"vit"``.

``benchmarks/data_efficiency.py`` runs the full sweep and commits the table to
``benchmarks/results/data_efficiency.json`` (summarised and looked up with
:mod:`vit_edu.training.results`); the lesson and the tests re-run single rows with :func:`run_one`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from vit_edu.checks import check_int
from vit_edu.config import ViTConfig
from vit_edu.counting import count_parameters
from vit_edu.data.digits import load_digits_split
from vit_edu.data.shapes import make_shapes
from vit_edu.training.cnn import SmallCNN, match_cnn_width
from vit_edu.training.hybrid import HybridViT
from vit_edu.training.loop import evaluate
from vit_edu.training.recipes import Recipe, optimizer_steps, train_with_recipe

MODEL_NAMES = ("cnn", "hybrid", "vit")
FRACTIONS = (0.1, 0.25, 0.5, 1.0)
DATASETS = ("digits", "shapes")
# How the sweep's table is summarised over seeds (vit_edu.training.results.summarize).
SUMMARY_BY = ("task", "model", "fraction")


def _check_fraction(fraction: object) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}; e.g. 0.1 for 10 % of the data.")
    return fraction


@dataclass(frozen=True)
class SweepTask:
    """One data set of the sweep: the ViT's recipe, the CNN it is compared with, the shares of data.

    Attributes:
        name: key in :data:`TASKS`.
        recipe: the ViT (``model``), the data (``data``: ``dataset`` ``"digits"``, sklearn's 8 x 8
            grey digits with their fixed split, or ``"shapes"`` with ``clutter``, ``num_train``,
            ``num_test`` and the generator seeds ``train_seed``, ``test_seed``) and the step budget
            (``training``) that both models share.
        cnn_depth, cnn_pool_every: L and pooling of the CNN; its width is matched to the ViT.
        stem_width: channels of the hybrid's conv stem (its stride is the ViT's patch size).
        fractions: the shares of the training set the sweep uses.
    """

    name: str
    recipe: Recipe
    cnn_depth: int = 3
    cnn_pool_every: int = 0
    stem_width: int = 8
    fractions: tuple[float, ...] = FRACTIONS

    def __post_init__(self) -> None:
        if not isinstance(self.recipe, Recipe):
            raise TypeError(f"recipe must be a Recipe, got {type(self.recipe).__name__}.")
        if "steps" not in self.recipe.training:
            raise ValueError("recipe.training must be a step budget (steps, warmup_steps, batch_size, ...): every "
                             "run of the sweep makes the same number of updates, whatever its share of the data.")
        dataset = self.recipe.data.get("dataset")
        if dataset not in DATASETS:
            raise ValueError(f"recipe.data['dataset'] must be one of {DATASETS}, got {dataset!r}.")
        check_int(self.cnn_depth, "cnn_depth")
        check_int(self.cnn_pool_every, "cnn_pool_every", minimum=0, hint=" (0: no pooling)")
        check_int(self.stem_width, "stem_width")
        object.__setattr__(self, "fractions", tuple(_check_fraction(f) for f in self.fractions))


# Both ViTs use the recipe that makes a small ViT train on a CPU budget (the training lesson): the paper's
# initialisation and inputs in [-1, 1]. Digits: P = 4 (N = 4 tokens), which the training lesson found
# better than P = 2 for 8 x 8 digits.
_VIT_RECIPE = dict(weight_init="jax")
_INPUTS_TO_PLUS_MINUS_ONE = (0.5, 0.5)

TASKS: dict[str, SweepTask] = {
    "digits": SweepTask(
        "digits",
        Recipe(
            model=dict(image_size=8, patch_size=4, channels=1, num_classes=10, dim=32, depth=2, heads=2, mlp_dim=64,
                       **_VIT_RECIPE),
            data=dict(dataset="digits"),
            training=dict(steps=600, batch_size=64, lr=3e-3, weight_decay=0.1, warmup_steps=30, max_shift=0,
                          flip=False, label_smoothing=0.0),
            input_normalization=_INPUTS_TO_PLUS_MINUS_ONE,
        ),
        cnn_depth=3, cnn_pool_every=0, stem_width=8,
    ),
    # The harder shapes: the object must be found by its shape among coloured distractors, in any hue. More
    # data, random shifts, flips and label smoothing, and all of it only (a CPU budget: a run of the CNN
    # takes minutes on one core).
    "shapes_colour": SweepTask(
        "shapes_colour",
        Recipe(
            model=dict(image_size=32, patch_size=4, channels=3, num_classes=4, dim=48, depth=3, heads=3, mlp_dim=96,
                       **_VIT_RECIPE),
            data=dict(dataset="shapes", clutter="colour", num_train=8000, num_test=2000, train_seed=1, test_seed=2),
            training=dict(steps=750, batch_size=128, lr=3e-3, weight_decay=0.1, warmup_steps=60, max_shift=1,
                          flip=True, label_smoothing=0.1),
            input_normalization=_INPUTS_TO_PLUS_MINUS_ONE,
        ),
        cnn_depth=4, cnn_pool_every=1, stem_width=16, fractions=(1.0,),
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
    data, image_size = task.recipe.data, task.recipe.model["image_size"]
    if data["dataset"] == "digits":
        return tuple(load_digits_split(seed=0))
    train_set = make_shapes(data["num_train"], image_size=image_size, seed=data["train_seed"], clutter=data["clutter"])
    test_set = make_shapes(data["num_test"], image_size=image_size, seed=data["test_seed"], clutter=data["clutter"])
    return train_set.images, train_set.labels, test_set.images, test_set.labels


def stratified_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of round(fraction * n_c) images of every class c (at least 1), nested in ``fraction``.

    For a fixed seed each class's images are taken in one random order, so a smaller fraction
    is always a subset of a larger one.
    """
    _check_fraction(fraction)
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in labels.unique(sorted=True):
        members = (labels == label).nonzero().flatten()
        order = members[torch.randperm(len(members), generator=generator)]
        chosen.append(order[:max(1, round(fraction * len(members)))])
    return torch.cat(chosen).sort().values


def build_model(task: str | SweepTask, model: str, seed: int) -> nn.Module:
    """The task's ViT; a :class:`SmallCNN` whose width makes its parameter count closest to the ViT's; or the
    :class:`HybridViT`: the ViT's transformer on a conv stem whose stride is the ViT's patch size."""
    task = get_task(task)
    if model not in MODEL_NAMES:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {model!r}.")
    if model == "vit":
        return task.recipe.build_model(seed=seed)
    config = ViTConfig(**task.recipe.model)
    if model == "hybrid":
        return HybridViT(task.recipe.model, stride=config.patch_size[0], stem_width=task.stem_width, seed=seed)
    channels, classes = config.channels, config.num_classes
    width = match_cnn_width(count_parameters(config), channels=channels, num_classes=classes, depth=task.cnn_depth)
    return SmallCNN(channels=channels, num_classes=classes, width=width, depth=task.cnn_depth,
                    pool_every=task.cnn_pool_every, seed=seed)


def model_recipe(task: str | SweepTask, model: str) -> Recipe:
    """The recipe ``model`` trains with: the task's, without input normalisation for the CNN and the hybrid.

    Both start with a convolution followed by BatchNorm, which undoes any fixed scaling of the inputs;
    the ViT's linear patch embedding does not, so only the ViT takes its inputs in [-1, 1].
    """
    task = get_task(task)
    if model not in MODEL_NAMES:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {model!r}.")
    return task.recipe if model == "vit" else dataclasses.replace(task.recipe, input_normalization=None)


def run_one(
    task: str | SweepTask, model: str, fraction: float, seed: int, data: tuple | None = None, progress: bool = False,
    return_model: bool = False,
):
    """Train one model on one stratified share of the training set and test it.

    Args:
        task: a name in :data:`TASKS` or a :class:`SweepTask`.
        model: one of :data:`MODEL_NAMES`.
        fraction: share of the training set in (0, 1].
        seed: seeds the subset, the initial weights and the data order.
        data: the output of :func:`task_data`, to avoid rebuilding it for every run.
        progress: show ``train``'s progress bar.
        return_model: also return the trained network.

    Returns:
        A row: task, model, fraction, seed, num_train, parameters, steps, test_accuracy,
        train_accuracy and train_loss (of the last epoch; it starts at about ln K, see :func:`chance_loss`)
        and seconds (wall clock, machine-dependent); ``(row, network)`` with ``return_model``.
    """
    task = get_task(task)
    train_images, train_labels, test_images, test_labels = task_data(task) if data is None else data
    index = stratified_subset(train_labels, fraction, seed)
    network = build_model(task, model, seed)
    start = time.perf_counter()
    recipe = model_recipe(task, model)
    history = train_with_recipe(network, recipe, train_images[index], train_labels[index], seed=seed,
                                device="cpu", progress=progress)
    row = {
        "task": task.name, "model": model, "fraction": fraction, "seed": seed, "num_train": len(index),
        "parameters": sum(p.numel() for p in network.parameters()),
        "steps": optimizer_steps(recipe.train_settings(len(index)), len(index)),
        "test_accuracy": evaluate(network, test_images, test_labels),
        "train_accuracy": history.train_accuracy[-1], "train_loss": history.train_loss[-1],
        "seconds": time.perf_counter() - start,
    }
    return (row, network) if return_model else row


def chance_loss(task: str | SweepTask) -> float:
    """ln K: the cross-entropy of a uniform prediction over the task's K classes, where training starts."""
    return math.log(get_task(task).recipe.model["num_classes"])
