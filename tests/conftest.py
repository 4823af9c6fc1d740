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


@pytest.fixture(autouse=True)
def _course_figure_style():
    """Every figure the package draws during a test must follow the course's figure style."""
    from vit_edu.viz.render import created_figures, figure_style_problems

    before = {id(figure) for figure in created_figures()}
    yield
    for figure in created_figures():
        if id(figure) not in before and not getattr(figure, "_style_checked", False):
            figure._style_checked = True
            problems = figure_style_problems(figure)
            assert not problems, f"a figure breaks the course's figure style: {problems}"


@pytest.fixture
def perturbed_vit(tiny_vit):
    """Factory of small ViTs whose every parameter is moved a little (fixed seed), in eval mode: a fresh head or
    LayerNorm is 0 or 1 and would hide a swapped or missing piece."""

    def make(**overrides):
        model = tiny_vit(**overrides)
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
        return model.eval()

    return make
