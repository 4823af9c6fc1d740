"""The class-token-and-positions exercise checks: right answers pass, each typical mistake gets its own message."""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from vit_edu import resample_position_embeddings
from vit_edu.exercises.positions import (
    check_cosine_similarity_grid,
    check_prepend_class_token,
    check_resample_positions,
)


def _not_done(*args, **kwargs):
    raise NotImplementedError


# ------------------------------------------------------------------ class token
def test_prepend_right_answers_pass():
    assert check_prepend_class_token(lambda x, c: torch.cat([c.expand(x.shape[0], -1, -1), x], dim=1)).passed
    assert check_prepend_class_token(lambda x, c: torch.cat([c.repeat(len(x), 1, 1), x], 1)).passed


@pytest.mark.parametrize(
    ("wrong", "phrase"),
    [
        (lambda x, c: torch.cat([x, c.expand(x.shape[0], -1, -1)], dim=1), "at the end"),
        (lambda x, c: x + c, "added the class token to every patch"),
        (lambda x, c: torch.cat([c.expand_as(x), x], dim=2), "feature axis"),
        (lambda x, c: torch.cat([c, x], dim=1), "expand"),  # (1, 1, D) with (B, N, D): size error
        (lambda x, c: torch.cat([c.expand(x.shape[0], -1, -1), x * 2], dim=1), "values are not"),
        (lambda x, c: torch.cat([c.expand(x.shape[0], -1, -1), x[:, :-1]], dim=1), "expected (B, N + 1, D)"),
    ],
)
def test_prepend_mistakes_are_diagnosed(wrong, phrase):
    feedback = check_prepend_class_token(wrong)
    assert not feedback.passed
    assert phrase in feedback.message


def test_prepend_unfinished_and_none():
    assert check_prepend_class_token(_not_done).details.get("not_done")
    assert "return" in check_prepend_class_token(lambda x, c: None).message


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


# ------------------------------------------------------------------ resampling
def resample(pos_embed, old_grid, new_grid, mode="bicubic", align_corners=False):
    grid = rearrange(pos_embed[:, 1:], "1 (h w) d -> 1 d h w", h=old_grid[0], w=old_grid[1])
    grid = F.interpolate(grid, size=new_grid, mode=mode, align_corners=align_corners)
    return torch.cat([pos_embed[:, :1], rearrange(grid, "1 d h w -> 1 (h w) d")], dim=1)


def test_resample_right_answers_pass_and_agree_with_the_package():
    feedback = check_resample_positions(resample)
    assert feedback.passed and feedback.details["mode"] == "bicubic"
    assert check_resample_positions(lambda p, o, n: resample(p, o, n, mode="bilinear")).passed
    # the package's function is an accepted answer too (independent implementations agree)
    assert check_resample_positions(lambda p, o, n: resample_position_embeddings(p, o, n)).passed


def _without_permute(p, o, n):
    d = p.shape[-1]
    grid = F.interpolate(p[:, 1:].reshape(1, d, *o), size=n, mode="bicubic", align_corners=False)
    return torch.cat([p[:, :1], grid.reshape(1, -1, d)], dim=1)


def _one_d(p, o, n):
    seq = F.interpolate(p[:, 1:].transpose(1, 2), size=n[0] * n[1], mode="linear", align_corners=False)
    return torch.cat([p[:, :1], seq.transpose(1, 2)], dim=1)


def _swapped(p, o, n):
    grid = rearrange(p[:, 1:], "1 (h w) d -> 1 d h w", h=o[1], w=o[0])
    grid = F.interpolate(grid, size=n, mode="bicubic", align_corners=False)
    return torch.cat([p[:, :1], rearrange(grid, "1 d h w -> 1 (h w) d")], dim=1)


def _patches_shifted(p, o, n):
    out = resample(p, o, n)
    return torch.cat([out[:, :1], out[:, 1:] + 0.1], dim=1)


@pytest.mark.parametrize(
    ("wrong", "phrase"),
    [
        (lambda p, o, n: resample(p, o, n, align_corners=True), "align_corners=False"),
        (lambda p, o, n: resample(p, o, n)[:, 1:], "class token's embedding is missing"),
        (lambda p, o, n: torch.cat([p[:, :1] * 0, resample(p, o, n)[:, 1:]], 1), "class token's embedding changed"),
        (lambda p, o, n: F.interpolate(rearrange(p[:, 1:], "1 (h w) d -> 1 d h w", h=o[0]), size=n, mode="bicubic"),
         "(1, D, H, W)"),
        (_without_permute, "reshaped straight"),
        (lambda p, o, n: torch.cat([p[:, :1], rearrange(F.interpolate(
            rearrange(p[:, 1:], "1 (h w) d -> 1 d h w", h=o[0]), size=n, mode="nearest"), "1 d h w -> 1 (h w) d")], 1),
         "nearest"),
        (_one_d, "flat sequence"),
        (_swapped, "(w, h)"),
        (lambda p, o, n: resample(p, o, (n[0] + 1, n[1])), "expected (1, 31, 4)"),
        (_patches_shifted, "values are not"),
    ],
)
def test_resample_mistakes_are_diagnosed(wrong, phrase):
    feedback = check_resample_positions(wrong)
    assert not feedback.passed
    assert phrase in feedback.message


def test_resample_unfinished():
    assert check_resample_positions(_not_done).details.get("not_done")
