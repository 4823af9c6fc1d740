"""The retrained position-embedding ablation: its committed table, and how training treats each kind's tables."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from vit_edu import ViT, ViTConfig, count_parameters
from vit_edu.config import POSITION_EMBEDDING_CHOICES
from vit_edu.training.loop import _param_groups
from vit_edu.training.recipes import Recipe

TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "position_ablation.json"


@pytest.fixture(scope="module")
def table() -> dict:
    return json.loads(TABLE.read_text())


def test_every_kind_has_seeds_0_1_2_with_the_same_recipe(table):
    rows = table["rows"]
    assert sorted((r["position_embedding"], r["seed"]) for r in rows) == sorted(
        (kind, seed) for kind in POSITION_EMBEDDING_CHOICES for seed in (0, 1, 2))
    assert table["settings"]["seeds"] == [0, 1, 2]
    recipe = Recipe.from_dict(table["settings"]["recipe"])
    assert recipe.model["patch_size"] == 2 and recipe.model["image_size"] == 8  # a 4 x 4 grid of 16 patches
    assert recipe.model["weight_init"] == "jax" and recipe.input_normalization == (0.5, 0.5)
    assert "position_embedding" not in recipe.model  # the default; each row changes only this
    for row in rows:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["final_train_loss"] > 0 and row["seconds"] > 0
    assert table["machine"]["torch"]


def test_parameter_counts_are_the_closed_form_of_each_kind(table):
    base = Recipe.from_dict(table["settings"]["recipe"]).model
    for row in table["rows"]:
        config = ViTConfig(**base, position_embedding=row["position_embedding"])
        assert row["parameters"] == count_parameters(config)
    by_kind = {r["position_embedding"]: r["parameters"] for r in table["rows"]}
    d, n = base["dim"], 16
    assert by_kind["learned"] - by_kind["none"] == (n + 1) * d
    assert by_kind["learned_2d"] - by_kind["none"] == d + (4 + 4) * d // 2
    assert by_kind["sincos_2d"] == by_kind["none"]


def test_summary_is_the_mean_of_the_rows(table):
    for line in table["summary"]:
        values = [r["test_accuracy"] for r in table["rows"] if r["position_embedding"] == line["position_embedding"]]
        assert line["seeds"] == 3
        assert line["mean"] == pytest.approx(statistics.mean(values))
        assert (line["min"], line["max"]) == (min(values), max(values))


def test_the_finding_no_positions_is_clearly_worst_and_the_others_are_close(table):
    accuracy = {kind: [r["test_accuracy"] for r in table["rows"] if r["position_embedding"] == kind]
                for kind in POSITION_EMBEDDING_CHOICES}
    with_positions = [kind for kind in POSITION_EMBEDDING_CHOICES if kind != "none"]
    assert max(accuracy["none"]) + 0.10 < min(min(accuracy[kind]) for kind in with_positions)
    means = [statistics.mean(accuracy[kind]) for kind in with_positions]
    assert max(means) - min(means) < 0.03


@pytest.mark.parametrize("kind", POSITION_EMBEDDING_CHOICES)
def test_no_weight_decay_on_any_kinds_position_tables(kind):
    model = ViT(image_size=8, patch_size=2, channels=1, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=8,
                position_embedding=kind, seed=0)
    decay, no_decay = _param_groups(model, weight_decay=0.1)
    undecayed = {id(p) for p in no_decay["params"]}
    positions = [p for name, p in model.named_parameters() if name.startswith("pos_embed")]
    assert all(id(p) in undecayed for p in positions)
    assert len(positions) == {"learned": 1, "learned_2d": 3}.get(kind, 0)
    assert id(model.blocks[0].mlp.fc1.weight) in {id(p) for p in decay["params"]}
