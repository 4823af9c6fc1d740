"""The package's architecture, checked: every module imports only from its own layer or the ones below.

    model (top-level files, in paper order) -> checkpoints -> data -> training -> analysis -> viz
    -> widgets -> exercises -> course -> classroom -> cli

The model files are themselves ordered (``language``, ``checks`` and ``config`` first, ``model`` and ``counting``
last). A module may not import another module's private names (``_name``): what is shared is public.
``vit_edu/__init__.py`` and ``__main__.py`` are the package's face and may import from anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vit_edu"

CORE_ORDER = ("language", "checks", "config", "patches", "embeddings", "attention", "mlp", "block", "init", "model",
              "counting")
LAYERS = ("core", "checkpoints", "data", "training", "analysis", "viz", "widgets", "exercises", "course",
          "classroom", "cli")
FACE = {"vit_edu", "vit_edu.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rank(module: str) -> tuple[int, int]:
    """(layer, position inside the core) of a ``vit_edu...`` module name."""
    parts = module.split(".")
    if len(parts) < 2:
        raise ValueError(f"{module}: import the defining module, not the package root")
    if parts[1] in CORE_ORDER:
        return 0, CORE_ORDER.index(parts[1])
    if parts[1] not in LAYERS:
        raise ValueError(f"{module}: top-level module {parts[1]!r} is neither a model file nor a known layer")
    return LAYERS.index(parts[1]), 0


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported vit_edu module, imported names) for every import in a file, nested ones included."""
    found = []
    me = module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "vit_edu":
                found.append((node.lineno, module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names if alias.name.split(".")[0] == "vit_edu"]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if module_name(p) not in FACE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_downward_and_stay_public(path):
    me = module_name(path)
    mine = rank(me)
    problems = []
    for line, module, names in imports(path):
        try:
            theirs = rank(module)
        except ValueError as error:
            problems.append(f"line {line}: {error}")
            continue
        if theirs > mine:
            problems.append(f"line {line}: {me} ({LAYERS[mine[0]]}) imports {module} ({LAYERS[theirs[0]]}), "
                            "a higher layer")
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private or any(part.startswith("_") and part != "__init__" for part in module.split(".")):
            problems.append(f"line {line}: {me} imports private {module} {private}")
    assert not problems, "\n".join(problems)


def test_every_top_level_module_is_placed():
    """A new file in vit_edu/ must be a model file (in CORE_ORDER) or live in a layer's folder."""
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert top == set(CORE_ORDER), f"unplaced model files: {sorted(top ^ set(CORE_ORDER))}"
    assert folders == set(LAYERS) - {"core"}, f"unplaced subpackages: {sorted(folders ^ (set(LAYERS) - {'core'}))}"


def test_the_checker_catches_an_upward_and_a_private_import(tmp_path, monkeypatch):
    """The rules above can fail: a data module that imports the CLI or a private name breaks them."""
    fake = tmp_path / "vit_edu"
    (fake / "data").mkdir(parents=True)
    bad = fake / "data" / "bad.py"
    bad.write_text("from vit_edu.cli.commands import main\nfrom vit_edu.config import _hidden\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    with pytest.raises(AssertionError, match=r"(?s)a higher layer.*private vit_edu.config \['_hidden'\]"):
        test_imports_point_downward_and_stay_public(bad)
