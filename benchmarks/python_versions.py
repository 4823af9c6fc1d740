"""Which Python versions the course's pins (requirements.txt) have wheels for, on this platform.

For each Python version, pip's resolver is asked (``pip install --dry-run --only-binary=:all:
--python-version X``, nothing is installed) whether every pinned package of ``requirements.txt`` has a
wheel for it. It needs the package index (PyPI), not the packages. ``docs/for_teachers.md`` states the
result; ``tests/project/test_requirements.py`` checks that it agrees with the table.

    python benchmarks/python_versions.py                 # print
    python benchmarks/python_versions.py --write         # and write results/python_versions.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "python_versions.json"
VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


def pinned_lines() -> list[str]:
    """The pins of requirements.txt (the local package line left out: it has no wheel on an index)."""
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-"))]


def resolves(version: str, pins: list[str]) -> tuple[bool, str]:
    """Whether pip finds a wheel of every pin for Python ``version``; the first error line if not."""
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text("\n".join(pins) + "\n", encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
                               "--only-binary=:all:", "--python-version", version, "--target", str(Path(folder) / "t"),
                               "-r", str(requirements)], capture_output=True, text=True, timeout=600)
    if done.returncode == 0:
        return True, ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    return False, (errors[-1] if errors else done.stderr.strip()[-300:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {RESULT.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    pins = pinned_lines()
    table = {}
    for version in VERSIONS:
        ok, reason = resolves(version, pins)
        table[version] = {"wheels_for_all_pins": ok, "reason": reason}
        print(f"Python {version}: {'every pin has a wheel' if ok else reason}")
    if args.write:
        RESULT.write_text(json.dumps({"platform": f"{platform.system()} {platform.machine()}", "pins": pins,
                                      "versions": table}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
