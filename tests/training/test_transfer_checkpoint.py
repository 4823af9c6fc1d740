"""The transfer lesson's committed pre-trained checkpoint loads, matches its recipe and re-scores its recorded
accuracy."""

import json

import pytest

from vit_edu import ViT
from vit_edu.checkpoints import read_checkpoint_metadata
from vit_edu.data.scenes import PRETRAIN_CLASSES
from vit_edu.training.loop import evaluate
from vit_edu.training.recipes import Recipe
from vit_edu.training.transfer import PRETRAIN_RECIPE, load_pretrained, pretrain_test_data, pretrained_path

pytestmark = pytest.mark.slow  # evaluates the committed pre-trained model


def test_pretrained_checkpoint_reaches_its_recorded_accuracy():
    path = pretrained_path()
    assert path.is_file() and path.stat().st_size <= 5 * 2**20
    info = read_checkpoint_metadata(path)
    model = load_pretrained()
    assert isinstance(model, ViT) and not model.training
    recipe = json.loads(info["recipe"])
    assert recipe["model"] == PRETRAIN_RECIPE.model and recipe["data"] == PRETRAIN_RECIPE.data
    # the stored JSON reads back as the recipe in the code (the checkpoint was trained with it, epochs and all)
    assert Recipe.from_dict(recipe) == PRETRAIN_RECIPE
    assert model.config.num_classes == len(PRETRAIN_CLASSES) == 12
    assert model.config.patch_size == (PRETRAIN_RECIPE.model["patch_size"],) * 2
    images, labels = pretrain_test_data()
    assert len(labels) == int(info["num_test"]) and int(info["test_seed"]) == PRETRAIN_RECIPE.data["test_seed"]
    accuracy = evaluate(model, images, labels)
    recorded = float(info["test_accuracy"])
    assert abs(accuracy - recorded) <= 0.005, f"re-evaluated {accuracy:.4f}, recorded {recorded:.4f}"
    assert recorded >= 0.8  # chance is 1/12
