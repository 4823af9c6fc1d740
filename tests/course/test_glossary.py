"""One glossary for the course: every lesson's term table is drawn from vit_edu/course/glossary.toml."""

import re
from pathlib import Path

import nbformat
import pytest
from support.scripts import load_script

from vit_edu.course.glossary import glossary_table, lesson_terms, load_glossary, term_table

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def lesson_files():
    return {re.sub(r"^\d\d_", "", p.stem): p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
            if p.stem != "00_index"}


def test_every_lesson_shows_its_table_from_the_glossary_right_after_its_header():
    expected = load_script("sync_lessons").expected_cells()
    english = {*lesson_files().values(), NOTEBOOKS / "00_index.ipynb"}
    assert set(expected) == english | {NOTEBOOKS / "zh" / path.name for path in english}
    for path, cells in expected.items():
        notebook = nbformat.read(path, as_version=4)
        for tag in {"terms", "glossary"} & set(cells):
            found = [i for i, cell in enumerate(notebook.cells) if tag in cell.metadata.get("tags", [])]
            assert len(found) == 1, f"{path.name}: one cell tagged {tag!r}"
            assert notebook.cells[found[0]].source == cells[tag][0], \
                f"{path.name}: its {tag} table differs from the glossary; run python scripts/sync_lessons.py"
            if tag == "terms":
                assert found[0] == 2, f"{path.name}: the term table belongs to the lesson's header"


def test_every_glossary_lesson_exists_and_every_lesson_has_terms():
    topics = {topic for term in load_glossary() for topic in term.lessons}
    assert topics == set(lesson_files())
    for topic in topics:
        assert lesson_terms(topic)


def test_the_glossary_holds_the_course_s_corrections():
    zh = {term.en: term.zh for term in load_glossary()}
    assert zh["patch"] == "图像块" and zh["patch embedding"] == "图像块嵌入"  # 切片 means tensor slicing
    assert zh["attention rollout"] == "注意力展开"  # 回滚 means rollback
    assert zh["position embedding"].startswith("位置嵌入")  # learned; 位置编码 for fixed encodings
    assert zh["translation equivariance"] == "平移等变性" and zh["translation invariance"] == "平移不变性"
    assert zh["hidden vector"] == "隐藏向量"  # the reading notes' 隐式向量
    for needed in ("多头自注意力（MSA）", "混合架构", "分类头", "插值"):
        assert needed in zh.values(), needed
    # one Chinese term per English term and no Chinese term for two English ones
    assert len(set(zh.values())) == len(zh)


def test_no_lesson_uses_a_mistranslation_the_glossary_corrects():
    wrong = ("注意力回滚", "切片嵌入", "图像切片")
    for path in NOTEBOOKS.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown" and not {"terms", "glossary"} & set(cell.metadata.get("tags", [])):
                assert not any(term in cell.source for term in wrong), path.name


def test_tables_render_notes_and_refuse_unknown_lessons():
    table = term_table("attention_maps")
    assert "| attention rollout | 注意力展开 |" in table and "回滚 means rollback" in table
    assert table.count("\n|") == len(lesson_terms("attention_maps")) + 2  # header, separator, one row per term
    with pytest.raises(ValueError, match="no glossary term belongs to lesson 'nope'"):
        term_table("nope")
    with pytest.raises(ValueError, match="lacks the lessons"):
        glossary_table({})
