"""Shared pytest set-up: deterministic, two CPU threads."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield


@pytest.fixture
def tiny_vit():
    """Factory of small ViTs for fast tests (fixed init seed); keyword arguments override."""
    from vit_edu import ViT

    def make(**overrides):
        kwargs = dict(image_size=16, patch_size=4, num_classes=5, dim=32, depth=2, heads=4, mlp_dim=64, seed=0)
        kwargs.update(overrides)
        return ViT(**kwargs)

    return make
