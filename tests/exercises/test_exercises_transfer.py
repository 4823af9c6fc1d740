"""The transfer exercise checks: right answers pass, each typical mistake gets its own message,
unfinished = not done."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vit_edu.embeddings import resample_position_embeddings
from vit_edu.exercises.transfer import check_freeze_all_but_head, check_new_head, check_resample_for_resolution


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


# --- check_resample_for_resolution ------------------------------------------------------------------
def _package_answer(pos_embed, patch_size, old_size, new_size):
    return resample_position_embeddings(pos_embed, old_size // patch_size, new_size // patch_size, mode="bilinear")


def _by_hand(pos_embed, patch_size, old_size, new_size, mode="bicubic", align_corners=False, keep_cls=True):
    old, new = old_size // patch_size, new_size // patch_size
    grid = pos_embed[:, 1:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new, new), mode=mode, align_corners=align_corners)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new * new, -1)
    return torch.cat([pos_embed[:, :1], grid], dim=1) if keep_cls else grid


def _one_d(pos_embed, patch_size, old_size, new_size):
    flat = F.interpolate(pos_embed[:, 1:].transpose(1, 2), size=(new_size // patch_size) ** 2, mode="linear")
    return torch.cat([pos_embed[:, :1], flat.transpose(1, 2)], dim=1)


def _pixels(pos_embed, patch_size, old_size, new_size):  # the new grid in pixels: 48 x 48 "patches"
    grid = pos_embed[:, 1:].reshape(1, old_size // patch_size, old_size // patch_size, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_size, new_size), mode="bicubic").flatten(2).transpose(1, 2)
    return torch.cat([pos_embed[:, :1], grid], dim=1)


def _cls_interpolated(pos_embed, patch_size, old_size, new_size):
    result = _by_hand(pos_embed, patch_size, old_size, new_size)
    result[:, 0] = result[:, 0] * 2
    return result


@pytest.mark.parametrize("answer", [_package_answer, _by_hand])
def test_resample_right_answers_pass(answer):
    feedback = check_resample_for_resolution(answer)
    assert feedback.passed, feedback.message
    assert "-> (1, 145, D)." in feedback.message  # the new shape written as the old one is, D unquoted


@pytest.mark.parametrize(("answer", "mistake", "words"), [
    (lambda *a: _by_hand(*a, keep_cls=False), "class token dropped", "class token's row is missing"),
    (lambda *a: _by_hand(*a, align_corners=True), "align_corners", "align_corners=False"),
    (_one_d, "1d", "flat sequence"),
    (_pixels, "pixels", "counts *patches*"),
    (_cls_interpolated, "class token changed", "copy it as it is"),
    (lambda p, *a: p.clone(), "shape", "expected (1, 145, 6)"),
])
def test_resample_mistakes_are_diagnosed(answer, mistake, words):
    feedback = check_resample_for_resolution(answer)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message
    assert words in feedback.message


def test_resample_other_failures():
    assert check_resample_for_resolution(_unfinished).details["not_done"]
    assert "return" in check_resample_for_resolution(lambda *a: None).message
    wrong_values = check_resample_for_resolution(
        lambda p, *a: torch.cat([p[:, :1], torch.zeros(1, 144, 6, dtype=p.dtype)], dim=1))
    assert not wrong_values.passed and wrong_values.details["mistake"] == "values"
