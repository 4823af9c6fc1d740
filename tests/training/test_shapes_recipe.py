"""benchmarks/results/shapes_recipe.json (the training lesson's table) matches the recipe and the committed
checkpoint."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vit_edu.training.recipes import COURSE_RECIPES, course_model_info

pytestmark = pytest.mark.slow  # runs the benchmark script

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "benchmarks" / "results" / "shapes_recipe.json"


def _table():
    return json.loads(TABLE.read_text())


def test_table_has_the_four_variants_of_the_current_recipe():
    table = _table()
    recipe = COURSE_RECIPES["shapes"]
    assert table["settings"]["training"] == recipe.training
    assert table["settings"]["model"] == recipe.model
    assert table["settings"]["data"] == {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.data.items()}
    variants = {(r["weight_init"], None if r["input_normalization"] is None else tuple(r["input_normalization"]))
                for r in table["rows"]}
    assert variants == {("jax", (0.5, 0.5)), ("jax", None), ("timm", (0.5, 0.5)), ("timm", None)}
    for row in table["rows"]:
        assert len(row["test_accuracy"]) == recipe.training["epochs"]
        assert all(0.0 <= a <= 1.0 for a in row["test_accuracy"])


def test_recipe_row_is_the_committed_checkpoint():
    # same recipe, seed 0 and data seed 0 as the checkpoint: the same final accuracy (to a few images,
    # since another CPU sums floats in another order)
    info = course_model_info("shapes")
    assert info["seed"] == "0" and info["data_seed"] == "0"
    recipe_row = next(r for r in _table()["rows"] if r["weight_init"] == "jax" and r["input_normalization"])
    assert abs(recipe_row["test_accuracy"][-1] - float(info["test_accuracy"])) <= 0.005


def test_benchmark_refuses_to_overwrite_its_table(tmp_path):
    out = tmp_path / "table.json"
    out.write_text("{}")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "shapes_recipe.py"), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "--force" in result.stderr
    assert out.read_text() == "{}"
