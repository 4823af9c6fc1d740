"""The data-scale sweep: its recipe keeps the step budget, its runs evaluate both ways, its committed table adds up."""

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from vit_edu.data.scenes import downstream_data
from vit_edu.training.cnn import SmallCNN
from vit_edu.training.crossover import (
    CROSSOVER_RECIPE,
    EVALUATIONS,
    FEWSHOT_SHOTS,
    MODELS,
    SIZES,
    SUMMARY_BY,
    SUMMARY_ORDER,
    build_model,
    evaluate_transfer,
    pretrain_pool,
    recipe_as_dict,
    run_point,
)
from vit_edu.training.recipes import optimizer_steps
from vit_edu.training.results import summarize
from vit_edu.training.transfer import replace_head
from vit_edu.viz.crossover import plot_crossover
from vit_edu.viz.render import figure_to_png

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "benchmarks" / "results" / "crossover.json"
FIGURE = TABLE.with_suffix(".png")


def tiny_recipe(steps=4):
    pretrain = CROSSOVER_RECIPE.pretrain.updated(
        model={"dim": 16, "mlp_dim": 32, "depth": 1, "heads": 2},
        training={"steps": steps, "warmup_steps": 1, "batch_size": 25})
    finetune = CROSSOVER_RECIPE.finetune.updated(training={"steps": 3, "warmup_steps": 1})
    return dataclasses.replace(CROSSOVER_RECIPE, pretrain=pretrain, finetune=finetune, cnn_depth=2)


def test_every_size_gets_the_same_number_of_updates_and_the_sizes_span_more_than_a_decade_and_a_half():
    steps = CROSSOVER_RECIPE.pretrain.training["steps"]
    for model in MODELS:
        recipe = CROSSOVER_RECIPE.recipe_for(model)
        assert [optimizer_steps(recipe.train_settings(n), n) for n in SIZES] == [steps] * len(SIZES)
    assert math.log10(max(SIZES) / min(SIZES)) >= 1.5
    assert CROSSOVER_RECIPE.recipe_for("vit").input_normalization == (0.5, 0.5)
    assert CROSSOVER_RECIPE.recipe_for("cnn").input_normalization is None  # BatchNorm follows every conv


def test_the_cnn_has_about_as_many_parameters_as_the_vit():
    vit, cnn = build_model("vit", 0), build_model("cnn", 0)
    assert isinstance(cnn, SmallCNN)
    assert abs(cnn.num_parameters() - vit.num_parameters()) / vit.num_parameters() < 0.02
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("resnet", 0)


def test_replace_head_gives_a_cnn_a_zero_k_way_head_too():
    cnn = SmallCNN(channels=3, num_classes=12, width=8, depth=2, seed=0)
    body = {k: v.clone() for k, v in cnn.state_dict().items() if not k.startswith("head.")}
    replace_head(cnn, 10)
    assert cnn.head.weight.shape == (10, 8) and cnn.num_classes == 10
    assert cnn.head.weight.abs().sum() == 0 and cnn.head.bias.abs().sum() == 0
    assert all(torch.equal(cnn.state_dict()[k], v) for k, v in body.items())
    with pytest.raises(TypeError, match="Linear `head`"):
        replace_head(torch.nn.Conv2d(3, 3, 1), 10)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_a_point_pretrains_evaluates_both_ways_and_leaves_the_pretrained_model_untouched(model):
    recipe = tiny_recipe()
    pool = pretrain_pool(100, recipe)
    data = downstream_data(32)
    row = run_point(model, 100, 0, pool=pool, data=data, recipe=recipe)
    assert row["steps"] == 4 and row["epochs"] == 1 and row["size"] == 100
    assert all(0.0 <= row[name] <= 1.0 for name in EVALUATIONS)
    assert all(row[f"fewshot_{k}_l2"] > 0 for k in FEWSHOT_SHOTS)
    assert math.isfinite(row["pretrain_train_loss"]) and math.isfinite(row["finetune_train_loss"])
    network = build_model(model, 0, recipe)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    evaluate_transfer(network, 0, data, recipe=recipe, shots=(5,))
    assert all(torch.equal(network.state_dict()[k], v) for k, v in before.items())  # fine-tuned a copy
    with pytest.raises(ValueError, match="exceeds the pool"):
        run_point(model, 200, 0, pool=pool, data=data, recipe=recipe)


def test_committed_table_is_complete_and_its_summary_adds_up():
    table = json.loads(TABLE.read_text())
    assert table["recipe"] == json.loads(json.dumps(recipe_as_dict()))
    rows = table["rows"]
    assert sorted((r["model"], r["size"], r["seed"]) for r in rows) == sorted(
        (m, n, s) for m in MODELS for n in SIZES for s in (0, 1, 2))
    assert {r["steps"] for r in rows} == {CROSSOVER_RECIPE.pretrain.training["steps"]}
    assert all(math.isfinite(r["pretrain_train_loss"]) and math.isfinite(r["finetune_train_loss"]) for r in rows)
    for name in EVALUATIONS:
        recomputed = summarize(rows, by=SUMMARY_BY, value=name, order=SUMMARY_ORDER)
        assert len(recomputed) == len(MODELS) * len(SIZES)
        for stored, fresh in zip(table["summary"][name], recomputed):
            assert {k: stored[k] for k in (*SUMMARY_BY, "seeds", "min", "max")} == \
                {k: fresh[k] for k in (*SUMMARY_BY, "seeds", "min", "max")}
            assert stored["mean"] == pytest.approx(fresh["mean"])


def test_committed_figure_is_the_one_the_table_draws():
    table = json.loads(TABLE.read_text())
    drawn = imread(__import__("io").BytesIO(figure_to_png(plot_crossover(table["summary"]))))
    committed = imread(FIGURE)
    assert drawn.shape == committed.shape
    assert np.abs(drawn - committed).mean() < 0.01  # fonts may rasterise a little differently elsewhere


@pytest.mark.slow
def test_benchmark_refuses_to_overwrite_and_runs_a_quick_look(tmp_path):
    out = tmp_path / "t.json"
    out.write_text("{}")
    command = [sys.executable, str(ROOT / "benchmarks" / "crossover.py"), "--models", "vit", "--sizes", "1000",
               "--seeds", "0", "--steps", "8", "--workers", "1", "--out", str(out)]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "--force" in refused.stderr and out.read_text() == "{}"
    done = subprocess.run([*command, "--force"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = json.loads(out.read_text())
    assert [(r["model"], r["size"], r["steps"]) for r in table["rows"]] == [("vit", 1000, 8)]
    assert table["recipe"]["pretrain"]["training"]["steps"] == 8
    assert out.with_suffix(".png").stat().st_size > 0 and not out.with_suffix(".partial.jsonl").exists()
