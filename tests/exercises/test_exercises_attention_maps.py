"""The attention-maps exercise checks: right answers pass, each typical mistake gets its own message,
unfinished answers say "not done". The student answers here are written out by hand."""

import pytest
import torch

from vit_edu.exercises.attention_maps import check_class_token_map, check_energy_pointing, check_rollout_step


def _unfinished(*args):
    raise NotImplementedError


def _returns_none(*args):
    return None


# ---------------------------------------------------------------------- class-token map
def _cls_right(attentions, layer):
    return attentions[layer].mean(dim=1)[:, 0, 1:]


def _cls_einsum(attentions, layer):  # another correct way
    a = attentions[layer]
    return torch.einsum("bhn->bn", a[:, :, 0, 1:]) / a.shape[1]


CLS_MISTAKES = {
    "kept_class_column": lambda att, l: att[l].mean(1)[:, 0],
    "column_instead_of_row": lambda att, l: att[l].mean(1)[:, 1:, 0],
    "no_head_mean": lambda att, l: att[l][:, :, 0, 1:],
    "head_0_only": lambda att, l: att[l][:, 0, 0, 1:],
    "renormalised": lambda att, l: (lambda m: m / m.sum(-1, keepdim=True))(att[l].mean(1)[:, 0, 1:]),
    "previous_layer": lambda att, l: att[l - 1].mean(1)[:, 0, 1:],
    "next_layer": lambda att, l: att[l + 1].mean(1)[:, 0, 1:],
    "mean_over_batch": lambda att, l: att[l].mean(0)[:, 0, 1:],
}


@pytest.mark.parametrize("answer", [_cls_right, _cls_einsum])
def test_class_token_map_right(answer):
    feedback = check_class_token_map(answer)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize("mistake", sorted(CLS_MISTAKES))
def test_class_token_map_mistakes(mistake):
    feedback = check_class_token_map(CLS_MISTAKES[mistake])
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake


def test_class_token_map_messages():
    assert "row 0" in check_class_token_map(CLS_MISTAKES["column_instead_of_row"]).message
    assert "[..., 1:]" in check_class_token_map(CLS_MISTAKES["kept_class_column"]).message
    wrong = check_class_token_map(lambda att, l: att[l].amax(1)[:, 0, 1:])
    assert not wrong.passed and "values differ" in wrong.message


# ---------------------------------------------------------------------- rollout step
def _rownorm(m):
    return m / m.sum(dim=-1, keepdim=True)


def _step_right(attention, rollout):
    eye = torch.eye(attention.shape[-1], dtype=attention.dtype)
    return _rownorm(attention.mean(dim=1) + eye) @ rollout


def _step_half(attention, rollout):  # 0.5 (A + I) equals rownorm(A + I) because A's rows sum to 1
    eye = torch.eye(attention.shape[-1], dtype=attention.dtype)
    return 0.5 * (attention.mean(dim=1) + eye) @ rollout


def _eye(attention):
    return torch.eye(attention.shape[-1], dtype=attention.dtype)


STEP_MISTAKES = {
    "no_identity": lambda a, r: a.mean(1) @ r,
    "no_renormalisation": lambda a, r: (a.mean(1) + _eye(a)) @ r,
    "wrong_order": lambda a, r: r @ _rownorm(a.mean(1) + _eye(a)),
    "column_normalised": lambda a, r: (lambda m: m / m.sum(-2, keepdim=True))(a.mean(1) + _eye(a)) @ r,
    "max_fusion": lambda a, r: _rownorm(a.amax(1) + _eye(a)) @ r,
    "a_hat_only": lambda a, r: _rownorm(a.mean(1) + _eye(a)),
}


@pytest.mark.parametrize("answer", [_step_right, _step_half])
def test_rollout_step_right(answer):
    feedback = check_rollout_step(answer)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize("mistake", sorted(STEP_MISTAKES))
def test_rollout_step_mistakes(mistake):
    feedback = check_rollout_step(STEP_MISTAKES[mistake])
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake


def test_rollout_step_message_names_the_order():
    assert "left" in check_rollout_step(STEP_MISTAKES["wrong_order"]).message
    assert "identity" in check_rollout_step(STEP_MISTAKES["no_identity"]).message


# ---------------------------------------------------------------------- energy pointing
def _energy_right(maps, patch_masks):
    positive = maps.clamp(min=0)
    return (positive * patch_masks).sum(dim=-1) / positive.sum(dim=-1)


def _energy_where(maps, patch_masks):  # another correct way
    positive = torch.where(maps > 0, maps, torch.zeros_like(maps))
    inside = torch.where(patch_masks, positive, torch.zeros_like(positive))
    return inside.sum(-1) / positive.sum(-1)


ENERGY_MISTAKES = {
    "negatives_counted": lambda m, k: (m * k).sum(-1) / m.sum(-1),
    "no_division": lambda m, k: (m.clamp(min=0) * k).sum(-1),
    "outside_share": lambda m, k: (m.clamp(min=0) * ~k).sum(-1) / m.clamp(min=0).sum(-1),
    "batch_mean": lambda m, k: _energy_right(m, k).mean(),
    "fraction_of_patches": lambda m, k: k.double().mean(-1),
}


@pytest.mark.parametrize("answer", [_energy_right, _energy_where])
def test_energy_right(answer):
    feedback = check_energy_pointing(answer)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize("mistake", sorted(ENERGY_MISTAKES))
def test_energy_mistakes(mistake):
    feedback = check_energy_pointing(ENERGY_MISTAKES[mistake])
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake


def test_energy_pointing_game_is_recognised():
    def pointing(maps, patch_masks):
        top = maps.argmax(dim=-1)
        return patch_masks[torch.arange(len(maps)), top].double()

    feedback = check_energy_pointing(pointing)
    assert not feedback.passed and feedback.details["mistake"] == "pointing_game"


# ---------------------------------------------------------------------- common
@pytest.mark.parametrize("check", [check_class_token_map, check_rollout_step, check_energy_pointing])
def test_unfinished_none_and_crash(check):
    assert check(_unfinished).details.get("not_done")
    assert "return" in check(_returns_none).message

    def crashes(*args):
        raise KeyError("oops")

    feedback = check(crashes)
    assert not feedback.passed and "KeyError" in feedback.message
    assert "returned a tuple" in check(lambda *args: (1, 2)).message
