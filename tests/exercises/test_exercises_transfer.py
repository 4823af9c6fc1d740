"""The transfer exercise checks: right answers pass, each typical mistake gets its own message,
unfinished = not done."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vit_edu.exercises.transfer import check_freeze_all_but_head, check_new_head, check_ridge_head
from vit_edu.training.fewshot import ridge_fit


def _unfinished(*args):
    raise NotImplementedError


# --- check_new_head -------------------------------------------------------------------------------
def _zero_head(model, num_classes):
    model.head = nn.Linear(model.config.dim, num_classes)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    return model


def test_new_head_right_answer_passes():
    feedback = check_new_head(_zero_head)
    assert feedback.passed, feedback.message


def _random_head(model, num_classes):
    model.head = nn.Linear(model.config.dim, num_classes)
    return model


def _zero_weight_only(model, num_classes):
    model.head = nn.Linear(model.config.dim, num_classes)
    nn.init.zeros_(model.head.weight)
    nn.init.ones_(model.head.bias)
    return model


def _wrong_shape(model, num_classes):
    model.head = nn.Linear(model.config.dim, num_classes + 1)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    return model


def _touches_backbone(model, num_classes):
    with torch.no_grad():
        model.cls_token.zero_()
    return _zero_head(model, num_classes)


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (lambda model, k: model, "old head", "still has its pre-trained head"),
    (_random_head, "random weight", "zero-initialised"),
    (_zero_weight_only, "random bias", "zero the bias"),
    (_wrong_shape, "shape", "K = 7"),
    (_touches_backbone, "backbone", "cls_token"),
    (lambda model, k: None, "none", "return the model"),
])
def test_new_head_mistakes_are_diagnosed(answer, mistake, words):
    feedback = check_new_head(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake
    assert words in feedback.message


def test_new_head_unfinished():
    assert check_new_head(_unfinished).details["not_done"]


# --- check_freeze_all_but_head ---------------------------------------------------------------------
def _freeze(model):
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name.startswith("head.")
    return model


def _freeze_modules_only(model):  # misses cls_token and pos_embed, which belong to no submodule
    for module in list(model.children()):
        if module is not model.head:
            for parameter in module.parameters():
                parameter.requires_grad = False
    return model


def _eval_only(model):
    model.eval()
    return model


def _inverted(model):
    model.head.requires_grad_(False)
    return model


def _everything(model):
    model.requires_grad_(False)
    return model


def _except_norm(model):
    _freeze(model)
    model.norm.requires_grad_(True)
    return model


def test_freeze_right_answers_pass():
    assert check_freeze_all_but_head(_freeze).passed
    assert check_freeze_all_but_head(lambda m: (m.requires_grad_(False), m.head.requires_grad_(True))[0]).passed


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (_freeze_modules_only, "embeddings", "class token and position embeddings"),
    (_eval_only, "eval", "model.eval()"),
    (_inverted, "inverted", "other way round"),
    (_everything, "all", "the head too"),
    (_except_norm, "norm", "LayerNorm"),
    (lambda model: model, "none", "nothing is frozen"),
])
def test_freeze_mistakes_are_diagnosed(answer, mistake, words):
    feedback = check_freeze_all_but_head(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake
    assert words in feedback.message


def test_freeze_unfinished():
    assert check_freeze_all_but_head(_unfinished).details["not_done"]


# --- check_ridge_head ------------------------------------------------------------------------------
def _ridge(features, labels, num_classes, l2, targets="signed", centre=True, bias="mean"):
    one_hot = F.one_hot(labels, num_classes).to(features.dtype)
    y = 2 * one_hot - 1 if targets == "signed" else one_hot
    x_mean, y_mean = features.mean(dim=0), y.mean(dim=0)
    x, t = (features - x_mean, y - y_mean) if centre else (features, y)
    weight = torch.linalg.solve(x.T @ x + l2 * torch.eye(features.shape[1], dtype=features.dtype), x.T @ t)
    b = {"mean": y_mean - x_mean @ weight, "zero": torch.zeros(num_classes), "y_mean": y_mean,
         "plus": y_mean + x_mean @ weight}[bias]
    return weight, b


def _package_ridge(features, labels, num_classes, l2):
    fit = ridge_fit(features, labels, num_classes, (l2,))
    return fit.weight[0], fit.bias[0]


def _penalised_bias(features, labels, num_classes, l2):
    x = torch.cat([features, torch.ones(len(features), 1)], dim=1)
    y = 2 * F.one_hot(labels, num_classes).float() - 1
    weight = torch.linalg.solve(x.T @ x + l2 * torch.eye(x.shape[1]), x.T @ y)
    return weight[:-1], weight[-1]


def _numpy_ridge(features, labels, num_classes, l2):
    weight, bias = _ridge(features.double(), labels, num_classes, l2)
    return weight.numpy(), bias.numpy().reshape(1, -1)  # numpy arrays and a (1, K) bias are accepted


@pytest.mark.parametrize("answer", [_ridge, _package_ridge, _numpy_ridge])
def test_ridge_right_answers_pass(answer):
    feedback = check_ridge_head(answer)
    assert feedback.passed, feedback.message
    assert "No gradient step" in feedback.message


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (lambda *a: _ridge(*a, targets="one_hot"), "zero_one_targets", "{-1, 1}"),
    (lambda *a: _ridge(*a, centre=False, bias="zero"), "no_centring", "raw features, with no bias"),
    (lambda *a: _ridge(*a, centre=False), "no_centring_bias", "W comes from the raw features"),
    (_penalised_bias, "bias_penalised", "column of ones"),
    (lambda f, l, k, l2: _ridge(f, l, k, 0.0), "no_l2", "plain least squares"),
    (lambda *a: _ridge(*a, bias="y_mean"), "bias_is_mean", "not mean(Y) alone"),
    (lambda *a: _ridge(*a, bias="plus"), "bias_sign", "mind the sign"),
    (lambda *a: (_ridge(*a)[0].T, _ridge(*a)[1]), "transposed", "transposed"),
    (lambda *a: (_ridge(*a)[0], _ridge(*a)[1] + 1), "bias", "W is right but b is not"),
    (lambda *a: (torch.zeros(5, 4), torch.zeros(4)), "values", "±1 targets"),
    (lambda *a: (torch.zeros(5, 3), torch.zeros(4)), "shape", "expected (D, K) = (5, 4)"),
    (lambda *a: (_ridge(*a)[0], torch.zeros(3)), "bias_shape", "expected (K,) = (4,)"),
    (lambda *a: _ridge(*a)[0], "return", "two tensors"),
    (lambda *a: (_ridge(*a)[0], None), "none", "returned None"),
    (lambda *a: (_ridge(*a)[0], 0.0), "type", "got float"),
])
def test_ridge_mistakes_are_diagnosed(answer, mistake, words):
    feedback = check_ridge_head(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message
    assert words in feedback.message


def test_ridge_other_failures():
    assert check_ridge_head(_unfinished).details["not_done"]
    crashed = check_ridge_head(lambda f, l, k, l2: (f.T @ torch.zeros(5, 4), None))
    assert "raised" in crashed.message and "W is (D, K)" in crashed.message
