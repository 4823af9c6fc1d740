"""The course's two tiny ViTs: their recipes, one-call training, and the committed checkpoints.

- ``"digits"``: sklearn's 8x8 digits, patch size P = 4 (N = 4 patches), D = 96, L = 4, k = 8;
- ``"shapes"``: 32x32 synthetic shapes in grey clutter, P = 4 (N = 64), D = 64, L = 4, k = 4.

``train_course_model("digits")`` trains one from scratch with the tuned settings (about half a
minute on two CPU cores for the digits, under 90 s for the shapes: see the recipes' comments).
``load_course_model("digits")`` loads the trained weights that ship inside the package
(``vit_edu/assets/*.safetensors``, written by
``python -m vit_edu train digits --out vit_edu/assets/digits_vit.safetensors``), together with
the data seed and test accuracy recorded in their metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import torch

from vit_edu.data.digits import DIGIT_CLASSES, load_digits_split
from vit_edu.data.shapes import SHAPE_CLASSES, Shapes, make_shapes
from vit_edu.model import ViT
from vit_edu.training.loop import History, train

COURSE_MODEL_NAMES = ("digits", "shapes")


@dataclass(frozen=True)
class CourseRecipe:
    """Everything needed to rebuild a course model: architecture, data and training settings."""

    name: str
    class_names: tuple[str, ...]
    model: dict = field(default_factory=dict)  # ViT keyword arguments
    data: dict = field(default_factory=dict)  # data sizes and options
    training: dict = field(default_factory=dict)  # vit_edu.training.loop.train keyword arguments
    # (mean, std): train on (x - mean) / std, then fold that into the patch embedding, so the
    # finished model takes images in [0, 1] like every other course model. None: raw images.
    input_normalization: tuple[float, float] | None = None


COURSE_RECIPES: dict[str, CourseRecipe] = {
    "digits": CourseRecipe(
        "digits", DIGIT_CLASSES,
        # P = 4 (N = 4 tokens) rather than P = 2 (N = 16): with 1,347 images, fewer and larger patches learn
        # better and about 3x faster (the training lesson, section 6). No shifts: a one-pixel shift changes
        # every patch of an 8x8 digit; dropout 0.2 and weight decay 0.5 fight the overfitting instead.
        # Accuracy and time over seeds and emulated CPUs: benchmarks/train_targets.py.
        model=dict(image_size=8, patch_size=4, channels=1, num_classes=10, dim=96, depth=4, heads=8, mlp_dim=192,
                   dropout=0.2),
        data=dict(test_fraction=0.25),
        training=dict(epochs=40, batch_size=64, lr=3e-3, weight_decay=0.5, warmup_epochs=2,
                      label_smoothing=0.1, max_shift=0, flip=False),
    ),
    "shapes": CourseRecipe(
        "shapes", SHAPE_CLASSES,
        model=dict(image_size=32, patch_size=4, channels=3, num_classes=4, dim=64, depth=4, heads=4, mlp_dim=128,
                   weight_init="jax"),
        # Warm hues (0-60 degrees): the patch embedding is linear in RGB, and no single direction separates
        # "coloured" from grey for every hue, so with objects of any hue the ViT stays at the chance loss
        # (benchmarks/shapes_plateau.py; vit_edu.analysis.probes shows why). Upright objects of radius 5-7 px touch
        # about 17% of the patches; distractors are always present.
        data=dict(num_train=8000, num_test=2000, clutter="grey", object_size=(5.0, 7.0), rotate=False,
                  hue_range=(0.0, 60.0)),
        # The paper's own initialisation (weight_init="jax") and inputs scaled to [-1, 1] leave the chance
        # plateau in the first epoch, where timm's std-0.02 init and [0, 1] inputs stay on it for epochs
        # (benchmarks/shapes_recipe.py). Five epochs rather than four: the fourth epoch's accuracy moved by up
        # to 4 points between CPUs for one seed, the fifth keeps every seed and CPU above the target
        # (benchmarks/train_targets.py, benchmarks/results/train_targets.json).
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


def _recipe(name: str) -> CourseRecipe:
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
    recipe: CourseRecipe | None = None,
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
    elif not isinstance(recipe, CourseRecipe):
        raise TypeError(f"recipe must be a CourseRecipe (e.g. dataclasses.replace(COURSE_RECIPES[{name!r}], ...)), "
                        f"got {type(recipe).__name__}.")
    elif recipe.data != _recipe(name).data:
        raise ValueError(f"recipe.data must be the course's {name!r} data settings; change the model, training or "
                         "input_normalization instead.")
    data = course_data(name, data_seed) if data is None else data
    model = ViT(**recipe.model, seed=seed)
    settings = dict(recipe.training)
    if epochs is not None:
        settings["epochs"] = epochs
    train_images, test_images = data.train_images, data.test_images
    if recipe.input_normalization is not None:
        mean, std = recipe.input_normalization
        train_images, test_images = (train_images - mean) / std, (test_images - mean) / std
    history = train(model, train_images, data.train_labels, test_images, data.test_labels,
                    seed=seed, device=device, progress=progress, **settings)
    model.cpu()
    if recipe.input_normalization is not None:
        model.patch_embed.fold_input_normalization(*recipe.input_normalization)  # now takes images in [0, 1]
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
    from vit_edu.checkpoints.loading import load_checkpoint

    path = course_checkpoint_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"the course checkpoint {path} is missing from the installed package; reinstall vit_edu or "
            f"train it: python -m vit_edu train {name} --out {path}"
        )
    return load_checkpoint(path)
