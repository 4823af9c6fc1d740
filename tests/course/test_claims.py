"""The lessons' numeric claims: known names, ranges that can fail, and ranges that cover the measured spread."""

import json
import math
import re
from pathlib import Path

import nbformat
import pytest

from vit_edu.course.claims import (
    CLAIMS,
    COSINE,
    FRACTION,
    LOG_VARIABLE,
    NONNEGATIVE,
    Claim,
    cosine,
    difference,
    expect,
    fraction,
    holds,
    magnitude,
    within,
)

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SPREAD = ROOT / "benchmarks" / "results" / "lesson_claims.json"
MARGIN = 0.25  # each bound lies beyond the measured extreme by at least this fraction of the measured spread


def lesson_code():
    for path in LESSONS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                yield path, cell


def used_claim_patterns():
    """Regexes of the claim names the lessons pass to expect (f-string fields match any name part)."""
    patterns = []
    for path, cell in lesson_code():
        for _quote, name in re.findall(r"""expect\(\s*f?(["'])([^"']+)\1""", cell.source):
            patterns.append((path.stem, re.compile(re.sub(r"\\\{[^}]*\\\}", "[a-z0-9_]+", re.escape(name)) + "$")))
    return patterns


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_every_claim_can_fail(name):
    claim = CLAIMS[name]
    assert claim.limits[0] <= claim.low <= claim.high <= claim.limits[1], name
    assert not claim.low <= claim.null <= claim.high, f"{name}: its null value {claim.null} lies inside the range"
    assert claim.says.strip()


def test_each_kind_of_claim_fixes_its_limits_and_null():
    assert fraction(0.8, 1.0, "reads digits", null=0.1) == Claim(0.8, 1.0, "reads digits", null=0.1, limits=FRACTION)
    assert holds("it holds") == Claim(1.0, 1.0, "it holds", null=0.0, limits=FRACTION)
    assert cosine(0.5, 1.0, "alike", null=0.0) == Claim(0.5, 1.0, "alike", null=0.0, limits=COSINE)
    assert magnitude(0.5, 50.0, "changes") == Claim(0.5, 50.0, "changes", null=0.0, limits=NONNEGATIVE)
    assert magnitude(0.0, 0.1, "small", null=0.3).null == 0.3
    assert within(0.02, "repeats") == Claim(0.0, 0.02, "repeats", null=0.5, limits=NONNEGATIVE)
    assert difference(0.1, 1.0, "ahead") == Claim(0.1, 1.0, "ahead", null=0.0)
    assert difference(-0.05, 0.3, "costs little", null=0.8).limits == (-math.inf, math.inf)


def test_lessons_use_only_known_claims_and_every_claim_is_used():
    patterns = used_claim_patterns()
    assert patterns, "no lesson calls expect()"
    for lesson, pattern in patterns:
        assert any(pattern.match(name) for name in CLAIMS), f"{lesson} checks an unknown claim {pattern.pattern!r}"
    unused = [name for name in CLAIMS if not any(pattern.match(name) for _, pattern in patterns)]
    assert not unused, f"claims that no lesson checks: {unused}"


def test_measured_spread_lies_inside_every_range_with_margin():
    table = json.loads(SPREAD.read_text())
    assert len(table["seeds"]) >= 3 and len(table["settings"]) >= 2
    for name, claim in CLAIMS.items():
        row = table["claims"].get(name)
        assert row, f"{name} was not measured: run python benchmarks/lesson_claims.py --write"
        values = [float(v) for by_seed in row["values"].values() for v in by_seed.values()]
        assert len(values) >= 6 and len(row["values"]) >= 2, f"{name}: measured in too few runs ({len(values)})"
        low, high = min(values), max(values)
        margin = MARGIN * (high - low)
        if claim.low > claim.limits[0]:
            assert claim.low <= low - margin, f"{name}: lower bound {claim.low} too close to the measured minimum {low}"
        if claim.high < claim.limits[1]:
            assert claim.high >= high + margin, f"{name}: upper bound {claim.high} too close to the measured max {high}"
        assert claim.limits[0] <= low <= high <= claim.limits[1], f"{name}: measured values outside its limits"
    assert not table["failing_cells"], table["failing_cells"]


def test_expect_accepts_the_range_and_rejects_what_is_outside(monkeypatch):
    monkeypatch.setitem(CLAIMS, "test.fraction", Claim(0.5, 0.9, "a fraction between a half and 0.9", null=0.1))
    assert expect("test.fraction", 0.7) is None  # nothing for a lesson cell to echo
    expect("test.fraction", 0.5)  # bounds are inclusive
    expect("test.fraction", 0.9)
    for bad in (0.49, 0.91, math.nan):
        with pytest.raises(AssertionError, match=r"claim 'test.fraction' does not hold.*a fraction between"):
            expect("test.fraction", bad)
    with pytest.raises(ValueError, match=r"unknown claim 'test\.nothing'"):
        expect("test.nothing", 1.0)


def test_expect_logs_every_checked_value(monkeypatch, tmp_path):
    monkeypatch.setitem(CLAIMS, "test.flag", Claim(1.0, 1.0, "it holds", null=0.0))
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(LOG_VARIABLE, str(log))
    expect("test.flag", True)
    with pytest.raises(AssertionError):
        expect("test.flag", False)
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        {"claim": "test.flag", "value": 1.0}, {"claim": "test.flag", "value": 0.0}]


def test_lessons_mark_outputs_with_tags_not_comments():
    """nbval honours only a bare `# NBVAL_...` line; tags are exact and invisible to students."""
    for path, cell in lesson_code():
        assert not re.search(r"^\s*#\s*NBVAL", cell.source, flags=re.M), f"{path.name}: an NBVAL comment; use a tag"
        for tag in cell.metadata.get("tags", []):
            if tag.startswith("nbval"):
                assert tag in {"nbval-ignore-output", "nbval-skip", "nbval-check-output"}, f"{path.name}: {tag}"


def test_lessons_set_threads_and_seeds_through_setup_lesson():
    for path, cell in lesson_code():
        assert "torch.set_num_threads" not in cell.source, f"{path.name}: use vit_edu.course.lesson.setup_lesson"
