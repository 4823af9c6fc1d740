"""The pretrained-checkpoints exercise checks: right answers pass, each typical mistake gets its own message."""

import pytest
import torch
from einops import rearrange

from vit_edu.exercises.checkpoints import check_conv_to_dense, check_jax_query_kernel, check_split_qkv


def _not_done(*args, **kwargs):
    raise NotImplementedError


# ------------------------------------------------------------------ split qkv
@pytest.mark.parametrize(
    "right",
    [lambda w: w.chunk(3, dim=0), lambda w: tuple(w.reshape(3, -1, w.shape[1])),
     lambda w: torch.split(w, w.shape[1], dim=0), lambda w: [w[: w.shape[1]], w[w.shape[1]: 2 * w.shape[1]],
                                                             w[2 * w.shape[1]:]]],
)
def test_split_qkv_right_answers_pass(right):
    feedback = check_split_qkv(right)
    assert feedback.passed, feedback.message


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda w: w.chunk(3, dim=1), "wrong_axis", "split dim=0"),
        (lambda w: tuple(p.T for p in w.chunk(3, dim=0)), "transposed", "no .T"),
        (lambda w: (w.chunk(3)[1], w.chunk(3)[0], w.chunk(3)[2]), "order", "wrong order"),
        (lambda w: w.reshape(w.shape[1], 3, w.shape[1]).unbind(1), "interleaved", "every third row"),
    ],
)
def test_split_qkv_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_split_qkv(wrong)
    assert not feedback.passed and feedback.details["mistake"] == mistake and phrase in feedback.message


def test_split_qkv_other_failures():
    assert "not done yet" in check_split_qkv(_not_done).message
    assert "three tensors" in check_split_qkv(lambda w: w).message
    assert "three tensors" in check_split_qkv(lambda w: w.chunk(2)).message
    assert "None" in check_split_qkv(lambda w: (None, None, None)).message
    assert "values are not" in check_split_qkv(lambda w: tuple(torch.zeros(6, 6) for _ in range(3))).message


# ------------------------------------------------------------------ conv -> dense
def test_conv_to_dense_right_answers_pass():
    assert check_conv_to_dense(lambda w: rearrange(w, "d c p1 p2 -> d (p1 p2 c)")).passed
    assert check_conv_to_dense(lambda w: w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)).passed


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda w: w.reshape(w.shape[0], -1), "channels_first", "permute(0, 2, 3, 1)"),
        (lambda w: rearrange(w, "d c p1 p2 -> d (p2 p1 c)"), "rows_columns_swapped", "rows and columns"),
        (lambda w: rearrange(w, "d c p1 p2 -> (p1 p2 c) d"), "transposed", "(out, in)"),
        (lambda w: w.reshape(w.shape[0], -1).T, "transposed_channels_first", "two problems"),
    ],
)
def test_conv_to_dense_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_conv_to_dense(wrong)
    assert not feedback.passed and feedback.details["mistake"] == mistake and phrase in feedback.message


def test_conv_to_dense_other_failures():
    assert "not done yet" in check_conv_to_dense(_not_done).message
    assert "2-D" in check_conv_to_dense(lambda w: w).message
    assert "(D, P^2 C) = (5, 48)" in check_conv_to_dense(lambda w: w.reshape(5, 3, 16).sum(1)).message
    assert "None" in check_conv_to_dense(lambda w: None).message
    assert "shape is right" in check_conv_to_dense(lambda w: torch.zeros(5, 48)).message


# ------------------------------------------------------------------ Flax kernel -> Linear
def test_jax_query_kernel_right_answers_pass():
    assert check_jax_query_kernel(lambda k: k.reshape(k.shape[0], -1).T).passed
    assert check_jax_query_kernel(lambda k: rearrange(k, "d h e -> (h e) d")).passed


@pytest.mark.parametrize(
    ("wrong", "mistake", "phrase"),
    [
        (lambda k: k.reshape(k.shape[0], -1), "no_transpose", "transpose is missing"),
        (lambda k: k.reshape(-1, k.shape[0]), "no_transpose", "never transposes"),
        (lambda k: rearrange(k, "d h e -> (e h) d"), "head_dim_outer", "outer index"),
    ],
)
def test_jax_query_kernel_mistakes_are_diagnosed(wrong, mistake, phrase):
    feedback = check_jax_query_kernel(wrong)
    assert not feedback.passed and feedback.details["mistake"] == mistake and phrase in feedback.message


def test_jax_query_kernel_other_failures():
    assert "not done yet" in check_jax_query_kernel(_not_done).message
    assert "(k d_h, D) = (6, 6)" in check_jax_query_kernel(lambda k: k).message
    assert "shape is right" in check_jax_query_kernel(lambda k: torch.zeros(6, 6)).message
    assert "raised" in check_jax_query_kernel(lambda k: k.reshape(7, -1)).message
