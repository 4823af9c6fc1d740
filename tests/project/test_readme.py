"""The README promises exactly two commands; CI must run the same test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks[:2] for line in block.strip().splitlines()]


def test_readme_has_two_commands_install_and_test():
    commands = readme_commands()
    assert len(commands) == 2, commands
    install, test = commands
    assert install.startswith("pip install -r requirements.txt &&")
    assert install.endswith("jupyter lab student_edition/00_index.ipynb"), "students open their edition"
    assert (ROOT / "student_edition" / "00_index.ipynb").is_file()
    assert test.startswith("pip install -r requirements-dev.txt &&") and test.endswith("pytest")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def test_ci_runs_the_lessons_again_on_an_emulated_cpu():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    readme_test = ci.index(readme_commands()[1])
    after = "\n".join(ci[readme_test + 1:])
    assert "ATEN_CPU_CAPABILITY=default" in after and "pytest notebooks" in after


def test_the_chinese_readme_has_the_same_two_commands_for_the_chinese_edition():
    text = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S)
    install, test = [line.strip() for block in blocks[:2] for line in block.strip().splitlines()]
    assert install == readme_commands()[0].replace("student_edition/", "student_edition/zh/")
    assert (ROOT / "student_edition" / "zh" / "00_index.ipynb").is_file()
    assert test == readme_commands()[1]
    assert "[中文](README.zh.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_chinese_lessons_in_its_second_pass():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    after = ci[ci.index(readme_commands()[1]) + 1:]
    assert "pytest notebooks/zh" in after, "pytest notebooks skips notebooks/zh (norecursedirs), even given both"
