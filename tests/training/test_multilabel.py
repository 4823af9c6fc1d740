"""The two-object multi-label ViT: the top-2 metric against brute force, a short training run, the committed model."""

import itertools

import pytest
import torch

from vit_edu.training.multilabel import (
    TWO_OBJECT_RECIPE,
    load_two_object_model,
    multilabel_accuracy,
    top2_correct,
    train_multilabel,
    two_object_accuracy,
    two_object_model_info,
    two_object_scenes,
)


def test_top2_correct_equals_brute_force():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 4, generator=generator)
    pairs = list(itertools.permutations(range(4), 2))
    classes = torch.tensor([pairs[i] for i in torch.randint(0, len(pairs), (200,), generator=generator)])
    expected = [set(sorted(range(4), key=lambda c: -row[c])[:2]) == set(pair)
                for row, pair in zip(logits.tolist(), classes.tolist())]
    assert top2_correct(logits, classes).tolist() == expected
    assert multilabel_accuracy(logits, classes) == pytest.approx(sum(expected) / 200)


def test_all_pairs_are_right_once_and_random_logits_near_one_sixth():
    pairs = torch.tensor(list(itertools.combinations(range(4), 2)))  # (6, 2)
    logits = torch.zeros(6, 4).scatter(1, pairs, 1.0)
    assert multilabel_accuracy(logits, pairs) == 1.0
    assert multilabel_accuracy(logits, pairs.flip(0)) == 0.0
    random = torch.randn(6000, 4, generator=torch.Generator().manual_seed(1))
    assert multilabel_accuracy(random, pairs.repeat(1000, 1)) == pytest.approx(1 / 6, abs=0.02)


@pytest.mark.parametrize(("logits", "classes", "match"), [
    (torch.zeros(3), torch.zeros(3, 2, dtype=torch.long), "logits must be a float tensor"),
    (torch.zeros(3, 4), torch.zeros(3, 2), "classes must be an integer tensor"),
    (torch.zeros(3, 4), torch.zeros(2, 2, dtype=torch.long), "differ in length"),
    (torch.zeros(3, 4), torch.full((3, 2), 4), "indices in 0..3"),
])
def test_metric_rejects_bad_input(logits, classes, match):
    with pytest.raises(ValueError, match=match):
        multilabel_accuracy(logits, classes)


@pytest.mark.slow
def test_a_short_run_learns_and_folds_the_normalisation():
    train, test = two_object_scenes(640, 0), two_object_scenes(200, 1)
    recipe = TWO_OBJECT_RECIPE.updated(training={"epochs": 1})
    model = recipe.build_model(seed=0, dim=32, depth=1, heads=2, mlp_dim=64)
    history = train_multilabel(model, recipe, train, test, progress=False)
    assert len(history.train_loss) == 1 and history.train_loss[0] < 0.75  # BCE of a constant 0 logit: ln 2
    assert not model.training
    assert history.final_test_accuracy == pytest.approx(two_object_accuracy(model, test))  # raw images in


@pytest.mark.slow
def test_the_committed_model_names_both_shapes():
    model = load_two_object_model()
    info = two_object_model_info()
    assert float(info["test_accuracy"]) >= 0.85 and info["dataset"] == "two_objects"
    assert two_object_accuracy(model, two_object_scenes(300, 555)) >= 0.8
