"""Cascading randomisation: the rank correlation against scipy, the order of the cascade, and the
behaviour of maps that ignore the model, read the top block, or read the bottom block."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from vit_edu.analysis.attention_maps import cls_attention
from vit_edu.analysis.sanity import (
    FLOW,
    average_ranks,
    cascading_randomisation,
    default_methods,
    eval_attentions,
    format_randomisation_table,
    spearman,
)


def _images(batch: int = 6, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def brightness(model, images: torch.Tensor) -> torch.Tensor:
    """Mean brightness per 4x4 patch: a 'map' that never looks at the model -> (B, N)."""
    patches = images.mean(dim=1).unfold(1, 4, 4).unfold(2, 4, 4)  # (B, 4, 4, 4, 4)
    return patches.mean(dim=(-1, -2)).flatten(1)  # (B, 16)


def last_layer_attention(model, images: torch.Tensor) -> torch.Tensor:
    return cls_attention(eval_attentions(model, images), -1, "mean")


def first_layer_attention(model, images: torch.Tensor) -> torch.Tensor:
    return cls_attention(eval_attentions(model, images), 0, "mean")


# --------------------------------------------------------------------------- Spearman's rho
def test_average_ranks_match_scipy_rankdata():
    values = torch.tensor([[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0], [2.0] * 10])
    expected = stats.rankdata(values.numpy(), axis=-1)
    np.testing.assert_array_equal(average_ranks(values).numpy(), expected)


def test_spearman_matches_scipy_with_ties():
    generator = torch.Generator().manual_seed(0)
    first = torch.randint(0, 5, (20, 16), generator=generator).float()  # many ties
    second = first + torch.randint(0, 4, (20, 16), generator=generator).float()
    ours = spearman(first, second)
    expected = [stats.spearmanr(a, b).statistic for a, b in zip(first.numpy(), second.numpy())]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)
    continuous = torch.rand(5, 30, generator=generator)
    other = continuous + 0.3 * torch.rand(5, 30, generator=generator)
    expected = [stats.spearmanr(a, b).statistic for a, b in zip(continuous.numpy(), other.numpy())]
    np.testing.assert_allclose(spearman(continuous, other).numpy(), expected, atol=1e-12)


def test_spearman_of_a_constant_map_is_nan_as_in_scipy():
    constant, ramp = torch.ones(1, 8), torch.arange(8.0)[None]
    assert math.isnan(spearman(constant, ramp).item())
    with pytest.warns(stats.ConstantInputWarning):
        assert math.isnan(stats.spearmanr(constant[0].numpy(), ramp[0].numpy()).statistic)
    assert spearman(ramp, -ramp).item() == pytest.approx(-1.0)


# --------------------------------------------------------------------------- the cascade
def test_a_map_that_ignores_the_model_stays_at_one(tiny_vit):
    model = tiny_vit(depth=3)
    table = cascading_randomisation(model, _images(), {"brightness": brightness}, seed=0)
    assert table["brightness"] == pytest.approx([1.0] * 4, abs=1e-12)


def test_top_block_attention_drops_at_once_bottom_block_only_at_the_end(tiny_vit):
    model = tiny_vit(depth=3, weight_init="jax")
    methods = {"last": last_layer_attention, "first": first_layer_attention}
    table = cascading_randomisation(model, _images(8), methods, seed=0)
    assert len(table["last"]) == 4
    assert table["last"][0] == pytest.approx(1.0)
    assert table["last"][1] < 0.5  # the block whose attention it reads is random now
    # block 0 is randomised last: its attention does not change before depth L
    assert table["first"][:3] == pytest.approx([1.0, 1.0, 1.0], abs=1e-12)
    assert table["first"][3] < 0.5


def test_blocks_are_randomised_from_the_top_down_and_cumulatively(tiny_vit):
    model = tiny_vit(depth=3)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    seen: list[list[int]] = []

    def record(copy, images):
        changed = sorted({int(name.split(".")[1]) for name, value in copy.state_dict().items()
                          if not torch.equal(value, trained[name]) and name.startswith("blocks.")})
        others_equal = all(torch.equal(value, trained[name]) for name, value in copy.state_dict().items()
                           if not name.startswith("blocks."))
        assert others_equal  # embeddings, final norm and head stay trained
        seen.append(changed)
        return brightness(copy, images)

    cascading_randomisation(model, _images(2), {"record": record}, seed=0)
    assert seen == [[], [2], [1, 2], [0, 1, 2]]


def test_the_callers_model_is_unchanged(tiny_vit):
    model = tiny_vit(depth=2, dropout=0.1).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cascading_randomisation(model, _images(2), {"last": last_layer_attention}, seed=0)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_same_seed_same_table_other_seed_other_weights(tiny_vit):
    model = tiny_vit(depth=2)
    images = _images(4)
    methods = {"last": last_layer_attention}
    first = cascading_randomisation(model, images, methods, seed=5)
    torch.manual_seed(123)  # the global RNG must not matter
    assert cascading_randomisation(model, images, methods, seed=5) == first
    assert cascading_randomisation(model, images, methods, seed=6)["last"][1:] != first["last"][1:]


def test_default_methods_on_a_tiny_model(tiny_vit):
    model = tiny_vit(depth=2, weight_init="jax", num_classes=3)
    # a zero head (jax init) gives no gradient signal; give it weights
    torch.nn.init.normal_(model.head.weight, std=0.5, generator=torch.Generator().manual_seed(0))
    table = cascading_randomisation(model, _images(3), seed=0)
    assert list(table) == list(default_methods())
    assert FLOW in table
    for values in table.values():
        assert len(values) == 3
        assert values[0] == pytest.approx(1.0)
        assert all(-1.0 - 1e-9 <= v <= 1.0 + 1e-9 for v in values)


# --------------------------------------------------------------------------- formatting and errors
def test_format_table():
    text = format_randomisation_table({"rollout": [1.0, 0.98, 0.5], "attention flow": [1.0, 0.97, -0.25]})
    lines = text.splitlines()
    assert "top d blocks re-initialised" in lines[0]
    assert lines[1].split() == ["method", "0", "1", "2"]
    assert lines[3].split() == ["rollout", "1.00", "0.98", "0.50"]
    assert lines[4].split() == ["attention", "flow", "1.00", "0.97", "-0.25"]
    with pytest.raises(ValueError, match="one correlation per depth"):
        format_randomisation_table({"a": [1.0], "b": [1.0, 0.5]})
    with pytest.raises(TypeError, match="non-empty dict"):
        format_randomisation_table({})


def test_bad_input_gives_clear_errors(tiny_vit):
    model = tiny_vit(depth=2)
    images = _images(2)
    with pytest.raises(TypeError, match="methods must"):
        cascading_randomisation(model, images, [brightness])
    with pytest.raises(TypeError, match="methods must map"):
        cascading_randomisation(model, images, {"x": 3})
    with pytest.raises(ValueError, match=r"method 'bad' must return a \(B, N\)"):
        cascading_randomisation(model, images, {"bad": lambda m, x: x})
    with pytest.raises(TypeError, match="blocks"):
        cascading_randomisation(torch.nn.Linear(3, 3), images, {"b": brightness})
    with pytest.raises(ValueError, match="init"):
        cascading_randomisation(model, images, {"b": brightness}, init="xavier")
    with pytest.raises(ValueError, match="seed"):
        cascading_randomisation(model, images, {"b": brightness}, seed=-1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        cascading_randomisation(model, images[0], {"b": brightness})
    with pytest.raises(ValueError, match="same shape"):
        spearman(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="at least 2"):
        spearman(torch.ones(2, 1), torch.ones(2, 1))
