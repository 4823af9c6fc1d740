"""load_result_table finds the repository's stored results from any working folder (the Chinese lessons run
one folder deeper than the English ones)."""

import json
from pathlib import Path

import pytest

from vit_edu.training.results import load_result_table

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_a_stored_table_is_read_the_same_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_result_table("transfer") == json.loads((RESULTS / "transfer.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["transfer.json", "../transfer", "", 3])
def test_a_bad_name_says_what_a_name_is(name):
    with pytest.raises(ValueError, match="name must be"):
        load_result_table(name)


def test_an_unknown_table_lists_the_known_ones():
    with pytest.raises(ValueError, match="'transfer'"):
        load_result_table("no_such_result")
