"""Training recipes: the one :class:`Recipe` type, training with one, and the course's two tiny ViTs.

A :class:`Recipe` writes down everything needed to rebuild a trained model: the ViT's keyword
arguments, the data it learns from and the settings of :func:`vit_edu.training.loop.train`. Every
trained model of the course has one: the two course models here (:data:`COURSE_RECIPES`), the
pre-trained ViT of the transfer lesson and its downstream runs (:mod:`vit_edu.training.transfer`), and the
data-efficiency sweep of the inductive-bias lesson (:mod:`vit_edu.training.data_efficiency`).

The course models:

- ``"digits"``: sklearn's 8x8 digits, patch size P = 4 (N = 4 patches), D = 96, L = 4, k = 8;
- ``"shapes"``: 32x32 synthetic shapes in grey clutter, P = 4 (N = 64), D = 64, L = 4, k = 4.

``train_course_model("digits")`` trains one from scratch with its recipe (accuracy and time over
seeds and CPUs: ``benchmarks/results/train_targets.json``). ``load_course_model("digits")`` loads
the trained weights that ship inside the package (``vit_edu/assets/*.safetensors``, written by
``python -m vit_edu train digits --out vit_edu/assets/digits_vit.safetensors``), together with the
data seed and test accuracy recorded in their metadata.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from numbers import Real
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from vit_edu.checks import check_int
from vit_edu.config import ViTConfig
from vit_edu.data.digits import DIGIT_CLASSES, load_digits_split
from vit_edu.data.shapes import SHAPE_CLASSES, Shapes, make_shapes
from vit_edu.model import ViT
from vit_edu.training.loop import History, train

# ``train``'s settings (its keyword-only arguments) with their defaults; seed, device and progress
# belong to one run, not to a recipe.
_PER_RUN = ("seed", "device", "progress")
TRAIN_DEFAULTS: dict[str, Any] = {
    name: parameter.default for name, parameter in inspect.signature(train).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in _PER_RUN
}
# A step budget in place of ``epochs`` / ``warmup_epochs``: runs on fewer images get more epochs,
# so that every run of a comparison makes the same number of optimiser updates.
_STEP_BUDGET = ("steps", "warmup_steps")


def _plain(value: Any) -> Any:
    # JSON turns tuples into lists; store tuples so that a recipe read back from JSON equals the original
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Recipe:
    """Everything needed to rebuild a trained model: architecture, data and training settings.

    Its JSON form is ``dataclasses.asdict(recipe)`` (:meth:`as_dict`); :meth:`from_dict` reads it
    back, also from checkpoints written before ``input_normalization`` existed.

    Attributes:
        model: keyword arguments of :class:`~vit_edu.model.ViT` (``image_size``, ``patch_size``,
            ``dim``, ...), checked by :class:`~vit_edu.config.ViTConfig`.
        data: what the data loader of its use needs (sizes, seeds, options).
        training: keyword arguments of :func:`~vit_edu.training.loop.train` (``epochs``,
            ``batch_size``, ``lr``, ...); or a step budget, ``steps`` and ``warmup_steps`` in place
            of ``epochs`` and ``warmup_epochs`` (then ``batch_size`` too), turned into epochs for a
            training set's size by :meth:`train_settings`.
        input_normalization: ``(mean, std)``: train on ``(x - mean) / std``, then fold that into
            the patch embedding, so the finished model takes images in [0, 1] like every other
            course model. ``None``: train on the images as they are.
    """

    model: dict[str, Any]
    data: dict[str, Any]
    training: dict[str, Any]
    input_normalization: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("model", "data", "training"):
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
                raise TypeError(f"Recipe.{name} must be a dict with str keys, got {value!r}.")
            object.__setattr__(self, name, {key: _plain(item) for key, item in value.items()})  # a copy
        try:
            ViTConfig(**self.model)
        except TypeError as problem:  # an unknown keyword
            raise TypeError(f"Recipe.model holds ViT keyword arguments: {problem}") from None
        self._check_training()
        if self.input_normalization is not None:
            pair = _plain(self.input_normalization)
            if (not isinstance(pair, tuple) or len(pair) != 2
                    or not all(isinstance(x, Real) and not isinstance(x, bool) for x in pair)):
                raise TypeError(f"input_normalization must be None or a pair (mean, std) of numbers, got {pair!r}.")
            if not pair[1] > 0:
                raise ValueError(f"input_normalization std must be > 0, got {pair[1]}; (0.5, 0.5) maps [0, 1] "
                                 "to [-1, 1].")
            object.__setattr__(self, "input_normalization", pair)

    def _check_training(self) -> None:
        training = self.training
        known = {*TRAIN_DEFAULTS, *_STEP_BUDGET}
        unknown = sorted(set(training) - known)
        if unknown:
            raise ValueError(f"Recipe.training has unknown settings {unknown}; use train's keyword arguments "
                             f"{sorted(TRAIN_DEFAULTS)} or a step budget {list(_STEP_BUDGET)}.")
        if "steps" in training:
            mixed = sorted({"epochs", "warmup_epochs"} & set(training))
            missing = [key for key in ("warmup_steps", "batch_size") if key not in training]
            if mixed or missing:
                raise ValueError(f"Recipe.training with a step budget (steps) needs warmup_steps and batch_size "
                                 f"and no epoch settings; missing {missing}, extra {mixed}.")
            check_int(training["steps"], "Recipe.training['steps']")
            check_int(training["warmup_steps"], "Recipe.training['warmup_steps']", minimum=0)
        elif "epochs" in training:
            if "warmup_steps" in training:
                raise ValueError("Recipe.training: warmup_steps goes with steps; with epochs give warmup_epochs.")
            check_int(training["epochs"], "Recipe.training['epochs']")
        else:
            raise ValueError("Recipe.training needs epochs (e.g. epochs=10) or a step budget (steps, warmup_steps).")
        if "batch_size" in training:
            check_int(training["batch_size"], "Recipe.training['batch_size']")

    # ------------------------------------------------------------------ JSON form
    def as_dict(self) -> dict[str, Any]:
        """Plain data (``dataclasses.asdict``), e.g. for ``json.dumps`` into a checkpoint's metadata."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """The recipe of :meth:`as_dict` (or of ``json.loads`` of it); missing optional fields take their defaults."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a dict such as Recipe.as_dict() returns, got {type(data).__name__}.")
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown recipe fields {unknown}; a recipe has {names}.")
        missing = [name for name in ("model", "data", "training") if name not in data]
        if missing:
            raise ValueError(f"the recipe lacks {missing}; a recipe has {names}.")
        return cls(**data)

    # ------------------------------------------------------------------ variants and use
    def updated(self, **changes: Any) -> Recipe:
        """A copy with some settings changed: dicts are merged, e.g. ``recipe.updated(training={"epochs": 1})``.

        ``input_normalization`` is replaced. To drop a setting, use ``dataclasses.replace``.
        """
        names = [field.name for field in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise TypeError(f"unknown recipe fields {unknown}; a recipe has {names}.")
        merged = {name: {**getattr(self, name), **value} if name != "input_normalization" else value
                  for name, value in changes.items()}
        return dataclasses.replace(self, **merged)

    def build_model(self, seed: int | None = None, **changes: Any) -> ViT:
        """An untrained ViT of this recipe (``changes``: ViT keyword arguments that differ, e.g. ``image_size``)."""
        return ViT(**{**self.model, **changes}, seed=seed)

    def train_settings(self, num_train: int) -> dict[str, Any]:
        """The keyword arguments of :func:`~vit_edu.training.loop.train` for ``num_train`` training images.

        With a step budget: ``batch_size = min(batch_size, num_train)``, ``epochs = ceil(steps /
        steps_per_epoch)`` (at least one) and ``warmup_epochs = warmup_steps / steps_per_epoch``,
        where ``steps_per_epoch = num_train // batch_size`` (``train`` drops the last partial batch).
        """
        check_int(num_train, "num_train")
        settings = dict(self.training)
        if "steps" not in settings:
            return settings
        steps, warmup_steps = settings.pop("steps"), settings.pop("warmup_steps")
        batch_size = min(settings["batch_size"], num_train)
        steps_per_epoch = max(1, num_train // batch_size)
        return {**settings, "batch_size": batch_size, "epochs": max(1, math.ceil(steps / steps_per_epoch)),
                "warmup_epochs": warmup_steps / steps_per_epoch}


def optimizer_steps(settings: Mapping[str, Any], num_train: int) -> int:
    """The number of updates ``train(**settings)`` makes on ``num_train`` images (the last partial batch is dropped)."""
    full = {**TRAIN_DEFAULTS, **settings}
    return full["epochs"] * max(1, num_train // full["batch_size"])


def train_with_recipe(
    model: nn.Module, recipe: Recipe, train_images: torch.Tensor, train_labels: torch.Tensor,
    test_images: torch.Tensor | None = None, test_labels: torch.Tensor | None = None, *, epochs: int | None = None,
    seed: int = 0, device: str | torch.device = "cpu", progress: bool = False, **overrides: Any,
) -> History:
    """Train ``model`` in place with ``recipe``'s settings and return its history; the model ends on the CPU.

    Args:
        model: a classifier (a ViT if the recipe has ``input_normalization``, which is folded into
            its patch embedding after training, so the trained model takes the raw images).
        recipe: supplies the settings of :func:`~vit_edu.training.loop.train`
            (:meth:`Recipe.train_settings` for this many training images).
        train_images, train_labels, test_images, test_labels: as for ``train``, raw (not normalised).
        epochs: override the recipe's number of epochs (``None``: the recipe's).
        seed, device, progress: as for ``train``.
        overrides: other settings that replace the recipe's, e.g. a method's ``lr``.
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe, got {type(recipe).__name__}.")
    settings = {**recipe.train_settings(len(train_images)), **overrides}
    if epochs is not None:
        settings["epochs"] = epochs
    normalization = recipe.input_normalization
    if normalization is not None:
        if not hasattr(model, "patch_embed"):
            raise TypeError(f"recipe.input_normalization is folded into a ViT's patch embedding; "
                            f"{type(model).__name__} has none. Use a recipe with input_normalization=None.")
        mean, std = normalization
        train_images = (train_images - mean) / std
        test_images = None if test_images is None else (test_images - mean) / std
    history = train(model, train_images, train_labels, test_images, test_labels, seed=seed, device=device,
                    progress=progress, **settings)
    model.cpu()
    if normalization is not None:
        model.patch_embed.fold_input_normalization(*normalization)  # now takes the raw images
    return history


# ---------------------------------------------------------------------------- the course models
COURSE_MODEL_NAMES = ("digits", "shapes")
COURSE_CLASS_NAMES: dict[str, tuple[str, ...]] = {"digits": DIGIT_CLASSES, "shapes": SHAPE_CLASSES}

COURSE_RECIPES: dict[str, Recipe] = {
    "digits": Recipe(
        # P = 4 (N = 4 tokens) rather than P = 2 (N = 16): with 1,347 training images, fewer and larger patches
        # learn better and faster (the training lesson, section 6; benchmarks/training_sweep.py). No shifts: a
        # one-pixel shift changes every patch of an 8x8 digit; dropout and weight decay fight the overfitting
        # instead.
        model=dict(image_size=8, patch_size=4, channels=1, num_classes=10, dim=96, depth=4, heads=8, mlp_dim=192,
                   dropout=0.2),
        data=dict(test_fraction=0.25),
        training=dict(epochs=40, batch_size=64, lr=3e-3, weight_decay=0.5, warmup_epochs=2,
                      label_smoothing=0.1, max_shift=0, flip=False),
    ),
    "shapes": Recipe(
        model=dict(image_size=32, patch_size=4, channels=3, num_classes=4, dim=64, depth=4, heads=4, mlp_dim=128,
                   weight_init="jax"),
        # Warm hues (0-60 degrees): the patch embedding is linear in RGB, and no single direction separates
        # "coloured" from grey for every hue, so with objects of any hue the ViT stays at the chance loss
        # (benchmarks/shapes_plateau.py; vit_edu.analysis.probes shows why). Upright objects of radius 5-7 px
        # cover only a few patches; distractors are always present.
        data=dict(num_train=8000, num_test=2000, clutter="grey", object_size=(5.0, 7.0), rotate=False,
                  hue_range=(0.0, 60.0)),
        # The paper's own initialisation (weight_init="jax") and inputs scaled to [-1, 1] leave the chance
        # plateau in the first epoch, where timm's std-0.02 init and [0, 1] inputs stay on it for epochs
        # (benchmarks/results/shapes_recipe.json). The number of epochs is the one that clears the target on
        # every seed and emulated CPU, not only where the recipe was tuned
        # (benchmarks/results/train_targets.json).
        training=dict(epochs=5, batch_size=64, lr=2e-3, weight_decay=0.05, warmup_epochs=0.5,
                      label_smoothing=0.0, max_shift=0, flip=False),
        input_normalization=(0.5, 0.5),
    ),
}


class CourseData(NamedTuple):
    """Train and test tensors of a course dataset (``test_masks`` only for shapes)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    test_masks: torch.Tensor | None = None


class CourseRun(NamedTuple):
    """The result of :func:`train_course_model`."""

    model: ViT
    history: History
    data: CourseData


def _recipe(name: str) -> Recipe:
    if name not in COURSE_RECIPES:
        raise ValueError(f"unknown course model {name!r}; choose one of {COURSE_MODEL_NAMES}.")
    return COURSE_RECIPES[name]


def course_data(name: str, data_seed: int = 0) -> CourseData:
    """The data a course model is trained and tested on (deterministic for a ``data_seed``).

    Shapes: the training set is ``course_shapes(num_train, seed=2 * data_seed)`` and the test set
    ``course_shapes(num_test, seed=2 * data_seed + 1)``, so they never share images.
    """
    recipe = _recipe(name)
    if name == "digits":
        return CourseData(*load_digits_split(seed=data_seed, **recipe.data))
    train_set = course_shapes(recipe.data["num_train"], seed=2 * data_seed)
    test_set = course_shapes(recipe.data["num_test"], seed=2 * data_seed + 1)
    return CourseData(train_set.images, train_set.labels, test_set.images, test_set.labels, test_set.masks)


def course_shapes(n: int, seed: int) -> Shapes:
    """``n`` shapes drawn exactly like the shapes course model's data (size, hues, clutter, ...).

    The model trains on seeds 0, 2, 4, ... and is tested on 1, 3, 5, ... (one per ``data_seed``);
    use a seed >= 100 for images that are new to it.
    """
    recipe = _recipe("shapes")
    options = {key: value for key, value in recipe.data.items() if key not in ("num_train", "num_test")}
    return make_shapes(n, image_size=recipe.model["image_size"], seed=seed, **options)


def train_course_model(
    name: str, *, epochs: int | None = None, seed: int = 0, data_seed: int = 0,
    device: str | torch.device = "auto", progress: bool = True, data: CourseData | None = None,
    recipe: Recipe | None = None,
) -> CourseRun:
    """Train a course model from scratch with its tuned recipe.

    Args:
        name: ``"digits"`` or ``"shapes"``.
        epochs: override the recipe's number of epochs (the schedule is stretched to fit).
        seed: seeds the initial weights, the data order and the augmentation.
        data_seed: which split / generated data set (see :func:`course_data`).
        device: ``"auto"`` uses a GPU if there is one.
        progress: show a progress bar.
        data: reuse data already made by :func:`course_data` (saves regenerating it).
        recipe: a changed copy of ``COURSE_RECIPES[name]`` to try a variant, e.g.
            ``dataclasses.replace(COURSE_RECIPES["shapes"], input_normalization=None)``; its data
            settings must be the course's (``data`` is made from ``name``'s recipe).
    """
    if recipe is None:
        recipe = _recipe(name)
    elif not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe (e.g. dataclasses.replace(COURSE_RECIPES[{name!r}], ...)), "
                        f"got {type(recipe).__name__}.")
    elif recipe.data != _recipe(name).data:
        raise ValueError(f"recipe.data must be the course's {name!r} data settings; change the model, training or "
                         "input_normalization instead.")
    data = course_data(name, data_seed) if data is None else data
    model = recipe.build_model(seed=seed)
    history = train_with_recipe(model, recipe, data.train_images, data.train_labels, data.test_images,
                                data.test_labels, epochs=epochs, seed=seed, device=device, progress=progress)
    return CourseRun(model, history, data)


def course_checkpoint_path(name: str) -> Path:
    """Where the committed checkpoint of a course model lives inside the installed package."""
    _recipe(name)
    return Path(str(resources.files("vit_edu") / "assets" / f"{name}_vit.safetensors"))


def course_model_info(name: str) -> dict[str, str]:
    """The metadata stored with a committed course model (test accuracy, seeds, epochs, ...)."""
    from vit_edu.checkpoints.loading import read_checkpoint_metadata

    return read_checkpoint_metadata(course_checkpoint_path(name))


def load_course_model(name: str) -> ViT:
    """The trained course model ``"digits"`` or ``"shapes"`` shipped with the package, in eval mode.

    Its test data: ``course_data(name, data_seed=int(course_model_info(name)["data_seed"]))``.
    """
    from vit_edu.checkpoints.loading import load_checkpoint, read_checkpoint_metadata

    path = course_checkpoint_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"the course checkpoint {path} is missing from the installed package; reinstall vit_edu or "
            f"train it: python -m vit_edu train {name} --out {path}"
        )
    model = load_checkpoint(path)
    # Checkpoints written before a config field existed do not record it; the recipe that trained them does
    # (e.g. the shapes model's weight_init="jax", which re-initialising a block must use).
    stored = json.loads(read_checkpoint_metadata(path).get("vit_edu_config", "{}"))
    unrecorded = {key: value for key, value in COURSE_RECIPES[name].model.items() if key not in stored}
    if unrecorded:
        model.config = model.config.replace(**unrecorded)
    return model
