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

``benchmarks/transfer.py`` runs the full sweep (3 seeds per cell) and writes
``benchmarks/results/transfer.json``; lesson 10 re-runs one row live with :func:`run_transfer`.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from vit_edu.data.scenes import PRETRAIN_CLASSES, TransferData, downstream_data, label_subset, make_glyph_shapes
from vit_edu.model import ViT
from vit_edu.training.cnn import SmallCNN, match_cnn_width
from vit_edu.training.loop import History, evaluate, train

METHODS = ("scratch", "finetune", "linear_probe", "cnn")
BUDGETS: tuple[int | None, ...] = (5, 10, 20, 50, None)  # labelled images per class; None = all
NUM_CLASSES = 10  # downstream: the digits 0-9

# P = 8 (N = 16 tokens) is about 4x faster per step than P = 4 on 32 px; 20 epochs, because 10 left the held-out
# accuracy far below what the committed checkpoint records (its metadata holds accuracy, epochs and time).
PRETRAIN_RECIPE: dict[str, dict[str, Any]] = {
    "model": dict(image_size=32, patch_size=8, channels=3, num_classes=len(PRETRAIN_CLASSES), dim=64, depth=4,
                  heads=4, mlp_dim=128),
    "data": dict(num_train=16000, num_test=2000, train_seed=100, test_seed=101),
    "training": dict(epochs=20, batch_size=128, lr=3e-3, weight_decay=0.05, warmup_epochs=1, label_smoothing=0.0,
                     max_shift=0, flip=False),
}


@dataclass(frozen=True)
class TransferRecipe:
    """The training budget shared by every downstream run: same steps, batch, schedule and augmentation.

    ``lr`` holds each method's peak learning rate (fine-tuning wants a smaller one than training
    from scratch; a linear probe a larger one).
    """

    steps: int = 300
    batch_size: int = 32
    warmup_steps: int = 30
    weight_decay: float = 0.05
    max_shift: int = 2
    lr: dict[str, float] = field(default_factory=lambda: {"scratch": 3e-3, "finetune": 1e-3,
                                                          "linear_probe": 1e-2, "cnn": 3e-3})
    cnn_depth: int = 4
    cnn_pool_every: int = 1


TRANSFER_RECIPE = TransferRecipe()


class PretrainRun(NamedTuple):
    """The result of :func:`pretrain`: the model, its training history, its pre-training test accuracy."""

    model: ViT
    history: History
    test_accuracy: float


# ------------------------------------------------------------------ pre-training
def pretrain_test_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The pre-training task's held-out images (n, 3, 32, 32) and labels (n,) (fixed seed)."""
    data = PRETRAIN_RECIPE["data"]
    return make_glyph_shapes(data["num_test"], PRETRAIN_RECIPE["model"]["image_size"], seed=data["test_seed"])


def pretrain(*, epochs: int | None = None, seed: int = 0, device: str | torch.device = "cpu",
             progress: bool = True) -> PretrainRun:
    """Pre-train the tiny ViT with :data:`PRETRAIN_RECIPE` (a few minutes on two CPU cores).

    Args:
        epochs: override the recipe's number of epochs.
        seed: seeds the initial weights, the data order and the augmentation.
        device: where to train (``"cpu"`` reproduces the committed checkpoint).
        progress: show a progress bar.
    """
    data, settings = PRETRAIN_RECIPE["data"], dict(PRETRAIN_RECIPE["training"])
    if epochs is not None:
        settings["epochs"] = epochs
    images, labels = make_glyph_shapes(data["num_train"], PRETRAIN_RECIPE["model"]["image_size"],
                                       seed=data["train_seed"])
    test_images, test_labels = pretrain_test_data()
    model = ViT(**PRETRAIN_RECIPE["model"], seed=seed)
    history = train(model, images, labels, test_images, test_labels, seed=seed, device=device, progress=progress,
                    **settings)
    return PretrainRun(model.cpu(), history, history.final_test_accuracy)


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
def replace_head(model: ViT, num_classes: int) -> ViT:
    """Drop the head and attach a zero-initialised D x K Linear layer (paper §3.2), in place."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int (K, the downstream classes), got {num_classes!r}.")
    head = nn.Linear(model.config.dim, num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model.head = head
    model.config = model.config.replace(num_classes=num_classes)
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
    if method in ("finetune", "linear_probe"):
        pretrained = load_pretrained() if pretrained is None else pretrained
        return prepare_for_transfer(pretrained, NUM_CLASSES, image_size, linear_probe=method == "linear_probe")
    vit = ViT(**{**PRETRAIN_RECIPE["model"], "image_size": image_size, "num_classes": NUM_CLASSES}, seed=seed)
    if method == "scratch":
        return vit
    width = match_cnn_width(vit.num_parameters(), channels=3, num_classes=NUM_CLASSES, depth=recipe.cnn_depth)
    return SmallCNN(channels=3, num_classes=NUM_CLASSES, width=width, depth=recipe.cnn_depth,
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
        data: ``downstream_data(image_size)``, to avoid rebuilding it for every run.
        pretrained: the pre-trained ViT (default: the committed checkpoint).
        recipe: the shared training budget.
        device: where to train.
        progress: show the training progress bar.

    Returns:
        A row: method, image_size, per_class, seed, num_train, trainable, steps, test_accuracy,
        train_accuracy, seconds (wall clock, machine-dependent).
    """
    data = downstream_data(image_size) if data is None else data
    if data.train_images.shape[-1] != image_size:
        raise ValueError(f"data holds {data.train_images.shape[-1]} px images but image_size={image_size}; "
                         f"pass downstream_data({image_size}).")
    index = label_subset(data.train_labels, per_class, seed)
    model = build_transfer_model(method, seed, image_size, pretrained, recipe)
    batch_size = min(recipe.batch_size, len(index))
    steps_per_epoch = max(1, len(index) // batch_size)
    epochs = max(1, math.ceil(recipe.steps / steps_per_epoch))
    start = time.perf_counter()
    history = train(model, data.train_images[index], data.train_labels[index], epochs=epochs, batch_size=batch_size,
                    lr=recipe.lr[method], weight_decay=recipe.weight_decay,
                    warmup_epochs=recipe.warmup_steps / steps_per_epoch, max_shift=recipe.max_shift, seed=seed,
                    device=device, progress=progress)
    return {
        "method": method, "image_size": image_size, "per_class": per_class, "seed": seed, "num_train": len(index),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "steps": epochs * steps_per_epoch, "test_accuracy": evaluate(model.cpu(), data.test_images, data.test_labels),
        "train_accuracy": history.train_accuracy[-1], "seconds": time.perf_counter() - start,
    }


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean, min and max of the test accuracy over seeds, per (method, image size, labels per class)."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["image_size"], row["per_class"]), []).append(row["test_accuracy"])
    order = {budget: i for i, budget in enumerate(BUDGETS)}
    return [
        {"method": m, "image_size": s, "per_class": k, "seeds": len(accs), "mean": statistics.fmean(accs),
         "min": min(accs), "max": max(accs)}
        for (m, s, k), accs in sorted(groups.items(), key=lambda item: (METHODS.index(item[0][0]), item[0][1],
                                                                         order.get(item[0][2], 99)))
    ]


def find_row(rows: list[dict[str, Any]], **keys: Any) -> dict[str, Any]:
    """The one row whose fields equal ``keys`` (e.g. method="finetune", per_class=20, seed=0, image_size=32)."""
    found = [row for row in rows if all(row.get(k) == v for k, v in keys.items())]
    if len(found) != 1:
        raise ValueError(f"expected one row with {keys}, found {len(found)}.")
    return found[0]


def recipe_as_dict(recipe: TransferRecipe = TRANSFER_RECIPE) -> dict[str, Any]:
    """The recipes as plain data, stored with the table so that a reader knows what produced it."""
    return {"pretrain": PRETRAIN_RECIPE, "transfer": asdict(recipe)}
