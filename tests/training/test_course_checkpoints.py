"""The committed course checkpoints load from the package and reach their recorded accuracy."""

import dataclasses

import pytest
import torch

from vit_edu import ViT
from vit_edu.training.loop import evaluate
from vit_edu.training.recipes import (
    COURSE_MODEL_NAMES,
    COURSE_RECIPES,
    CourseData,
    course_checkpoint_path,
    course_data,
    course_model_info,
    course_shapes,
    load_course_model,
    train_course_model,
)

pytestmark = pytest.mark.slow  # evaluates and trains the committed course models

# the accuracy each course model must reach on its held-out test split (the lessons rely on it)
TARGETS = {"digits": 0.97, "shapes": 0.95}


@pytest.mark.parametrize("name", COURSE_MODEL_NAMES)
def test_course_checkpoint_reaches_its_recorded_accuracy(name):
    path = course_checkpoint_path(name)
    assert path.is_file() and path.stat().st_size <= 5 * 2**20
    info = course_model_info(name)
    model = load_course_model(name)
    assert isinstance(model, ViT) and not model.training
    recipe = COURSE_RECIPES[name]
    for key in ("patch_size", "dim", "depth", "heads", "mlp_dim", "num_classes", "channels"):
        expected = recipe.model[key]
        assert getattr(model.config, key) == (expected if key != "patch_size" else (expected, expected))
    data = course_data(name, data_seed=int(info["data_seed"]))
    assert len(data.test_labels) == int(info["num_test"])
    accuracy = evaluate(model, data.test_images, data.test_labels)
    recorded = float(info["test_accuracy"])
    assert abs(accuracy - recorded) <= 0.005, f"{name}: re-evaluated {accuracy:.4f}, recorded {recorded:.4f}"
    assert recorded >= TARGETS[name]


def test_unknown_course_model_is_rejected():
    with pytest.raises(ValueError, match="unknown course model"):
        load_course_model("cifar10")


def _small_shapes(n_train=256, n_test=128):
    train_set, test_set = course_shapes(n_train, seed=500), course_shapes(n_test, seed=501)
    return CourseData(train_set.images, train_set.labels, test_set.images, test_set.labels, test_set.masks)


def test_shapes_recipe_trains_on_scaled_images_and_folds_the_scaling_into_the_model():
    recipe = COURSE_RECIPES["shapes"]
    assert recipe.input_normalization == (0.5, 0.5) and recipe.model["weight_init"] == "jax"
    short = dataclasses.replace(recipe, training={**recipe.training, "epochs": 1})
    data = _small_shapes()
    folded = train_course_model("shapes", data=data, recipe=short, progress=False)
    # the same training by hand: images scaled to [-1, 1] up front, no folding
    scaled = data._replace(train_images=2 * data.train_images - 1, test_images=2 * data.test_images - 1)
    by_hand = train_course_model("shapes", data=scaled, recipe=dataclasses.replace(short, input_normalization=None),
                                 progress=False)
    assert folded.history.test_accuracy == by_hand.history.test_accuracy
    with torch.no_grad():
        torch.testing.assert_close(folded.model(data.test_images), by_hand.model(scaled.test_images),
                                   atol=1e-4, rtol=1e-4)
    assert folded.data is data  # the caller's raw images come back untouched
    assert evaluate(folded.model, data.test_images, data.test_labels) == folded.history.final_test_accuracy


def test_train_course_model_rejects_a_recipe_with_other_data():
    recipe = COURSE_RECIPES["shapes"]
    with pytest.raises(TypeError, match="recipe must be a Recipe"):
        train_course_model("shapes", recipe={"model": {}}, data=_small_shapes(8, 8))
    with pytest.raises(ValueError, match=r"recipe\.data"):
        train_course_model("shapes", data=_small_shapes(8, 8),
                           recipe=dataclasses.replace(recipe, data={**recipe.data, "hue_range": (0.0, 360.0)}))


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_a_loaded_course_model_has_the_recipe_it_was_trained_with(name):
    loaded, recipe = load_course_model(name).config, ViT(**COURSE_RECIPES[name].model).config
    for key in COURSE_RECIPES[name].model:  # e.g. the shapes model's weight_init="jax", unrecorded in its file
        assert getattr(loaded, key) == getattr(recipe, key), key
