"""The paper's main result in miniature: does the ViT catch up with a CNN as pre-training data grows? (Fig. 3/4, §4.3)

The paper pre-trains ViTs and ResNets on ImageNet (1.3M images), ImageNet-21k (14M) and JFT-300M,
then evaluates each pre-trained model on small downstream tasks: with the smallest pre-training set
the ResNets transfer better; with the largest, ViT overtakes them. At course scale:

- **pre-training data**: the glyph shapes of the transfer lesson (twelve classes in cluttered
  scenes, :func:`~vit_edu.data.scenes.make_glyph_shapes`), the first n images of one generated pool
  for every n of :data:`SIZES` (1k to 64k images, 1.8 decades; the sets are nested);
- **models**: the transfer lesson's tiny ViT (32 px, P = 8, D = 64, L = 4) and a small CNN with
  about the same number of parameters, each trained the way that works for it (the ViT with the
  paper's initialisation on inputs in [-1, 1], the CNN, whose convolutions are followed by
  BatchNorm, on the images as they are);
- **the same number of optimiser steps at every size** (:data:`CROSSOVER_RECIPE`): a small set
  is seen for many epochs, a large one for a few, as in the paper's Fig. 3, where every model on a
  given pre-training set trains for a fixed budget;
- **two evaluations** on the transfer lesson's downstream task (handwritten digits in clutter,
  ten classes pre-training never saw), both at a fixed small label budget:
  *fine-tuning* (new zero head, every weight trained with the transfer lesson's fine-tuning
  recipe) and the paper's *linear few-shot* evaluation (:mod:`vit_edu.training.fewshot`: closed-form
  ridge regression from frozen features to {-1, 1}^K targets, no gradient descent).

``benchmarks/crossover.py`` runs the sweep (sizes x models x seeds 0/1/2) and commits
``benchmarks/results/crossover.json``; the transfer lesson shows its figure
(:func:`vit_edu.viz.crossover.plot_crossover`) and re-runs one small point with :func:`run_point`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from vit_edu.checks import check_choice, check_int
from vit_edu.config import ViTConfig
from vit_edu.counting import count_parameters
from vit_edu.data.scenes import PRETRAIN_CLASSES, TransferData, downstream_data, label_subset, make_glyph_shapes
from vit_edu.training.cnn import SmallCNN, match_cnn_width
from vit_edu.training.fewshot import fewshot_accuracy, representation
from vit_edu.training.loop import History, evaluate
from vit_edu.training.recipes import Recipe, optimizer_steps, train_with_recipe
from vit_edu.training.transfer import PRETRAIN_RECIPE, TRANSFER_RECIPE, replace_head

MODELS = ("vit", "cnn")
SIZES = (1000, 4000, 16000, 64000)  # pre-training images
FEWSHOT_SHOTS = (1, 5, 10, 25)  # labelled images per class of the linear few-shot evaluation (the paper's)
FINETUNE_PER_CLASS = 10  # the fixed small label budget of the fine-tuning evaluation
# How the sweep's table is summarised over seeds (vit_edu.training.results.summarize).
SUMMARY_BY = ("model", "size")
SUMMARY_ORDER = {"model": MODELS, "size": SIZES}
# The values of a row that the summary and the figure report.
EVALUATIONS = ("finetune_accuracy", *(f"fewshot_{shots}" for shots in FEWSHOT_SHOTS), "pretrain_test_accuracy")


@dataclass(frozen=True)
class CrossoverRecipe:
    """Everything the sweep shares.

    Attributes:
        pretrain: the ViT (the transfer lesson's architecture), the data (``pool_seed``: the
            generator seed of the pool of ``max(SIZES)`` images; ``test_seed``, ``num_test``: the
            pre-training task's held-out images) and the step budget every model and size gets.
            Its ``input_normalization`` is the ViT's; the CNN trains on the raw images.
        finetune_lr: the peak learning rate of fine-tuning, for both models (the transfer lesson's).
        finetune: the fine-tuning budget, the same for both models (the course uses the transfer lesson's,
            ``TRANSFER_RECIPE.recipe_for("finetune")``: 300 steps of batch 32; no ``input_normalization``,
            since both pre-trained models take the raw images).
        cnn_depth, cnn_pool_every: L and pooling of the CNN; its width is matched to the ViT.
    """

    pretrain: Recipe
    finetune_lr: float
    finetune: Recipe
    cnn_depth: int = 4
    cnn_pool_every: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.pretrain, Recipe) or "steps" not in self.pretrain.training:
            raise TypeError("pretrain must be a Recipe with a step budget (steps, warmup_steps, batch_size, lr, ...): "
                            "every pre-training size gets the same number of updates.")
        if not isinstance(self.finetune, Recipe) or self.finetune.input_normalization is not None:
            raise TypeError("finetune must be a Recipe without input_normalization: both pre-trained models take "
                            "the raw images (the ViT's scaling is folded into its patch embedding).")
        check_int(self.cnn_depth, "cnn_depth")
        check_int(self.cnn_pool_every, "cnn_pool_every", minimum=0, hint=" (0: no pooling)")

    def recipe_for(self, model: str) -> Recipe:
        """The pre-training recipe of ``"vit"`` (inputs scaled to [-1, 1]) or ``"cnn"`` (raw inputs)."""
        check_choice(model, "model", MODELS)
        return self.pretrain if model == "vit" else dataclasses.replace(self.pretrain, input_normalization=None)


CROSSOVER_RECIPE = CrossoverRecipe(
    # 1024 updates of 125 images: exactly 128 epochs of the 1k set, 32 of 4k, 8 of 16k, 2 of 64k (a batch of 125
    # divides every size, so no size drops a partial batch or gets extra steps). The CNN's step costs about
    # seven times the ViT's on a CPU, which sets the budget: the sweep (24 pre-trainings) fits in about an hour
    # on two cores.
    pretrain=dataclasses.replace(
        PRETRAIN_RECIPE,
        data=dict(pool_seed=100, num_test=PRETRAIN_RECIPE.data["num_test"],
                  test_seed=PRETRAIN_RECIPE.data["test_seed"]),
        training=dict(steps=1024, warmup_steps=50, batch_size=125, lr=3e-3, weight_decay=0.05, label_smoothing=0.0,
                      max_shift=0, flip=False),
    ),
    finetune_lr=TRANSFER_RECIPE.lr["finetune"],
    finetune=TRANSFER_RECIPE.recipe_for("finetune"),
)


class PretrainPool(NamedTuple):
    """The pre-training images: the largest set (the smaller ones are its first n) and held-out test images."""

    images: torch.Tensor
    labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def pretrain_pool(max_size: int = max(SIZES), recipe: CrossoverRecipe = CROSSOVER_RECIPE) -> PretrainPool:
    """Generate ``max_size`` pre-training images (seed ``pool_seed``) and the held-out set (seed ``test_seed``)."""
    check_int(max_size, "max_size")
    data, size = recipe.pretrain.data, recipe.pretrain.model["image_size"]
    images, labels = make_glyph_shapes(max_size, size, seed=data["pool_seed"])
    test_images, test_labels = make_glyph_shapes(data["num_test"], size, seed=data["test_seed"])
    return PretrainPool(images, labels, test_images, test_labels)


def build_model(model: str, seed: int, recipe: CrossoverRecipe = CROSSOVER_RECIPE) -> nn.Module:
    """An untrained pre-training model: the ViT of the recipe, or the CNN with about as many parameters."""
    check_choice(model, "model", MODELS)
    if model == "vit":
        return recipe.pretrain.build_model(seed=seed)
    config = ViTConfig(**recipe.pretrain.model)
    width = match_cnn_width(count_parameters(config), channels=config.channels, num_classes=config.num_classes,
                            depth=recipe.cnn_depth)
    return SmallCNN(channels=config.channels, num_classes=config.num_classes, width=width, depth=recipe.cnn_depth,
                    pool_every=recipe.cnn_pool_every, seed=seed)


def pretrain_model(model: str, size: int, seed: int, pool: PretrainPool, *, recipe: CrossoverRecipe = CROSSOVER_RECIPE,
                   device: str | torch.device = "cpu", progress: bool = False) -> tuple[nn.Module, History]:
    """Pre-train ``model`` on the first ``size`` images of ``pool`` for the recipe's number of steps."""
    check_int(size, "size")
    if size > len(pool.images):
        raise ValueError(f"size={size} exceeds the pool's {len(pool.images)} images; make it with "
                         f"pretrain_pool({size}).")
    network = build_model(model, seed, recipe)
    history = train_with_recipe(network, recipe.recipe_for(model), pool.images[:size], pool.labels[:size],
                                seed=seed, device=device, progress=progress)
    return network, history


def evaluate_transfer(pretrained: nn.Module, seed: int, data: TransferData, *,
                      recipe: CrossoverRecipe = CROSSOVER_RECIPE, shots: tuple[int, ...] = FEWSHOT_SHOTS,
                      finetune_per_class: int | None = FINETUNE_PER_CLASS, device: str | torch.device = "cpu",
                      ) -> dict[str, Any]:
    """Both evaluations of a pre-trained model on the downstream digits.

    Linear few-shot: ridge regression on the frozen features of ``k`` labelled images per class
    (for every ``k`` of ``shots``; the subset is drawn with ``seed``). Fine-tuning (``pretrained`` is
    left untouched): a copy with a new zero head, trained with ``recipe.finetune`` at
    ``recipe.finetune_lr`` on ``finetune_per_class`` images per class (``None``: skip).

    Returns:
        ``fewshot_K`` (accuracy) and ``fewshot_K_l2`` (the lambda chosen) for every K of
        ``shots``; ``finetune_accuracy`` and ``finetune_train_loss``.
    """
    num_classes = int(data.train_labels.max()) + 1
    row: dict[str, Any] = {}
    train_features = representation(pretrained, data.train_images)
    test_features = representation(pretrained, data.test_images)
    for k in shots:
        index = label_subset(data.train_labels, k, seed)
        result = fewshot_accuracy(train_features[index], data.train_labels[index], test_features, data.test_labels,
                                  num_classes)
        row[f"fewshot_{k}"], row[f"fewshot_{k}_l2"] = result.accuracy, result.l2
    if finetune_per_class is not None:
        model = replace_head(copy.deepcopy(pretrained), num_classes)
        index = label_subset(data.train_labels, finetune_per_class, seed)
        history = train_with_recipe(model, recipe.finetune, data.train_images[index], data.train_labels[index],
                                    seed=seed, device=device, lr=recipe.finetune_lr)
        row["finetune_accuracy"] = evaluate(model, data.test_images, data.test_labels)
        row["finetune_train_loss"] = history.train_loss[-1]
    return row


def run_point(model: str, size: int, seed: int, *, pool: PretrainPool | None = None, data: TransferData | None = None,
              recipe: CrossoverRecipe = CROSSOVER_RECIPE, device: str | torch.device = "cpu",
              progress: bool = False) -> dict[str, Any]:
    """One point of the sweep: pre-train ``model`` on ``size`` images with ``seed``, then evaluate it both ways.

    Args:
        model: ``"vit"`` or ``"cnn"``.
        size: pre-training images (the first ``size`` of the pool).
        seed: seeds the initial weights, the data order and the downstream label subsets.
        pool: :func:`pretrain_pool` (default: the sweep's own pool of ``max(SIZES)`` images, generated here:
            a smaller pool would hold other images, since its first ``size`` are not the sweep's).
        data: ``downstream_data(32, **TRANSFER_RECIPE.downstream.data)``, to avoid rebuilding it.
        recipe: the shared budget.
        device: where to train.
        progress: show the pre-training progress bar.

    Returns:
        A row: model, size, seed, steps, epochs, parameters, pretrain_train_loss,
        pretrain_test_accuracy, the evaluations of :func:`evaluate_transfer`, seconds (wall clock).
    """
    check_choice(model, "model", MODELS)
    check_int(size, "size")
    start = time.perf_counter()
    pool = pretrain_pool(max(SIZES), recipe) if pool is None else pool
    if data is None:
        data = downstream_data(recipe.pretrain.model["image_size"], **TRANSFER_RECIPE.downstream.data)
    network, history = pretrain_model(model, size, seed, pool, recipe=recipe, device=device, progress=progress)
    settings = recipe.recipe_for(model).train_settings(size)
    row = {
        "model": model, "size": size, "seed": seed, "steps": optimizer_steps(settings, size),
        "epochs": settings["epochs"], "parameters": sum(p.numel() for p in network.parameters()),
        "pretrain_train_loss": history.train_loss[-1],
        "pretrain_test_accuracy": evaluate(network, pool.test_images, pool.test_labels),
    }
    row.update(evaluate_transfer(network, seed, data, recipe=recipe, device=device))
    row["seconds"] = time.perf_counter() - start
    return row


def recipe_as_dict(recipe: CrossoverRecipe = CROSSOVER_RECIPE) -> dict[str, Any]:
    """The recipes as plain data, stored with the table so that a reader knows what produced it."""
    return {"pretrain": recipe.pretrain.as_dict(), "finetune": recipe.finetune.as_dict(),
            "finetune_lr": recipe.finetune_lr, "cnn_depth": recipe.cnn_depth, "cnn_pool_every": recipe.cnn_pool_every,
            "sizes": list(SIZES), "fewshot_shots": list(FEWSHOT_SHOTS), "finetune_per_class": FINETUNE_PER_CLASS,
            "pretrain_classes": len(PRETRAIN_CLASSES)}
