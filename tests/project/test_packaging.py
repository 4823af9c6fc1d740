"""pyproject.toml declares what the package needs; the requirements files pin exactly those versions."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def declared(*groups: str) -> dict[str, Requirement]:
    """The requirements of pyproject's core dependencies and the named extras (self-references expanded)."""
    found, todo, seen = {}, ["core", *groups], set()
    while todo:
        group = todo.pop()
        if group in seen:
            continue
        seen.add(group)
        for line in PROJECT["dependencies"] if group == "core" else PROJECT["optional-dependencies"][group]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                todo.extend(requirement.extras)
            else:
                found[canonicalize_name(requirement.name)] = requirement
    return found


def pinned(filename: str) -> tuple[dict[str, str], list[str]]:
    """``{name: version}`` of a requirements file's ``name==version`` lines (following ``-r``), and its ``-e`` lines."""
    pins, editables = {}, []
    for raw in (ROOT / filename).read_text(encoding="utf-8").splitlines():
        line = raw.split("#")[0].strip()
        if line.startswith("-r "):
            more, _ = pinned(line[3:].strip())
            pins.update(more)
        elif line.startswith("-e "):
            editables.append(line[3:].strip())
        elif line:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", line)
            assert match, f"{filename}: {line!r} is not an exact pin name==version"
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins, editables


@pytest.mark.parametrize(("filename", "extra"), [("requirements.txt", "lessons"), ("requirements-dev.txt", "dev")])
def test_requirements_pin_exactly_what_the_extra_declares(filename, extra):
    pins, editables = pinned(filename)
    wanted = declared(extra)
    assert editables[-1:] == [f".[{extra}]"], f"{filename} must end by installing the package with -e .[{extra}]"
    assert set(pins) == set(wanted), (
        f"{filename} pins but pyproject does not declare: {sorted(set(pins) - set(wanted))}; "
        f"declared but not pinned: {sorted(set(wanted) - set(pins))}"
    )
    outside = {name: pins[name] for name, requirement in wanted.items() if pins[name] not in requirement.specifier}
    assert not outside, f"{filename} pins versions outside pyproject's ranges: {outside}"


def test_cpu_torch_is_pinned_and_torchvision_is_not_a_dependency():
    pins, _ = pinned("requirements-dev.txt")
    assert pins["torch"] == "2.13.0"
    assert not {"torchvision", "timm", "vit-pytorch"} & set(pins) & set(declared("dev"))


@pytest.mark.slow
def test_the_package_itself_needs_only_the_core_dependencies():
    """Importing vit_edu and building, saving and loading a model loads no module that the core
    dependencies (torch, einops, numpy, safetensors) do not load themselves."""
    code = (
        "import sys, tempfile, pathlib\n"
        "import torch, einops, numpy, safetensors.torch\n"
        "before = {n.split('.')[0] for n in sys.modules}\n"
        "from vit_edu import ViT, load_checkpoint, save_checkpoint\n"
        "m = ViT(image_size=8, patch_size=4, num_classes=2, dim=8, depth=1, heads=2, mlp_dim=8)\n"
        "p = pathlib.Path(tempfile.mkdtemp()) / 'm.safetensors'; save_checkpoint(m, p); load_checkpoint(p)\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules} - before)))\n"
    )
    added = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                               cwd=ROOT).stdout.split())
    import_names = {"scikit-learn": "sklearn", "scikit-image": "skimage", "pillow": "PIL"}
    extras = {import_names.get(name, name.replace("-", "_")) for name in set(declared("dev")) - set(declared())}
    assert {"matplotlib", "transformers", "sklearn", "nbformat"} <= extras
    assert not added & extras, f"importing vit_edu loads {sorted(added & extras)}, which are extras: import them lazily"
    assert "vit_edu" in added  # the probe really ran the package


def test_the_teacher_guide_states_the_python_versions_the_pins_have_wheels_for():
    import json

    table = json.loads((ROOT / "benchmarks" / "results" / "python_versions.json").read_text(encoding="utf-8"))
    pins, _ = pinned("requirements.txt")
    assert {canonicalize_name(Requirement(line).name): str(Requirement(line).specifier).removeprefix("==")
            for line in table["pins"]} == pins, "requirements.txt changed: run benchmarks/python_versions.py --write"
    working = [version for version, row in table["versions"].items() if row["wheels_for_all_pins"]]
    assert working, "no Python version has wheels for every pin"
    guide = (ROOT / "docs" / "for_teachers.md").read_text(encoding="utf-8")
    assert f"Python {working[0]} to {working[-1]}" in guide
    assert PROJECT["requires-python"] == f">={working[0]}"
