"""The inside-the-model exercise checks: right answers pass, each typical mistake gets its own message,
unfinished answers say "not done". The student answers here are written out by hand."""

import numpy as np
import pytest
import torch
from scipy.stats import rankdata
from support.exercises import assert_survives_unfinished_none_crash_and_tuple

from vit_edu.analysis.logit_lens import logit_lens
from vit_edu.exercises.inside_the_model import _lens_model, _spearman_maps, check_class_token_lens, check_spearman


# ---------------------------------------------------------------------- the logit lens of the class token
def _lens_right(model, images):
    z = model.embed(images)
    rows = []
    for block in model.blocks:
        z = block(z)
        rows.append(model.head(model.norm(z[:, 0])))
    return torch.stack(rows)


def _lens_all_at_once(model, images):  # another correct way: the full stream, then the class token
    z, streams = model.embed(images), []
    for block in model.blocks:
        z = block(z)
        streams.append(z)
    return model.head(model.norm(torch.stack(streams)))[:, :, 0]


def _lens_by_hooks(model, images):  # another correct way: hooks on the blocks during the model's own pass
    caught = []
    hooks = [block.register_forward_hook(lambda m, i, out: caught.append(out)) for block in model.blocks]
    model(images)
    for hook in hooks:
        hook.remove()
    return torch.stack([model.head(model.norm(z[:, 0])) for z in caught])


def _streams_after(model, images, embed=None):
    z = model.embed(images) if embed is None else embed(model, images)
    out = []
    for block in model.blocks:
        z = block(z)
        out.append(z)
    return out


def _no_positions(model, images):
    patches = model.patch_embed(images)
    return torch.cat([model.cls_token.expand(len(images), -1, -1), patches], dim=1)


LENS_MISTAKES = {
    "no_final_norm": lambda m, x: torch.stack([m.head(z[:, 0]) for z in _streams_after(m, x)]),
    "before_each_block": lambda m, x: torch.stack([m.head(m.norm(z[:, 0]))
                                                   for z in [m.embed(x), *_streams_after(m, x)[:-1]]]),
    "with_embeddings": lambda m, x: torch.stack([m.head(m.norm(z[:, 0])) for z in [m.embed(x), *_streams_after(m, x)]]),
    "patch_mean": lambda m, x: torch.stack([m.head(m.norm(z[:, 1:])).mean(1) for z in _streams_after(m, x)]),
    "token_mean": lambda m, x: torch.stack([m.head(m.norm(z)).mean(1) for z in _streams_after(m, x)]),
    "probabilities": lambda m, x: _lens_right(m, x).softmax(-1),
    "all_tokens": lambda m, x: torch.stack([m.head(m.norm(z)) for z in _streams_after(m, x)]),
    "batch_first": lambda m, x: _lens_right(m, x).transpose(0, 1),
    "output_repeated": lambda m, x: torch.stack([m(x)] * len(m.blocks)),
    "forgot_positions": lambda m, x: torch.stack([m.head(m.norm(z[:, 0]))
                                                  for z in _streams_after(m, x, _no_positions)]),
}


def test_the_lens_reference_agrees_with_the_package_and_ends_in_the_output():
    model, images = _lens_model(0)
    with torch.no_grad():
        ours = _lens_right(model, images)
        torch.testing.assert_close(ours, logit_lens(model, images)[:, :, 0])
        torch.testing.assert_close(ours[-1], model(images))
    # the test model makes every part matter: the final norm, positions and softmax change the answer
    for code, mistake in LENS_MISTAKES.items():
        with torch.no_grad():
            wrong = mistake(model, images)
        assert wrong.shape != ours.shape or not torch.allclose(wrong, ours, atol=1e-3), code


@pytest.mark.parametrize("answer", [_lens_right, _lens_all_at_once, _lens_by_hooks])
def test_class_token_lens_right(answer):
    feedback = check_class_token_lens(answer)
    assert feedback.passed, feedback.message
    assert "model(images)" in feedback.message


@pytest.mark.parametrize("mistake", sorted(LENS_MISTAKES))
def test_class_token_lens_mistakes(mistake):
    feedback = check_class_token_lens(LENS_MISTAKES[mistake])
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_class_token_lens_messages():
    assert "model.norm" in check_class_token_lens(LENS_MISTAKES["no_final_norm"]).message
    assert "after each block" in check_class_token_lens(LENS_MISTAKES["before_each_block"]).message
    assert "logits" in check_class_token_lens(LENS_MISTAKES["probabilities"]).message
    assert "model.embed" in check_class_token_lens(LENS_MISTAKES["forgot_positions"]).message
    wrong = check_class_token_lens(lambda m, x: 2 * _lens_right(m, x))
    assert not wrong.passed and "values differ" in wrong.message and wrong.details["mistake"] == "unknown"


def test_class_token_lens_crash_gets_a_hint():
    def uses_a_missing_attribute(model, images):
        return model.encoder(images)

    feedback = check_class_token_lens(uses_a_missing_attribute)
    assert not feedback.passed and "AttributeError" in feedback.message and "model.embed" in feedback.message


def test_class_token_lens_accepts_answers_that_keep_the_graph():
    def with_grad(model, images):
        with torch.enable_grad():
            return _lens_right(model, images.requires_grad_(True))

    assert check_class_token_lens(with_grad).passed


# ---------------------------------------------------------------------- Spearman's rank correlation
def _average_ranks(x):
    less = (x[..., None, :] < x[..., :, None]).sum(-1)
    equal = (x[..., None, :] == x[..., :, None]).sum(-1)
    return (less + (equal + 1) / 2).double()


def _pearson(a, b):
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    return (a * b).sum(-1) / (a.square().sum(-1) * b.square().sum(-1)).sqrt()


def _spearman_right(first, second):
    return _pearson(_average_ranks(first), _average_ranks(second))


def _spearman_numpy(first, second):  # another correct way: scipy's ranks and numpy's corrcoef, a numpy array back
    return np.array([np.corrcoef(rankdata(a), rankdata(b))[0, 1] for a, b in zip(first.numpy(), second.numpy())])


def _ordinal(x):
    return torch.sort(x, dim=-1, stable=True).indices.argsort(dim=-1).double() + 1


def _shortcut(a, b):
    n = a.shape[-1]
    return 1 - 6 * (a - b).square().sum(-1) / (n * (n**2 - 1))


def _centred(x):
    return x - x.mean(-1, keepdim=True)


SPEARMAN_MISTAKES = {
    "pearson_of_values": _pearson,
    "ordinal_ranks": lambda a, b: _pearson(_ordinal(a), _ordinal(b)),
    "shortcut_formula": lambda a, b: _shortcut(_average_ranks(a), _average_ranks(b)),
    "ranked_over_batch": lambda a, b: _pearson(_ordinal(a.T).T, _ordinal(b.T).T),
    "covariance": lambda a, b: (_centred(_average_ranks(a)) * _centred(_average_ranks(b))).mean(-1),
    "batch_mean": lambda a, b: _spearman_right(a, b).mean(),
}


def test_the_spearman_maps_have_ties_and_known_rows():
    first, second = _spearman_maps(0)
    torch.testing.assert_close(_average_ranks(first), torch.from_numpy(rankdata(first.numpy(), axis=-1)))
    # without ties the shortcut formula is exact: ordinal ranks give one answer either way, one mistake
    ordinal = _ordinal(first), _ordinal(second)
    torch.testing.assert_close(_shortcut(*ordinal), _pearson(*ordinal))
    assert all(len(set(row.tolist())) < len(row) for row in first)  # every map has ties
    rho = _spearman_right(first, second)
    assert rho[0].item() == pytest.approx(1.0) and rho[1].item() == pytest.approx(-1.0)
    assert _pearson(first[:1], second[:1]).item() < 0.99  # the cube is not linear
    for code, mistake in SPEARMAN_MISTAKES.items():
        wrong = mistake(first, second)
        assert wrong.shape != rho.shape or not torch.allclose(wrong, rho, atol=1e-6), code


@pytest.mark.parametrize("answer", [_spearman_right, _spearman_numpy])
def test_spearman_right(answer):
    feedback = check_spearman(answer)
    assert feedback.passed, feedback.message
    assert "rho = 1.00" in feedback.message and feedback.details["pearson_of_cube"] < 0.99


@pytest.mark.parametrize("mistake", sorted(SPEARMAN_MISTAKES))
def test_spearman_mistakes(mistake):
    feedback = check_spearman(SPEARMAN_MISTAKES[mistake])
    assert not feedback.passed
    assert feedback.details["mistake"] == mistake, feedback.message


def test_spearman_messages():
    assert "ranks" in check_spearman(SPEARMAN_MISTAKES["pearson_of_values"]).message
    assert "average" in check_spearman(SPEARMAN_MISTAKES["ordinal_ranks"]).message
    assert "without ties" in check_spearman(SPEARMAN_MISTAKES["shortcut_formula"]).message
    assert "dim=-1" in check_spearman(SPEARMAN_MISTAKES["ranked_over_batch"]).message
    wrong = check_spearman(lambda a, b: -_spearman_right(a, b))
    assert not wrong.passed and wrong.details["mistake"] == "unknown"


# ---------------------------------------------------------------------- common
@pytest.mark.parametrize("check", [check_class_token_lens, check_spearman])
def test_unfinished_none_and_crash(check):
    assert_survives_unfinished_none_crash_and_tuple(check)
