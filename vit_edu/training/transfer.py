"""Pre-train, then transfer: the paper's main result in miniature (§3.2, §4.2-4.3).

The paper pre-trains ViT on a large data set, then *fine-tunes* it on small ones: it removes the
pre-trained prediction head and attaches a zero-initialised D x K layer (K downstream classes),
often at a higher resolution than pre-training, with the position embeddings resampled by 2-D
interpolation. At course scale:

- **pre-training** (:data:`PRETRAIN_RECIPE`, ``python -m vit_edu pretrain``; the result ships as
  ``vit_edu/assets/pretrained_vit.safetensors``): a tiny ViT (32 px, P = 8, N = 16, D = 64, L = 4,
  k = 4) names one of twelve glyph shapes in many generated cluttered images;
- **downstream** (:mod:`vit_edu.data.scenes`): handwritten digits in the same kind of clutter,
  ten classes pre-training never saw, with 5, 10, 20, 50 or all (about 135) labels per class;
- four ways to learn it with the same optimiser, schedule and number of steps
  (:data:`TRANSFER_RECIPE`): a ViT from scratch, the pre-trained ViT fine-tuned, a linear probe
  (a new head on frozen features), a small CNN from scratch; plus fine-tuning at 48 px (N = 36)
  with resampled position embeddings.

``benchmarks/transfer.py`` runs the full sweep over seeds and writes
``benchmarks/results/transfer.json`` (summarised and looked up with :mod:`vit_edu.training.results`);
the transfer lesson re-runs one row live with :func:`run_transfer`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from vit_edu.checks import check_int
from vit_edu.config import ViTConfig
from vit_edu.counting import count_parameters
from vit_edu.data.scenes import PRETRAIN_CLASSES, TransferData, downstream_data, label_subset, make_glyph_shapes
from vit_edu.model import ViT
from vit_edu.training.cnn import SmallCNN, match_cnn_width
from vit_edu.training.loop import History, evaluate
from vit_edu.training.recipes import Recipe, optimizer_steps, train_with_recipe

METHODS = ("scratch", "finetune", "linear_probe", "cnn")
BUDGETS: tuple[int | None, ...] = (5, 10, 20, 50, None)  # labelled images per class; None = all
NUM_CLASSES = 10  # downstream: the digits 0-9
# How the sweep's table is summarised over seeds (vit_edu.training.results.summarize): one row per
# method, image size and label budget, in the order of METHODS and BUDGETS.
SUMMARY_BY = ("method", "image_size", "per_class")
SUMMARY_ORDER = {"method": METHODS, "per_class": BUDGETS}

PRETRAIN_RECIPE = Recipe(
    # P = 8 (N = 16 tokens) rather than P = 4 (N = 64): a quarter of the tokens keeps pre-training within a
    # CPU budget. The paper's initialisation and inputs in [-1, 1], the recipe that makes a small ViT train
    # (the training lesson); the normalisation is folded into the saved patch embedding, so the checkpoint
    # takes images in [0, 1]. Its metadata records the held-out accuracy, epochs and training time.
    model=dict(image_size=32, patch_size=8, channels=3, num_classes=len(PRETRAIN_CLASSES), dim=64, depth=4,
               heads=4, mlp_dim=128, weight_init="jax"),
    data=dict(num_train=16000, num_test=2000, train_seed=100, test_seed=101),
    training=dict(epochs=20, batch_size=128, lr=3e-3, weight_decay=0.05, warmup_epochs=1, label_smoothing=0.0,
                  max_shift=0, flip=False),
    input_normalization=(0.5, 0.5),
)


@dataclass(frozen=True)
class TransferRecipe:
    """The recipe every downstream run shares, and what differs between the methods.

    Attributes:
        downstream: the shared :class:`~vit_edu.training.recipes.Recipe`: the ViT (the pre-trained
            architecture with a new K = 10 head; ``image_size`` is set per run), the data
            (arguments of :func:`~vit_edu.data.scenes.downstream_data`) and a step budget, so that
            every method makes the same number of updates with the same batch, schedule and
            augmentation. Its ``training`` has no ``lr``: that is per method. Its
            ``input_normalization`` is the scratch ViT's (:meth:`recipe_for`).
        lr: each method's peak learning rate (fine-tuning wants a smaller one than training from
            scratch; a linear probe a larger one).
        cnn_depth, cnn_pool_every: L and pooling of the CNN; its width is matched to the scratch ViT.
    """

    downstream: Recipe
    lr: dict[str, float]
    cnn_depth: int = 4
    cnn_pool_every: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.downstream, Recipe):
            raise TypeError(f"downstream must be a Recipe, got {type(self.downstream).__name__}.")
        if "steps" not in self.downstream.training or "lr" in self.downstream.training:
            raise ValueError("downstream.training must be a step budget (steps, warmup_steps, batch_size, ...) "
                             "without lr: every method makes the same number of updates, at its own lr.")
        if not isinstance(self.lr, dict) or set(self.lr) != set(METHODS):
            raise ValueError(f"lr must map every method of {METHODS} to its peak learning rate, got {self.lr!r}.")
        object.__setattr__(self, "lr", dict(self.lr))
        check_int(self.cnn_depth, "cnn_depth")
        check_int(self.cnn_pool_every, "cnn_pool_every", minimum=0, hint=" (0: no pooling)")

    def recipe_for(self, method: str) -> Recipe:
        """The downstream recipe of one method: inputs in [-1, 1] only for the ViT from scratch.

        The pre-trained ViT already takes images in [0, 1] (its pre-training normalisation is folded
        into its patch embedding), and the CNN's BatchNorm undoes any fixed input scaling.
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
        if method == "scratch":
            return self.downstream
        return dataclasses.replace(self.downstream, input_normalization=None)


TRANSFER_RECIPE = TransferRecipe(
    downstream=Recipe(
        model={**PRETRAIN_RECIPE.model, "num_classes": NUM_CLASSES},
        data=dict(data_seed=0, test_copies=2),
        training=dict(steps=300, batch_size=32, warmup_steps=30, weight_decay=0.05, max_shift=2),
        input_normalization=PRETRAIN_RECIPE.input_normalization,
    ),
    lr={"scratch": 3e-3, "finetune": 1e-3, "linear_probe": 1e-2, "cnn": 3e-3},
)


class PretrainRun(NamedTuple):
    """The result of :func:`pretrain`: the model, its training history, its pre-training test accuracy."""

    model: ViT
    history: History
    test_accuracy: float


# ------------------------------------------------------------------ pre-training
def pretrain_test_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The pre-training task's held-out images (n, 3, 32, 32) and labels (n,) (fixed seed)."""
    data = PRETRAIN_RECIPE.data
    return make_glyph_shapes(data["num_test"], PRETRAIN_RECIPE.model["image_size"], seed=data["test_seed"])


def pretrain(*, epochs: int | None = None, seed: int = 0, device: str | torch.device = "cpu",
             progress: bool = True) -> PretrainRun:
    """Pre-train the tiny ViT with :data:`PRETRAIN_RECIPE` (the checkpoint's metadata records how long it took).

    Args:
        epochs: override the recipe's number of epochs.
        seed: seeds the initial weights, the data order and the augmentation.
        device: where to train (``"cpu"`` reproduces the committed checkpoint).
        progress: show a progress bar.
    """
    data = PRETRAIN_RECIPE.data
    images, labels = make_glyph_shapes(data["num_train"], PRETRAIN_RECIPE.model["image_size"],
                                       seed=data["train_seed"])
    test_images, test_labels = pretrain_test_data()
    model = PRETRAIN_RECIPE.build_model(seed=seed)
    history = train_with_recipe(model, PRETRAIN_RECIPE, images, labels, test_images, test_labels, epochs=epochs,
                                seed=seed, device=device, progress=progress)
    return PretrainRun(model, history, history.final_test_accuracy)


def pretrained_path() -> Path:
    """Where the committed pre-trained checkpoint lives inside the installed package."""
    return Path(str(resources.files("vit_edu") / "assets" / "pretrained_vit.safetensors"))


def load_pretrained(path: str | Path | None = None) -> ViT:
    """The pre-trained ViT (default: the committed checkpoint), in eval mode."""
    from vit_edu.checkpoints.loading import load_checkpoint

    path = pretrained_path() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pre-trained checkpoint at {path}; create it with "
                                f"`python -m vit_edu pretrain --out {path}`.")
    return load_checkpoint(path)


# ------------------------------------------------------------ preparing a model
def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Drop the head and attach a zero-initialised D x K Linear layer (paper §3.2), in place.

    ``model`` is a ViT or any classifier whose last layer is a Linear ``head`` (e.g. the small CNN).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int (K, the downstream classes), got {num_classes!r}.")
    if isinstance(model, ViT):
        features = model.config.dim
    elif isinstance(getattr(model, "head", None), nn.Linear):
        features = model.head.in_features
    else:
        raise TypeError(f"model must be a ViT or a classifier with a Linear `head`, got {type(model).__name__}.")
    head = nn.Linear(features, num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model.head = head
    if isinstance(model, ViT):
        model.config = model.config.replace(num_classes=num_classes)
    elif hasattr(model, "num_classes"):
        model.num_classes = num_classes
    return model


def freeze_all_but_head(model: nn.Module) -> nn.Module:
    """Set ``requires_grad = False`` on every parameter outside ``head`` (a linear probe), in place."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name.startswith("head.")
    return model


def prepare_for_transfer(pretrained: ViT, num_classes: int, image_size: int | None = None,
                         mode: str = "bicubic", linear_probe: bool = False) -> ViT:
    """A copy of ``pretrained`` with a new zero head, E_pos resampled to ``image_size``, optionally frozen."""
    model = replace_head(copy.deepcopy(pretrained), num_classes)
    if image_size is not None:
        model.resample_position_embeddings(image_size, mode=mode)
    return freeze_all_but_head(model) if linear_probe else model


def build_transfer_model(method: str, seed: int, image_size: int = 32, pretrained: ViT | None = None,
                         recipe: TransferRecipe = TRANSFER_RECIPE) -> nn.Module:
    """The untrained downstream model of ``method`` (``pretrained``: default the committed checkpoint)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    num_classes = recipe.downstream.model["num_classes"]
    if method in ("finetune", "linear_probe"):
        pretrained = load_pretrained() if pretrained is None else pretrained
        return prepare_for_transfer(pretrained, num_classes, image_size, linear_probe=method == "linear_probe")
    if method == "scratch":
        return recipe.downstream.build_model(seed=seed, image_size=image_size)
    config = ViTConfig(**{**recipe.downstream.model, "image_size": image_size})
    channels = config.channels
    width = match_cnn_width(count_parameters(config), channels=channels, num_classes=num_classes,
                            depth=recipe.cnn_depth)
    return SmallCNN(channels=channels, num_classes=num_classes, width=width, depth=recipe.cnn_depth,
                    pool_every=recipe.cnn_pool_every, seed=seed)


# --------------------------------------------------------------------- runs
def run_transfer(method: str, per_class: int | None, seed: int, *, image_size: int = 32,
                 data: TransferData | None = None, pretrained: ViT | None = None,
                 recipe: TransferRecipe = TRANSFER_RECIPE, device: str | torch.device = "cpu",
                 progress: bool = False) -> dict[str, Any]:
    """Train one downstream model on ``per_class`` labelled images per class and test it.

    Args:
        method: one of :data:`METHODS`.
        per_class: labelled training images per class, or ``None`` for all of them.
        seed: seeds the labelled subset, the new weights and the data order.
        image_size: 32 (the pre-training resolution) or e.g. 48 (E_pos resampled).
        data: ``downstream_data(image_size, **recipe.downstream.data)``, to avoid rebuilding it for every run.
        pretrained: the pre-trained ViT (default: the committed checkpoint).
        recipe: the shared training budget and the methods' learning rates.
        device: where to train.
        progress: show the training progress bar.

    Returns:
        A row: method, image_size, per_class, seed, num_train, trainable, steps, test_accuracy,
        train_accuracy, seconds (wall clock, machine-dependent).
    """
    data = downstream_data(image_size, **recipe.downstream.data) if data is None else data
    if data.train_images.shape[-1] != image_size:
        raise ValueError(f"data holds {data.train_images.shape[-1]} px images but image_size={image_size}; "
                         f"pass downstream_data({image_size}).")
    index = label_subset(data.train_labels, per_class, seed)
    model = build_transfer_model(method, seed, image_size, pretrained, recipe)
    start = time.perf_counter()
    method_recipe = recipe.recipe_for(method)
    history = train_with_recipe(model, method_recipe, data.train_images[index], data.train_labels[index],
                                seed=seed, device=device, progress=progress, lr=recipe.lr[method])
    return {
        "method": method, "image_size": image_size, "per_class": per_class, "seed": seed, "num_train": len(index),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "steps": optimizer_steps(method_recipe.train_settings(len(index)), len(index)),
        "test_accuracy": evaluate(model, data.test_images, data.test_labels),
        "train_accuracy": history.train_accuracy[-1], "train_loss": history.train_loss[-1],
        "seconds": time.perf_counter() - start,
    }


def recipe_as_dict(recipe: TransferRecipe = TRANSFER_RECIPE) -> dict[str, Any]:
    """The recipes as plain data, stored with the table so that a reader knows what produced it."""
    return {"pretrain": PRETRAIN_RECIPE.as_dict(), "transfer": asdict(recipe)}
