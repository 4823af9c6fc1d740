"""``benchmarks/transfer.py`` reproduces a row of its committed table (benchmarks/results/transfer.json)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from vit_edu.training.results import find_row, summarize
from vit_edu.training.transfer import NUM_CLASSES, SUMMARY_BY, SUMMARY_ORDER, recipe_as_dict

pytestmark = pytest.mark.slow  # runs the benchmark script

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "benchmarks" / "results" / "transfer.json"


def test_committed_table_is_complete():
    table = json.loads(TABLE.read_text())
    cells = {(s["method"], s["image_size"], s["per_class"]) for s in table["summary"]}
    assert len(cells) == 25 and all(s["seeds"] == 3 for s in table["summary"])
    assert len(table["rows"]) == 75
    recomputed = summarize(table["rows"], by=SUMMARY_BY, order=SUMMARY_ORDER)
    assert [[s[key] for key in SUMMARY_BY] for s in recomputed] == [[s[key] for key in SUMMARY_BY]
                                                                   for s in table["summary"]]
    for s in recomputed:
        accs = [r["test_accuracy"] for r in table["rows"]
                if (r["method"], r["image_size"], r["per_class"]) == (s["method"], s["image_size"], s["per_class"])]
        assert abs(s["mean"] - sum(accs) / 3) < 1e-9 and s["min"] == min(accs) and s["max"] == max(accs)
        stored = find_row(table["summary"], **{key: s[key] for key in SUMMARY_BY})
        assert all(stored[key] == s[key] for key in ("seeds", "mean", "min", "max"))


def test_committed_table_was_made_with_the_recipes_in_the_code_and_records_losses():
    table = json.loads(TABLE.read_text())
    assert table["recipe"] == json.loads(json.dumps(recipe_as_dict()))
    assert table["chance_loss"] == pytest.approx(math.log(NUM_CLASSES))
    assert all(isinstance(row["train_loss"], float) for row in table["rows"])
    # the evidence for the scratch ViT: all labels, five times the shared step budget (whole epochs make it
    # at least four times the updates), three seeds
    long_runs = table["long_runs"]
    assert [r["seed"] for r in long_runs] == [0, 1, 2]
    shared = find_row(table["rows"], method="scratch", image_size=32, per_class=None, seed=0)["steps"]
    assert all(r["method"] == "scratch" and r["per_class"] is None and r["steps"] >= 4 * shared for r in long_runs)


def test_benchmark_script_reproduces_the_linear_probe_row(tmp_path):
    out = tmp_path / "row.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "transfer.py"), "--methods", "linear_probe",
                             "--budgets", "5", "--seeds", "0", "--high-res", "0", "--long-steps", "0",
                             "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "linear_probe" in result.stdout
    row = json.loads(out.read_text())["rows"][0]
    stored = find_row(json.loads(TABLE.read_text())["rows"], method="linear_probe", image_size=32, per_class=5,
                      seed=0)
    for key in ("num_train", "trainable", "steps"):
        assert row[key] == stored[key]
    # same machine and threads: identical; other CPUs differ in the last bits of the float sums
    assert abs(row["test_accuracy"] - stored["test_accuracy"]) <= 0.01
