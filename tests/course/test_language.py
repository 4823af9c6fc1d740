"""The course's two languages: every text the package says to a student through ``tr`` has a Chinese
entry with the same fields, no entry is left over, and the language switch works."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

import vit_edu
from vit_edu.language import LOCALE, catalogue, fields, tr, use_language

PACKAGE = Path(vit_edu.__file__).resolve().parent
CJK = re.compile(r"[\u3400-\u9fff]")


@functools.cache
def tr_calls() -> list[tuple[str, int, str | None]]:
    """(file, line, the English template or None when it is not a literal) of every ``tr(...)`` call.

    The template is a string literal, or the name of a module-level constant assigned one."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                     for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr":
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    template = first.value
                elif isinstance(first, ast.Name):
                    template = constants.get(first.id)
                else:
                    template = None
                found.append((str(path.relative_to(PACKAGE)), node.lineno, template))
    return found


def keys() -> dict[str, str]:
    """English template -> where it is used."""
    used = {}
    for where, line, template in tr_calls():
        if template is not None:
            used.setdefault(template, f"{where}:{line}")
    return used


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    use_language("en")


def test_the_package_speaks_through_tr():
    assert len(keys()) >= 150, "the check diagnoses and widget labels go through vit_edu.language.tr"


def test_every_tr_key_is_a_literal_template():
    bad = [f"{where}:{line}" for where, line, template in tr_calls() if template is None]
    assert not bad, ("tr(...) needs the English text as a string literal or a module constant holding one "
                     f"(not an f-string or an expression): {bad}")


def test_every_key_has_a_chinese_entry_with_the_same_fields():
    chinese = catalogue("zh")
    missing = [f"{where}: {key!r}" for key, where in keys().items() if key not in chinese]
    assert not missing, "no Chinese entry in vit_edu/locale/zh/*.toml for:\n" + "\n".join(missing)
    differ = [key for key in keys() if fields(key) != fields(chinese[key])]
    assert not differ, f"the Chinese entry has other {{fields}} than the English template: {differ}"


def test_no_entry_is_left_over_and_every_entry_is_chinese():
    used = keys()
    unused = [key for key in catalogue("zh") if key not in used]
    assert not unused, f"entries in vit_edu/locale/zh that no tr(...) uses any more: {unused}"
    english = [key for key, text in catalogue("zh").items()  # a key of words (not only {fields}) needs Chinese
               if not CJK.search(text) and re.search("[A-Za-z]{4}", re.sub(r"\{[^{}]*\}", "", key))]
    assert not english, f"entries whose Chinese text has no Chinese in it: {english}"
    assert sorted(path.name for path in (LOCALE / "zh").glob("*.toml"))


def test_use_language_switches_and_refuses_unknown_languages():
    key = next(key for key in keys() if fields(key))
    values = dict.fromkeys(fields(key), 1)
    use_language("zh")
    assert vit_edu.current_language() == "zh"
    assert tr(key, **values) == catalogue("zh")[key].format(**values) != key.format(**values)
    use_language("en")
    assert tr(key, **values) == key.format(**values)
    assert tr("no such message") == "no such message"
    with pytest.raises(ValueError, match="'zh'"):
        use_language("chinese")
    with pytest.raises(TypeError, match="language"):
        use_language(None)


# --------------------------------------------------------------------------- the lessons' own words
NOTEBOOKS = PACKAGE.parent / "notebooks"


def prediction_arguments() -> list[tuple[str, str, str | None]]:
    """(lesson, keyword, literal text or None for a computed one) of every check_prediction what=/why=."""
    import nbformat

    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or "check_prediction(" not in cell.source:
                continue
            code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check_prediction":
                    for keyword in node.keywords:
                        if keyword.arg in ("what", "why"):
                            literal = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
                            found.append((path.stem, keyword.arg, literal))
    return found


def english_outputs() -> str:
    import nbformat

    return "\n".join(str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
                     for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
                     for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
                     for output in cell.outputs)


def test_every_prediction_check_of_a_lesson_has_its_words_in_chinese():
    from vit_edu.language import lesson_catalogue

    arguments = prediction_arguments()
    assert len(arguments) >= 30
    chinese = lesson_catalogue("zh")
    missing = [f"{lesson} {keyword}={text!r}" for lesson, keyword, text in arguments
               if text is not None and text not in chinese]
    assert not missing, "no entry in vit_edu/locale/zh/lessons.toml for:\n" + "\n".join(missing)
    literals = {text for _, _, text in arguments if text is not None}
    outputs = english_outputs()  # a computed why= (an f-string) is matched as the English lesson printed it
    unused = [text for text in chinese if text not in literals and text not in outputs]
    assert not unused, f"entries in lessons.toml that no lesson passes any more: {unused}"
    assert all(CJK.search(text) for text in chinese.values())


def test_check_prediction_speaks_the_lesson_s_words_in_chinese():
    from vit_edu.exercises.predictions import check_prediction
    from vit_edu.language import lesson_catalogue

    what, why = next((w, y) for (_, k1, w), (_, k2, y) in zip(prediction_arguments(), prediction_arguments()[1:])
                     if k1 == "what" and k2 == "why" and w and y)
    english = str(check_prediction(3, 4, what=what, why=why, tolerance=1))
    assert what in english and why in english
    use_language("zh")
    chinese = str(check_prediction(3, 4, what=what, why=why, tolerance=1))
    assert lesson_catalogue("zh")[what] in chinese and lesson_catalogue("zh")[why] in chinese
    assert what not in chinese and chinese.startswith("正确")


def test_a_message_translated_in_two_files_is_refused(tmp_path, monkeypatch):
    import vit_edu.language as language

    (tmp_path / "xx").mkdir()
    for name in ("a.toml", "b.toml"):
        (tmp_path / "xx" / name).write_text("[[message]]\nen = '''image'''\nxx = '''图像'''\n", encoding="utf-8")
    monkeypatch.setattr(language, "LOCALE", tmp_path)
    language.catalogue.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"b\.toml.*'image'.*keep one"):
            language.catalogue("xx")
    finally:
        language.catalogue.cache_clear()
