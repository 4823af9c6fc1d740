"""The Chinese edition keeps in step with the English lessons.

Every lesson ``notebooks/NN_name.ipynb`` has a Chinese lesson ``notebooks/zh/NN_name.ipynb`` built by
``scripts/chinese_edition.py`` from it and ``notebooks/zh/text/NN_name.md``: the same cells and code (the
first code cell also sets the language), every text cell translated and up to date with its English
source, the glossary's terms used, and stored as run in Chinese. The Chinese lessons themselves are
re-executed by ``.ci/run``'s second pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from vit_edu.classroom.editions import lesson_paths
from vit_edu.course.catalogue import load_catalogue
from vit_edu.course.glossary import lesson_terms
from vit_edu.course.translation import (
    Translation,
    build_chinese,
    chinese_share,
    fingerprint,
    is_generated,
    language_cell,
    parse_translations,
    structure_differences,
    translatable_cells,
)

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = ROOT / "notebooks"
CHINESE = ENGLISH / "zh"
LESSONS = lesson_paths(ENGLISH)
MIN_CHINESE_SHARE = 0.5  # of the prose letters of a translated cell; English prose scores 0


def pair(lesson: Path):
    return nbformat.read(lesson, as_version=4), nbformat.read(CHINESE / lesson.name, as_version=4)


def translations(lesson: Path):
    return parse_translations((CHINESE / "text" / f"{lesson.stem}.md").read_text(encoding="utf-8"))


def test_every_lesson_has_a_chinese_edition_and_nothing_else_is_there():
    assert sorted(path.name for path in CHINESE.glob("[0-9][0-9]_*.ipynb")) == [path.name for path in LESSONS]
    assert sorted(path.stem for path in (CHINESE / "text").glob("*.md")) == [path.stem for path in LESSONS]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_same_cells_same_code(lesson):
    english, chinese = pair(lesson)
    assert [(c.id, c.cell_type) for c in chinese.cells] == [(e.id, e.cell_type) for e in english.cells]
    codes = [(e.source, c.source) for e, c in zip(english.cells, chinese.cells) if e.cell_type == "code"]
    assert codes[0][1] == language_cell(codes[0][0]), "the first code cell sets the language to Chinese"
    assert 'language="zh"' in codes[0][1] or 'use_language("zh")' in codes[0][1]
    differ = [index for index, (e, c) in enumerate(codes[1:], start=1) if e != c]
    assert not differ, (f"code cells {differ} of {lesson.name} differ from the English lesson: run "
                        "python scripts/chinese_edition.py, then re-execute the Chinese lesson")
    for e, c in zip(english.cells, chinese.cells):
        assert c.metadata.get("tags", []) == e.metadata.get("tags", []), f"cell {e.id}: tags differ"
        assert c.metadata.get("nbgrader") == e.metadata.get("nbgrader"), f"cell {e.id}: nbgrader metadata differs"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_every_text_cell_is_translated_and_up_to_date(lesson):
    english, chinese = pair(lesson)
    built, problems = build_chinese(english, translations(lesson), chinese)
    assert not problems, f"{lesson.stem}: " + "; ".join(problems)
    stale = [cell.id for cell, stored in zip(built.cells, chinese.cells) if cell.source != stored.source]
    assert not stale, f"{lesson.name}: cells {stale} differ from the build: run python scripts/chinese_edition.py"
    stored = (CHINESE / lesson.name).read_text(encoding="utf-8")
    assert nbformat.writes(built) + "\n" == stored, f"{lesson.name}: run python scripts/chinese_edition.py"
    by_id = {cell.id: cell for cell in chinese.cells}
    for cell in translatable_cells(english):
        text = by_id[cell.id].source
        share = chinese_share(text)
        assert share >= MIN_CHINESE_SHARE, f"{lesson.stem} cell {cell.id} looks untranslated ({share:.0%} Chinese)"
        changed = structure_differences(cell.source, text)
        assert not changed, f"{lesson.stem} cell {cell.id}: {changed}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_generated_cells_are_chinese(lesson):
    _, chinese = pair(lesson)
    for cell in chinese.cells:
        if is_generated(cell):
            chinese_table = "| 中文 | English |" in cell.source
            assert chinese_table or chinese_share(cell.source) >= MIN_CHINESE_SHARE, cell.source[:80]


def term_forms(term: str) -> list[str]:
    """The words a glossary entry stands for: "pre-norm / post-norm" -> ["pre-norm", "post-norm"];
    a gloss in brackets is not required ("线性探测（冻结特征）" -> ["线性探测"])."""
    term = re.sub(r"\s*[(（][^)）]*[)）]", "", term)
    return [part.strip() for part in re.split(r" / |、|, ", term) if part.strip()]


@pytest.mark.parametrize("entry", load_catalogue(), ids=lambda entry: entry.topic)
def test_the_glossary_terms_are_used(entry):
    """A term of a lesson's table that its English text uses appears in the Chinese text as the glossary writes it."""
    english, chinese = pair(ENGLISH / entry.filename)
    english_text = "\n".join(cell.source for cell in translatable_cells(english)).lower()
    chinese_text = "\n".join(cell.source for cell in chinese.cells
                             if cell.cell_type == "markdown" and not is_generated(cell))
    missing = []
    for term in lesson_terms(entry.topic):
        english_forms, chinese_forms = term_forms(term.en), term_forms(term.zh)
        if len(english_forms) != len(chinese_forms):  # e.g. "multilayer perceptron, GELU" -> one phrase
            english_forms, chinese_forms = [term.en], [" ".join(chinese_forms)]
        for english_form, chinese_form in zip(english_forms, chinese_forms):
            used = re.search(rf"\b{re.escape(english_form.lower())}(e?s)?\b", english_text)
            if used and chinese_form not in chinese_text:
                missing.append(f"{english_form} -> {chinese_form}")
    assert not missing, f"{entry.filename}: the Chinese text does not use the glossary's term for {missing}"


def test_term_forms():
    assert term_forms("pre-norm / post-norm") == ["pre-norm", "post-norm"]
    assert term_forms("线性探测（冻结特征）") == ["线性探测"]
    assert term_forms("多层感知机（MLP）、GELU") == ["多层感知机", "GELU"]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_stored_as_run_in_chinese(lesson):
    _, chinese = pair(lesson)
    codes = [cell for cell in chinese.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in codes), f"{lesson.name} is stored unexecuted"
    said = "\n".join(str(output.get("data", {}).get("text/markdown", "")) + str(output.get("text", ""))
                     for cell in codes for output in cell.outputs)
    assert not re.search(r"\*\*(Correct|Not yet)\*\*|^(Correct|Not yet): ", said, re.M), \
        f"{lesson.name} shows an English check diagnosis: its first cell must set the language"


# --------------------------------------------------------------------------- the build itself
def _lesson(*cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = list(cells)
    return notebook


def test_build_reports_missing_stale_and_orphaned_translations():
    first = nbformat.v4.new_markdown_cell("## 1. The idea", id="aaaa")
    second = nbformat.v4.new_markdown_cell("Attention mixes tokens.", id="bbbb")
    code = nbformat.v4.new_code_cell("SEED = setup_lesson(seed=0)", id="cccc")
    english = _lesson(first, second, code)
    text = (f"<!-- cell aaaa en {fingerprint('## 1. The idea')} -->\n## 1. 思路\n\n"
            f"<!-- cell bbbb en {fingerprint('Attention mixed tokens.')} -->\n注意力混合词元。\n\n"
            f"<!-- cell dddd en {fingerprint('x')} -->\n多余的。\n")
    built, problems = build_chinese(english, parse_translations(text))
    assert built.cells[0].source == "## 1. 思路"
    assert built.cells[1].source == "Attention mixes tokens.", "a stale translation is not used"
    assert built.cells[2].source == 'SEED = setup_lesson(seed=0, language="zh")'
    assert any("bbbb" in problem and "changed" in problem for problem in problems)
    assert any("dddd" in problem for problem in problems)
    _, problems = build_chinese(english, parse_translations(text.split("<!-- cell bbbb")[0]))
    assert any("bbbb" in problem and "no translation" in problem for problem in problems)


def test_build_keeps_outputs_only_of_unchanged_code():
    code = nbformat.v4.new_code_cell("print(1)", id="cccc")
    other = nbformat.v4.new_code_cell("import vit_edu\nprint(2)", id="eeee")
    english = _lesson(other, code)
    previous, _ = build_chinese(english, {})
    previous.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    previous.cells[1].execution_count = 2
    kept, _ = build_chinese(english, {}, previous)
    assert kept.cells[1].outputs == previous.cells[1].outputs
    assert kept.cells[0].source == 'import vit_edu\nvit_edu.use_language("zh")\nprint(2)'
    english.cells[1].source = "print(10)"
    rebuilt, _ = build_chinese(english, {}, previous)
    assert rebuilt.cells[1].outputs == [] and rebuilt.cells[1].execution_count is None


def test_untranslated_text_and_changed_math_are_caught():
    english = "The **patch embedding** $E$ maps each patch to `dim` numbers (Dosovitskiy et al., 2020)."
    assert chinese_share(english) == 0
    chinese = "**图像块嵌入** $E$ 把每个图像块映射为 `dim` 个数（Dosovitskiy et al., 2020）。"
    assert chinese_share(chinese) > 0.9 and not structure_differences(english, chinese)
    assert structure_differences(english, chinese.replace("$E$", "$E^T$"))
    assert structure_differences(english, chinese.replace("`dim`", "dim"))
    with pytest.raises(ValueError, match="marker"):
        parse_translations("text before any marker")


def test_a_new_block_reads_back_as_an_up_to_date_untranslated_cell():
    from vit_edu.course.translation import block

    cell = nbformat.v4.new_markdown_cell("## 2. Build it\n\nThe $N$ patches.", id="ffff")
    [(cell_id, translation)] = parse_translations(block(cell)).items()
    assert cell_id == "ffff" and translation == Translation(fingerprint(cell.source), cell.source)
    built, problems = build_chinese(_lesson(cell), {cell_id: translation})
    assert not problems and chinese_share(built.cells[0].source) == 0  # the test above then calls it untranslated
