"""The class-token-and-positions exercise checks: right answers pass, each typical mistake gets its own message."""

import pytest
import torch
import torch.nn.functional as F

from vit_edu.exercises.positions import (
    check_cosine_similarity_grid,
    check_pool_tokens,
    check_resample_1d,
)


def _not_done(*args, **kwargs):
    raise NotImplementedError


# ------------------------------------------------------------------ pooling
def pool_tokens(tokens, pool, num_prefix):
    return tokens[:, 0] if pool == "cls" else tokens[:, num_prefix:].mean(dim=1)


def test_pool_right_answers_pass():
    feedback = check_pool_tokens(pool_tokens)
    assert feedback.passed and "token 0" in feedback.message
    assert check_pool_tokens(lambda t, pool, n: t[:, :1].squeeze(1) if pool == "cls" else t[:, n:].sum(1) / (
        t.shape[1] - n)).passed
    assert check_pool_tokens(lambda t, pool, n: pool_tokens(t, pool, n).numpy()).passed


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda t, pool, n: t[:, -1] if pool == "cls" else pool_tokens(t, pool, n), "last_token", "index 0"),
        (lambda t, pool, n: t[:, :1] if pool == "cls" else pool_tokens(t, pool, n), "kept_axis", "(B, 1, D)"),
        (lambda t, pool, n: t[:, 0] if pool == "cls" else t.mean(dim=1), "all_tokens", "registers too"),
        (lambda t, pool, n: t[:, 0] if pool == "cls" else t[:, 1:].mean(dim=1), "registers_kept",
         "kept the registers"),
        (lambda t, pool, n: t[:, 0] if pool == "cls" else t[:, n:].sum(dim=1), "sum", "summed"),
        (lambda t, pool, n: t[:, 0] if pool == "cls" else t[:, n:-1].mean(dim=1), "last_patch_dropped",
         "last patch"),
        (lambda t, pool, n: t[:, 0] if pool == "cls" else t[:, n:].mean(dim=-1), "feature_axis", "dim=1"),
        (lambda t, pool, n: t[:, 0] if pool == "cls" else t.mean(dim=0), "batch_axis", "dim=0"),
        (lambda t, pool, n: t[:, n] if pool == "cls" else pool_tokens(t, pool, n), "first_patch", "first patch"),
        (lambda t, pool, n: t[:, 0, :2] if pool == "cls" else pool_tokens(t, pool, n), "shape", "expected (B, D)"),
        (lambda t, pool, n: -t[:, 0] if pool == "cls" else pool_tokens(t, pool, n), "values", "tokens[:, 0]"),
    ],
)
def test_pool_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_pool_tokens(wrong)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message
    assert phrase in feedback.message


def test_pool_unfinished_and_none():
    assert check_pool_tokens(_not_done).details.get("not_done")
    assert "return" in check_pool_tokens(lambda t, pool, n: None).message


# -------------------------------------------------------------- similarity grid
def cosine_grid(pos_embed):
    patches = F.normalize(pos_embed[0, 1:], dim=-1)
    return patches @ patches.T


def test_cosine_grid_right_answers_pass():
    assert check_cosine_similarity_grid(cosine_grid).passed
    assert check_cosine_similarity_grid(
        lambda p: F.cosine_similarity(p[0, 1:, None], p[0, None, 1:], dim=-1)
    ).passed


@pytest.mark.parametrize(
    ("wrong", "phrase"),
    [
        (lambda p: F.normalize(p[0], dim=-1) @ F.normalize(p[0], dim=-1).T, "includes the class token"),
        (lambda p: p[0, 1:] @ p[0, 1:].T, "dot products"),
        (lambda p: F.normalize(p[0, 1:], dim=0) @ F.normalize(p[0, 1:], dim=0).T, "dim=0"),
        (lambda p: torch.corrcoef(p[0, 1:]), "subtracted the mean"),
        (lambda p: cosine_grid(p)[:3], "expected (N, N)"),
        (lambda p: -cosine_grid(p), "values are not"),
    ],
)
def test_cosine_grid_mistakes_are_diagnosed(wrong, phrase):
    feedback = check_cosine_similarity_grid(wrong)
    assert not feedback.passed
    assert phrase in feedback.message


def test_cosine_grid_unfinished():
    assert check_cosine_similarity_grid(_not_done).details.get("not_done")


# ------------------------------------------------------------------ resampling in 1-D
def resample_1d(pos_embed, new_length):
    table = pos_embed[0, 1:]                                                   # (L, D)
    old = table.shape[0]
    x = (torch.arange(new_length, dtype=table.dtype) + 0.5) * old / new_length - 0.5
    x = x.clamp(0, old - 1)
    left = x.floor().long().clamp(max=old - 2)
    weight = (x - left)[:, None]
    return torch.cat([pos_embed[:, :1], ((1 - weight) * table[left] + weight * table[left + 1])[None]], dim=1)


def _with(rows_function):
    """An answer that keeps the class token and computes the rows with rows_function(table, new_length)."""
    def answer(pos_embed, new_length):
        return torch.cat([pos_embed[:, :1], rows_function(pos_embed[0, 1:], new_length)[None]], dim=1)
    return answer


def _positions(table, new_length, x):
    old = table.shape[0]
    left = x.floor().long().clamp(0, old - 2)
    weight = (x - left)[:, None]
    return (1 - weight) * table[left] + weight * table[left + 1]


def _centres(old, new):
    return (torch.arange(new, dtype=torch.float64) + 0.5) * old / new - 0.5


def test_resample_1d_right_answers_pass():
    feedback = check_resample_1d(resample_1d)
    assert feedback.passed and "bilinear" in feedback.message
    via_grid_sample_free = _with(lambda t, n: _positions(t, n, _centres(len(t), n).clamp(0, len(t) - 1)))
    assert check_resample_1d(via_grid_sample_free).passed


def test_the_reference_is_f_interpolate_and_bilinear_is_two_1d_passes():
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 4, 3, dtype=torch.float64)
    reference = F.interpolate(pos[:, 1:].transpose(1, 2), size=6, mode="linear", align_corners=False)[0].T
    torch.testing.assert_close(resample_1d(pos, 6)[0, 1:], reference)
    grid = torch.randn(3, 4, 2, dtype=torch.float64)                         # (h, w, D)
    cls = torch.zeros(1, 1, 2, dtype=torch.float64)
    rows = torch.stack([resample_1d(torch.cat([cls, r[None]], 1), 7)[0, 1:] for r in grid])          # (3, 7, D)
    both = torch.stack([resample_1d(torch.cat([cls, c[None]], 1), 5)[0, 1:] for c in rows.transpose(0, 1)], 1)
    bilinear = F.interpolate(grid.permute(2, 0, 1)[None], size=(5, 7), mode="bilinear", align_corners=False)
    torch.testing.assert_close(both, bilinear[0].permute(1, 2, 0))


def test_calling_f_interpolate_is_refused_and_restored():
    def with_interpolate(p, n):
        rows = F.interpolate(p[:, 1:].transpose(1, 2), size=n, mode="linear", align_corners=False)
        return torch.cat([p[:, :1], rows.transpose(1, 2)], dim=1)

    feedback = check_resample_1d(with_interpolate)
    assert not feedback.passed and feedback.details["mistake"] == "used_interpolate"
    assert F.interpolate(torch.ones(1, 1, 2), size=4).shape == (1, 1, 4)  # F.interpolate works again afterwards


def _nearest(table, n):
    return table[torch.floor(torch.arange(n) * len(table) / n).long()]


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (_with(lambda t, n: _positions(t, n, torch.arange(n, dtype=t.dtype) * (len(t) - 1) / (n - 1))),
         "align_corners", "centre of its cell"),
        (_with(lambda t, n: _positions(t, n, (torch.arange(n, dtype=t.dtype) * len(t) / n).clamp(0, len(t) - 1))),
         "no_half_pixel", "left edges"),
        (_with(lambda t, n: _positions(t, n, _centres(n * n / len(t), n).clamp(0, len(t) - 1))), "ratio_inverted",
         "upside down"),
        (_with(lambda t, n: _positions(t, n, _centres(len(t), n))), "no_clamp", "extrapolated"),
        (_with(_nearest), "nearest", "nearest"),
        (lambda p, n: resample_1d(torch.cat([torch.zeros_like(p[:, :1]), p], 1), n + 1)[:, 1:],
         "class_token_interpolated", "together with the patches"),
        (lambda p, n: resample_1d(p, n)[:, 1:], "class_token_dropped", "class token's row is missing"),
        (lambda p, n: resample_1d(p, n)[0, 1:], "shape", "(L', D) table"),
        (lambda p, n: resample_1d(p, n)[:, :-2], "shape", "expected (1, 1 + L', D)"),
        (lambda p, n: torch.cat([p[:, :1] * 0, resample_1d(p, n)[:, 1:]], 1), "class_token_changed", "row 0"),
        (lambda p, n: torch.cat([p[:, :1], resample_1d(p, n)[:, 1:] + 0.1], 1), "values", "(i + 0.5)"),
    ],
)
def test_resample_1d_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_resample_1d(wrong)
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message
    assert phrase in feedback.message


def test_resample_1d_unfinished_and_index_crash():
    assert check_resample_1d(_not_done).details.get("not_done")

    def out_of_bounds(p, n):  # the right neighbour of the last cell is read past the end of the table
        table = p[0, 1:]
        x = (torch.arange(n, dtype=table.dtype) + 0.5) * len(table) / n - 0.5
        left = x.clamp(min=0).floor().long()
        return table[left + 1]

    feedback = check_resample_1d(out_of_bounds)
    assert not feedback.passed and "at most L - 1" in feedback.message
