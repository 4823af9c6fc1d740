"""Markers for the whole suite (declared in pyproject.toml): every lesson that nbval re-executes is
marked ``notebooks``, so ``pytest -m "not slow and not browser and not notebooks"`` is the quick inner loop."""

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebooks)
