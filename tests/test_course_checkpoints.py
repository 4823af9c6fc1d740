"""The committed course checkpoints load from the package and reach their recorded accuracy."""

import pytest

from vit_edu import ViT
from vit_edu.course import (
    COURSE_MODEL_NAMES,
    COURSE_RECIPES,
    course_checkpoint_path,
    course_data,
    course_model_info,
    load_course_model,
)
from vit_edu.train import evaluate

# the targets of issue 5, on the held-out test split
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
