"""A tiny ViT that names BOTH shapes of a two-object scene: multi-label training with binary cross-entropy.

The course's shapes model answers "which one shape is this?" with a softmax over K classes. A scene
of :func:`vit_edu.data.two_objects.make_two_object_scenes` holds two shapes of different classes,
so the answer is a set: K independent yes/no questions, one logit each, trained with binary
cross-entropy on the multi-hot target (``BCEWithLogits``: sigma(logit_c) is the probability that
class c is in the image). The model is the shapes model's architecture (image 32, P = 4, D = 64,
L = 4, k = 4) with the same initialisation and input scaling (:data:`TWO_OBJECT_RECIPE`).

A prediction is right when its two highest logits are exactly the two classes in the image
(:func:`multilabel_accuracy`); guessing gives 1 / C(4, 2) = 1/6.

Its use: gradient-weighted attention asks about ONE class (``target_class``), so on these scenes it
can point at the circle when asked for the circle and at the cross when asked for the cross,
something a class-agnostic map such as rollout cannot do (:mod:`vit_edu.analysis.class_specificity`).

``train_two_object_model()`` trains one from scratch (``benchmarks/train_two_object_model.py`` wrote
the committed weights); ``load_two_object_model()`` loads the committed weights
(``vit_edu/assets/two_objects_vit.safetensors``) and :func:`two_object_model_info` their metadata.
"""

from __future__ import annotations

import math
import time
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vit_edu.checks import TORCH_MAX_SEED, check_int, check_seed
from vit_edu.data.shapes import SHAPE_CLASSES
from vit_edu.data.two_objects import TwoObjectScenes, make_two_object_scenes
from vit_edu.embeddings import POSITION_PARAMETER_NAMES
from vit_edu.language import tr
from vit_edu.model import ViT
from vit_edu.training.loop import History, learning_rate_at, predict, resolve_device
from vit_edu.training.progress import progress_bar
from vit_edu.training.recipes import TRAIN_DEFAULTS, Recipe

__all__ = [
    "TWO_OBJECT_CLASS_NAMES", "TWO_OBJECT_RECIPE", "TwoObjectData", "TwoObjectRun", "checkpoint_metadata",
    "load_two_object_model", "multilabel_accuracy", "top2_correct", "train_multilabel", "train_two_object_model",
    "two_object_accuracy", "two_object_checkpoint_path", "two_object_data", "two_object_model_info",
    "two_object_scenes",
]

TWO_OBJECT_CLASS_NAMES: tuple[str, ...] = SHAPE_CLASSES
CHECKPOINT_NAME = "two_objects_vit.safetensors"

TWO_OBJECT_RECIPE = Recipe(
    # The shapes course model's architecture, initialisation and [-1, 1] input scaling; K = 4 independent logits.
    model=dict(image_size=32, patch_size=4, channels=3, num_classes=len(SHAPE_CLASSES), dim=64, depth=4, heads=4,
               mlp_dim=128, weight_init="jax"),
    # Two objects must fit side by side in 32 px, so they are smaller than the shapes model's (radius 5-7);
    # with radii of 3.5-5 px some seeds stayed on the chance plateau for epochs. Warm hues as in the shapes
    # recipe (a linear patch embedding then tells "coloured" from grey).
    data=dict(num_train=10000, num_test=2000, clutter="grey", object_size=(4.0, 5.5), hue_range=(0.0, 60.0)),
    training=dict(epochs=8, batch_size=64, lr=2e-3, weight_decay=0.05, warmup_epochs=0.5),
    input_normalization=(0.5, 0.5),
)


class TwoObjectData(NamedTuple):
    """The training and test scenes of one ``data_seed``."""

    train: TwoObjectScenes
    test: TwoObjectScenes


class TwoObjectRun(NamedTuple):
    """The result of :func:`train_two_object_model`: the trained model (eval mode, CPU), its history, data, recipe."""

    model: ViT
    history: History
    data: TwoObjectData
    recipe: Recipe


# ---------------------------------------------------------------------------- data
def two_object_scenes(n: int, seed: int) -> TwoObjectScenes:
    """``n`` scenes drawn like the two-object model's data (size, hues, clutter of :data:`TWO_OBJECT_RECIPE`).

    The model trains on seed ``2 * data_seed`` and is tested on ``2 * data_seed + 1``; use a seed >= 100 for
    scenes that are new to it.
    """
    options = {key: value for key, value in TWO_OBJECT_RECIPE.data.items() if key not in ("num_train", "num_test")}
    return make_two_object_scenes(n, image_size=TWO_OBJECT_RECIPE.model["image_size"], seed=seed, **options)


def two_object_data(data_seed: int = 0) -> TwoObjectData:
    """Training scenes (seed ``2 * data_seed``) and test scenes (seed ``2 * data_seed + 1``): never the same images."""
    data_seed = check_seed(data_seed, "data_seed")
    recipe = TWO_OBJECT_RECIPE.data
    return TwoObjectData(two_object_scenes(recipe["num_train"], 2 * data_seed),
                         two_object_scenes(recipe["num_test"], 2 * data_seed + 1))


# ---------------------------------------------------------------------------- the metric
def _check_logits_and_classes(logits: object, classes: object) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a float tensor (n, K), one score per class; got {shape}.")
    if logits.shape[1] < 2:
        raise ValueError(f"logits must have K >= 2 classes for a top-2 prediction, got K = {logits.shape[1]}.")
    if (not isinstance(classes, torch.Tensor) or classes.ndim != 2 or classes.shape[1] != 2
            or classes.is_floating_point() or classes.dtype == torch.bool):
        shape = (f"{classes.dtype} {tuple(classes.shape)}" if isinstance(classes, torch.Tensor)
                 else type(classes).__name__)
        raise ValueError(f"classes must be an integer tensor (n, 2), the two classes of each image "
                         f"(e.g. TwoObjectScenes.classes); got {shape}.")
    if len(classes) != len(logits):
        raise ValueError(f"logits and classes differ in length: {len(logits)} vs {len(classes)}.")
    if len(logits) == 0:
        raise ValueError("logits is empty: an accuracy needs at least one image.")
    if classes.min() < 0 or classes.max() >= logits.shape[1]:
        raise ValueError(f"classes must be indices in 0..{logits.shape[1] - 1}, got values in "
                         f"{int(classes.min())}..{int(classes.max())}.")


def top2_correct(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Whether each image's two highest logits are its two classes (either order): (n, K), (n, 2) -> (n,) bool.

    Ties at the second place are broken by ``torch.topk``, as any top-2 prediction must break them.
    """
    _check_logits_and_classes(logits, classes)
    top = logits.detach().topk(2, dim=1).indices  # (n, 2)
    classes = classes.to(top.device)
    return ((top[:, :1] == classes).any(dim=1) & (top[:, 1:] == classes).any(dim=1)).cpu()  # (n,)


def multilabel_accuracy(logits: torch.Tensor, classes: torch.Tensor) -> float:
    """Fraction of images whose two highest logits are exactly their two classes (chance 1 / C(K, 2))."""
    return top2_correct(logits, classes).float().mean().item()


def two_object_accuracy(model: nn.Module, scenes: TwoObjectScenes, batch_size: int = 512) -> float:
    """:func:`multilabel_accuracy` of ``model`` on ``scenes`` (eval mode)."""
    if not isinstance(scenes, TwoObjectScenes):
        raise TypeError(f"scenes must be TwoObjectScenes (make_two_object_scenes), got {type(scenes).__name__}.")
    return multilabel_accuracy(predict(model, scenes.images, batch_size), scenes.classes)


# ---------------------------------------------------------------------------- training
def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay on weight matrices only (not biases, LayerNorms, the class token, positions)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            skip = param.ndim <= 1 or name.split(".")[-1] in ("cls_token", *POSITION_PARAMETER_NAMES)
            (no_decay if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _check_scenes(scenes: object, name: str) -> None:
    if not isinstance(scenes, TwoObjectScenes):
        raise TypeError(f"{name} must be TwoObjectScenes (make_two_object_scenes), got {type(scenes).__name__}.")
    if len(scenes.images) == 0:
        raise ValueError(f"{name} is empty: give at least one scene.")


def train_multilabel(
    model: nn.Module, recipe: Recipe, train: TwoObjectScenes, test: TwoObjectScenes | None = None, *,
    seed: int = 0, device: str | torch.device = "cpu", progress: bool = True,
) -> History:
    """Train ``model`` in place with binary cross-entropy on multi-hot targets; return its :class:`History`.

    The schedule is :func:`vit_edu.training.loop.train`'s (AdamW, linear warm-up, half cosine, the last partial
    batch dropped); only the loss differs. ``train_accuracy`` and ``test_accuracy`` are
    :func:`multilabel_accuracy`. With ``recipe.input_normalization`` the model trains on ``(x - mean) / std``
    and the normalisation is then folded into its patch embedding, so the trained model takes images in [0, 1].

    Args:
        model: maps (B, 3, H, W) to (B, K) logits; a ViT if the recipe normalises its inputs.
        recipe: ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``warmup_epochs`` from ``recipe.training``.
        train, test: scenes; ``test`` is evaluated after every epoch.
        seed: seeds the data order (and dropout, if any); torch's global RNG is restored afterwards.
        device: ``"cpu"``, ``"cuda"``, ``"auto"``.
        progress: show a progress bar.
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe (e.g. TWO_OBJECT_RECIPE), got {type(recipe).__name__}.")
    _check_scenes(train, "train")
    if test is not None:
        _check_scenes(test, "test")
    seed = check_seed(seed, maximum=TORCH_MAX_SEED)
    settings = recipe.train_settings(len(train.images))
    unused = sorted(set(settings) - {"epochs", "batch_size", "lr", "weight_decay", "warmup_epochs"})
    if unused:
        raise ValueError(f"train_multilabel has no augmentation or label smoothing; drop {unused} from the recipe.")
    settings = {**TRAIN_DEFAULTS, **settings}
    epochs, batch_size = settings["epochs"], settings["batch_size"]
    normalization = recipe.input_normalization
    if normalization is not None and not hasattr(model, "patch_embed"):
        raise TypeError(f"recipe.input_normalization is folded into a ViT's patch embedding; "
                        f"{type(model).__name__} has none. Use a recipe with input_normalization=None.")
    num_classes = getattr(getattr(model, "config", None), "num_classes", None)
    if isinstance(num_classes, int) and num_classes != train.targets.shape[1]:
        raise ValueError(f"the model has K = {num_classes} outputs but the scenes have {train.targets.shape[1]} "
                         f"classes; build it with num_classes={train.targets.shape[1]}.")
    mean, std = normalization if normalization is not None else (0.0, 1.0)
    device = resolve_device(device)
    steps_per_epoch = max(1, len(train.images) // batch_size)
    total_steps = epochs * steps_per_epoch
    warmup_steps = max(1, round(settings["warmup_epochs"] * steps_per_epoch))
    peak = settings["lr"]
    model.to(device)
    optimizer = torch.optim.AdamW(_param_groups(model, settings["weight_decay"]), lr=peak)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    with progress_bar(total_steps, tr("training"), "step", enabled=progress) as bar, \
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        step = 0
        for _ in range(epochs):
            start = time.perf_counter()
            model.train()
            order = torch.randperm(len(train.images), generator=generator)
            loss_sum, correct, seen = 0.0, 0, 0
            for batch in range(steps_per_epoch):
                index = order[batch * batch_size:(batch + 1) * batch_size]
                images = ((train.images[index] - mean) / std).to(device)  # (B, 3, H, W)
                targets = train.targets[index].to(device)  # (B, K) multi-hot
                current_lr = learning_rate_at(step, total_steps, warmup_steps, peak)
                for group in optimizer.param_groups:
                    group["lr"] = current_lr
                logits = model(images)  # (B, K)
                loss = F.binary_cross_entropy_with_logits(logits, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                loss_sum += loss.item() * len(index)
                correct += int(top2_correct(logits, train.classes[index]).sum())
                seen += len(index)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
            history.train_loss.append(loss_sum / seen)
            history.train_accuracy.append(correct / seen)
            history.learning_rate.append(current_lr)
            if test is not None:
                logits = predict(model, (test.images - mean) / std)
                history.test_accuracy.append(multilabel_accuracy(logits, test.classes))
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                                test_acc=f"{history.test_accuracy[-1]:.3f}")
            history.seconds.append(time.perf_counter() - start)
    model.cpu().eval()
    if normalization is not None:
        model.patch_embed.fold_input_normalization(mean, std)  # now takes images in [0, 1]
    return history


def train_two_object_model(
    seed: int = 0, progress: bool = True, *, data_seed: int = 0, epochs: int | None = None,
    device: str | torch.device = "cpu", data: TwoObjectData | None = None,
) -> TwoObjectRun:
    """Train the two-object ViT from scratch with :data:`TWO_OBJECT_RECIPE`.

    Args:
        seed: the initial weights and the data order.
        progress: show a progress bar.
        data_seed: which scenes (:func:`two_object_data`).
        epochs: override the recipe's number of epochs (the schedule is stretched to fit).
        device: ``"cpu"`` (default), ``"cuda"`` or ``"auto"``.
        data: reuse scenes already made by :func:`two_object_data`.

    Returns:
        :class:`TwoObjectRun`; ``run.history.final_test_accuracy`` is :func:`multilabel_accuracy` on the test scenes.
    """
    seed = check_seed(seed, maximum=TORCH_MAX_SEED)
    recipe = TWO_OBJECT_RECIPE
    if epochs is not None:
        recipe = recipe.updated(training={"epochs": check_int(epochs, "epochs")})
    if data is None:
        data = two_object_data(data_seed)
    elif not isinstance(data, TwoObjectData):
        raise TypeError(f"data must be TwoObjectData (two_object_data(data_seed)) or None, got {type(data).__name__}.")
    model = recipe.build_model(seed=seed)
    history = train_multilabel(model, recipe, data.train, data.test, seed=seed, device=device, progress=progress)
    return TwoObjectRun(model, history, data, recipe)


# ---------------------------------------------------------------------------- the committed model
def two_object_checkpoint_path() -> Path:
    """Where the committed two-object model lives inside the installed package."""
    return Path(str(resources.files("vit_edu") / "assets" / CHECKPOINT_NAME))


def two_object_model_info() -> dict[str, str]:
    """The metadata stored with the committed model: ``test_accuracy``, ``seed``, ``data_seed``, ``recipe``, ..."""
    from vit_edu.checkpoints.loading import read_checkpoint_metadata

    return read_checkpoint_metadata(_existing_checkpoint())


def _existing_checkpoint() -> Path:
    path = two_object_checkpoint_path()
    if not path.is_file():
        raise FileNotFoundError(f"the two-object checkpoint {path} is missing from the installed package; reinstall "
                                f"vit_edu or train it: python benchmarks/train_two_object_model.py --out {path}")
    return path


def load_two_object_model() -> ViT:
    """The trained two-object ViT shipped with the package, in eval mode; it takes images in [0, 1].

    Its test scenes: ``two_object_data(int(two_object_model_info()["data_seed"])).test``.
    """
    from vit_edu.checkpoints.loading import load_checkpoint

    return load_checkpoint(_existing_checkpoint())


def checkpoint_metadata(run: TwoObjectRun, seed: int, data_seed: int) -> dict[str, str]:
    """The metadata written with a trained model (the course models' keys, plus the recipe and the metric)."""
    import json

    accuracy = run.history.final_test_accuracy
    return {"dataset": "two_objects", "seed": str(seed), "data_seed": str(data_seed),
            "epochs": str(len(run.history.train_loss)), "num_test": str(len(run.data.test.images)),
            "test_accuracy": "nan" if math.isnan(accuracy) else f"{accuracy:.4f}",
            "train_seconds": f"{run.history.total_seconds:.1f}", "metric": "top-2 logits == the two classes",
            "recipe": json.dumps(run.recipe.as_dict())}
