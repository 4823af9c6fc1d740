"""The attention-maps exercise checks: right answers pass, each typical mistake gets its own message,
unfinished answers say "not done". The student answers here are written out by hand."""

import pytest
import torch
from support.exercises import assert_survives_unfinished_none_crash_and_tuple

from vit_edu.analysis.attention_maps import attention_rollout
from vit_edu.exercises.attention_maps import check_energy_pointing, check_patch_map, check_rollout_without_residual


# ---------------------------------------------------------------------- one patch's map
def _patch_right(attentions, layer, row, col, grid):
    return attentions[layer].mean(dim=1)[:, row * grid[1] + col + 1, 1:].reshape(-1, *grid)


def _patch_as_grid_first(attentions, layer, row, col, grid):  # another correct way: queries as a grid first
    patches = attentions[layer][:, :, 1:, 1:].mean(dim=1)  # (B, N, N): patch queries, patch keys
    by_cell = patches.reshape(-1, grid[0], grid[1], grid[0] * grid[1])  # (B, H/P, W/P, N)
    return by_cell[:, row, col].unflatten(-1, grid)


def _mean_row(att, layer, query):
    return att[layer].mean(1)[:, query]


PATCH_MISTAKES = {
    "forgot_class_offset": lambda att, l, r, c, g: _mean_row(att, l, r * g[1] + c)[:, 1:].reshape(-1, *g),
    "row_col_swapped": lambda att, l, r, c, g: _mean_row(att, l, c * g[1] + r + 1)[:, 1:].reshape(-1, *g),
    "column_major": lambda att, l, r, c, g: _mean_row(att, l, c * g[0] + r + 1)[:, 1:].reshape(-1, *g),
    "class_token_row": lambda att, l, r, c, g: _mean_row(att, l, 0)[:, 1:].reshape(-1, *g),
    "column_instead_of_row": lambda att, l, r, c, g: att[l].mean(1)[:, 1:, r * g[1] + c + 1].reshape(-1, *g),
    "kept_class_column": lambda att, l, r, c, g: _mean_row(att, l, r * g[1] + c + 1),
    "flat": lambda att, l, r, c, g: _mean_row(att, l, r * g[1] + c + 1)[:, 1:],
    "transposed_grid": lambda att, l, r, c, g: _mean_row(att, l, r * g[1] + c + 1)[:, 1:].reshape(-1, g[1], g[0]),
    "no_head_mean": lambda att, l, r, c, g: att[l][:, :, r * g[1] + c + 1, 1:].unflatten(-1, g),
    "head_0_only": lambda att, l, r, c, g: att[l][:, 0, r * g[1] + c + 1, 1:].reshape(-1, *g),
    "renormalised": lambda att, l, r, c, g: (lambda m: m / m.sum(-1, keepdim=True))(
        _mean_row(att, l, r * g[1] + c + 1)[:, 1:]).reshape(-1, *g),
    "previous_layer": lambda att, l, r, c, g: _mean_row(att, l - 1, r * g[1] + c + 1)[:, 1:].reshape(-1, *g),
    "next_layer": lambda att, l, r, c, g: _mean_row(att, l + 1, r * g[1] + c + 1)[:, 1:].reshape(-1, *g),
}


@pytest.mark.parametrize("answer", [_patch_right, _patch_as_grid_first])
def test_patch_map_right(answer):
    feedback = check_patch_map(answer)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize("mistake", sorted(PATCH_MISTAKES))
def test_patch_map_mistakes(mistake):
    feedback = check_patch_map(PATCH_MISTAKES[mistake])
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake


def test_patch_map_messages():
    assert "p + 1" in check_patch_map(PATCH_MISTAKES["forgot_class_offset"]).message
    assert "row by row" in check_patch_map(PATCH_MISTAKES["row_col_swapped"]).message
    assert "reshape" in check_patch_map(PATCH_MISTAKES["flat"]).message
    wrong = check_patch_map(lambda att, l, r, c, g: att[l].amax(1)[:, r * g[1] + c + 1, 1:].reshape(-1, *g))
    assert not wrong.passed and "values differ" in wrong.message


def test_patch_map_crash_on_reshape_gets_a_hint():
    def reshape_with_class_column(att, l, r, c, g):
        return att[l].mean(1)[:, r * g[1] + c + 1].reshape(-1, *g)  # T = N + 1 values do not fit the grid

    feedback = check_patch_map(reshape_with_class_column)
    assert not feedback.passed and "RuntimeError" in feedback.message and "[..., 1:]" in feedback.message


# ---------------------------------------------------------------------- rollout without the residual
def _plain_right(attentions):
    product = attentions[0].mean(dim=1)
    for attention in attentions[1:]:
        product = attention.mean(dim=1) @ product
    return product


def _plain_from_identity(attentions):  # another correct way: start from I
    product = torch.eye(attentions[0].shape[-1], dtype=attentions[0].dtype)
    for attention in attentions:
        product = attention.mean(dim=1) @ product
    return product


def _plain_reversed(attentions):  # another correct way: one multi_dot per image, last layer first
    return torch.stack([torch.linalg.multi_dot([a.mean(dim=1)[b] for a in reversed(attentions)])
                        for b in range(attentions[0].shape[0])])


def _rollout(attentions):
    return attention_rollout(attentions)


def _product(matrices):
    product = matrices[0]
    for matrix in matrices[1:]:
        product = matrix @ product
    return product


PLAIN_MISTAKES = {
    "with_identity": _rollout,
    "wrong_order": lambda att: _product([a.mean(1) for a in reversed(att)]),
    "last_layer_only": lambda att: att[-1].mean(1),
    "first_layer_only": lambda att: att[0].mean(1),
    "per_head_product": lambda att: _product(list(att)).mean(1),
    "no_head_mean": lambda att: _product(list(att)),
    "max_fusion": lambda att: _product([a.amax(1) for a in att]),
    "elementwise": lambda att: torch.stack([a.mean(1) for a in att]).prod(dim=0),
    "mean_of_layers": lambda att: torch.stack([a.mean(1) for a in att]).mean(dim=0),
}


@pytest.mark.parametrize("answer", [_plain_right, _plain_from_identity, _plain_reversed])
def test_rollout_without_residual_right(answer):
    feedback = check_rollout_without_residual(answer)
    assert feedback.passed, feedback.message
    # the point of the exercise: without the identity the rows collapse, with it they stay apart
    assert feedback.details["row_spread"] < 0.05 < 0.1 < feedback.details["rollout_row_spread"]
    assert "1%" in feedback.message and "16%" in feedback.message


@pytest.mark.parametrize("mistake", sorted(PLAIN_MISTAKES))
def test_rollout_without_residual_mistakes(mistake):
    feedback = check_rollout_without_residual(PLAIN_MISTAKES[mistake])
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake


def test_rollout_without_residual_messages():
    assert "left" in check_rollout_without_residual(PLAIN_MISTAKES["wrong_order"]).message
    assert "identity" in check_rollout_without_residual(PLAIN_MISTAKES["with_identity"]).message
    assert "@" in check_rollout_without_residual(PLAIN_MISTAKES["elementwise"]).message


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
@pytest.mark.parametrize("check", [check_patch_map, check_rollout_without_residual, check_energy_pointing])
def test_unfinished_none_and_crash(check):
    assert_survives_unfinished_none_crash_and_tuple(check)
