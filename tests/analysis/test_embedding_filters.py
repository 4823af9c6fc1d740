"""Principal components of the patch-embedding filters (paper Fig. 7 left).

References: scikit-learn's PCA, numpy's eigendecomposition of the covariance matrix, and a hand-built
set of filters whose components and variance shares are known in closed form.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from vit_edu.analysis.embedding_filters import (
    filter_components,
    patch_embedding_components,
    patch_embedding_filters,
)
from vit_edu.model import ViT
from vit_edu.patches import PatchEmbedding, linear_weight_from_conv


def random_filters(num_filters: int, channels: int, patch: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    # unequal scales per input value, so that the variance shares differ clearly between components
    scales = torch.linspace(0.2, 2.0, channels * patch * patch, dtype=torch.float64)
    values = torch.randn(num_filters, channels * patch * patch, generator=generator, dtype=torch.float64)
    return (values * scales).reshape(num_filters, channels, patch, patch) + 0.3


def assert_equal_up_to_sign(ours: np.ndarray, reference: np.ndarray, atol: float = 1e-8) -> None:
    """Row i of ``ours`` equals row i of ``reference`` or its negative."""
    for row, (a, b) in enumerate(zip(ours, reference)):
        sign = 1.0 if np.dot(a, b) >= 0 else -1.0
        np.testing.assert_allclose(a, sign * b, atol=atol, err_msg=f"component {row}")


@pytest.mark.parametrize(("num_filters", "channels", "patch"), [(20, 3, 2), (30, 1, 4), (64, 3, 4)])
def test_components_match_sklearn_pca(num_filters, channels, patch):
    filters = random_filters(num_filters, channels, patch)
    result = filter_components(filters)
    size = channels * patch * patch
    flat = filters.reshape(num_filters, -1).numpy()
    reference = PCA(n_components=min(num_filters, size), svd_solver="full").fit(flat)
    assert result.components.shape == (min(num_filters, size), channels, patch, patch)
    assert_equal_up_to_sign(result.components.reshape(len(result.components), -1).numpy(), reference.components_)
    np.testing.assert_allclose(result.explained_variance_ratio.numpy(), reference.explained_variance_ratio_,
                               atol=1e-10)
    np.testing.assert_allclose(result.mean.reshape(-1).numpy(), reference.mean_, atol=1e-12)
    assert float(result.explained_variance_ratio.sum()) == pytest.approx(1.0, abs=1e-12)


def test_components_match_eigenvectors_of_the_covariance():
    filters = random_filters(40, 3, 2, seed=1)
    flat = filters.reshape(40, -1).numpy()
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(flat, rowvar=False))  # ascending
    order = np.argsort(eigenvalues)[::-1]
    result = filter_components(filters, k=5)
    assert_equal_up_to_sign(result.components.reshape(5, -1).numpy(), eigenvectors[:, order[:5]].T)
    np.testing.assert_allclose(result.explained_variance_ratio.numpy(), eigenvalues[order[:5]] / eigenvalues.sum(),
                               atol=1e-10)


def test_hand_built_filters_give_their_two_directions_and_shares():
    size = 3 * 2 * 2
    first, second = torch.zeros(size, dtype=torch.float64), torch.zeros(size, dtype=torch.float64)
    first[[0, 1]] = 2 ** -0.5  # unit vector
    second[[4, 6]] = torch.tensor([0.6, -0.8], dtype=torch.float64)  # unit, orthogonal to first
    along_first = torch.tensor([3.0, -3.0, 3.0, -3.0], dtype=torch.float64)  # zero mean, variance share 9/10
    along_second = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)  # orthogonal to it, share 1/10
    mean = torch.arange(size, dtype=torch.float64)
    filters = (mean + along_first[:, None] * first + along_second[:, None] * second).reshape(4, 3, 2, 2)

    result = filter_components(filters, k=2)
    torch.testing.assert_close(result.explained_variance_ratio, torch.tensor([0.9, 0.1], dtype=torch.float64))
    torch.testing.assert_close(result.components[0].reshape(-1), first)  # already has its largest entry positive
    torch.testing.assert_close(result.components[1].reshape(-1), -second)  # -0.8 flipped to +0.8
    torch.testing.assert_close(result.mean.reshape(-1), mean)


def test_components_are_orthonormal_sorted_and_signed():
    result = filter_components(random_filters(50, 3, 3, seed=2))
    flat = result.components.reshape(len(result.components), -1)
    torch.testing.assert_close(flat @ flat.T, torch.eye(len(flat), dtype=torch.float64), atol=1e-10, rtol=0)
    ratios = result.explained_variance_ratio
    assert bool((ratios[:-1] >= ratios[1:]).all())
    largest = flat.gather(1, flat.abs().argmax(dim=1, keepdim=True))
    assert bool((largest > 0).all())


def test_top_k_is_the_start_of_the_full_result():
    filters = random_filters(25, 3, 2, seed=3)
    full, top = filter_components(filters), filter_components(filters, k=4)
    torch.testing.assert_close(top.components, full.components[:4])
    torch.testing.assert_close(top.explained_variance_ratio, full.explained_variance_ratio[:4])
    assert float(top.explained_variance_ratio.sum()) < 1.0


def test_conv_and_linear_forms_give_the_same_components():
    torch.manual_seed(0)
    conv = PatchEmbedding(4, 3, 24, form="conv")
    linear = PatchEmbedding(4, 3, 24, form="linear")
    with torch.no_grad():
        linear.proj.weight.copy_(linear_weight_from_conv(conv.proj.weight))  # (D, P^2 C) in (p1 p2 c) order
    torch.testing.assert_close(patch_embedding_filters(linear), conv.proj.weight.detach().double())
    a, b = patch_embedding_components(conv), patch_embedding_components(linear)
    torch.testing.assert_close(a.components, b.components)
    torch.testing.assert_close(a.explained_variance_ratio, b.explained_variance_ratio)


def test_a_vit_is_read_through_its_patch_embedding():
    model = ViT(image_size=8, patch_size=4, channels=1, num_classes=3, dim=32, depth=1, heads=2, mlp_dim=16, seed=0,
                patch_embedding="linear")
    filters = patch_embedding_filters(model)
    assert filters.shape == (32, 1, 4, 4)
    torch.testing.assert_close(filters.reshape(32, 16), model.patch_embed.proj.weight.detach().double())
    assert patch_embedding_components(model, k=3).components.shape == (3, 1, 4, 4)


@pytest.mark.parametrize("form", ["conv", "linear"])
def test_input_std_undoes_a_folded_normalisation(form):
    torch.manual_seed(1)
    embedding = PatchEmbedding(2, 3, 8, form=form)
    before = patch_embedding_filters(embedding)
    std = [0.5, 0.25, 2.0]
    embedding.fold_input_normalization(mean=[0.1, 0.2, 0.3], std=std)
    folded = patch_embedding_filters(embedding)
    torch.testing.assert_close(folded[:, 1], before[:, 1] / 0.25)  # folding divides channel c by std_c
    torch.testing.assert_close(patch_embedding_filters(embedding, input_std=std), before)
    torch.testing.assert_close(patch_embedding_filters(embedding, input_std=0.5), folded * 0.5)


def test_filters_are_a_detached_copy():
    embedding = PatchEmbedding(2, 3, 8)
    filters = patch_embedding_filters(embedding)
    filters += 1.0
    assert not torch.equal(filters.float(), embedding.proj.weight.detach())
    assert not filters.requires_grad


@pytest.mark.parametrize(("k", "error", "words"), [
    (13, ValueError, "at most min(D, C*P_h*P_w) = min(20, 12) = 12"),
    (0, ValueError, "k must be a positive integer"),
    (-1, ValueError, "k must be a positive integer"),
    (2.0, TypeError, "k must be an int"),
    (True, TypeError, "k must be an int"),
])
def test_bad_k_is_refused(k, error, words):
    with pytest.raises(error, match=re.escape(words)):
        filter_components(random_filters(20, 3, 2), k=k)


def test_k_is_bounded_by_the_number_of_filters_too():
    with pytest.raises(ValueError, match=r"min\(5, 12\) = 5, got 6"):
        filter_components(random_filters(5, 3, 2), k=6)


@pytest.mark.parametrize(("filters", "error", "words"), [
    (torch.zeros(10, 12, dtype=torch.float64), ValueError, "shape (D, C, P_h, P_w)"),
    (torch.ones(1, 3, 2, 2), ValueError, "D >= 2"),
    (np.ones((4, 3, 2, 2)), TypeError, "torch.Tensor"),
    (torch.full((4, 3, 2, 2), float("nan")), ValueError, "NaN"),
    (torch.ones(4, 3, 2, 2), ValueError, "identical"),
])
def test_bad_filters_are_refused(filters, error, words):
    with pytest.raises(error, match=re.escape(words)):
        filter_components(filters)


def test_bad_model_and_input_std_are_refused():
    with pytest.raises(TypeError, match="ViT or a PatchEmbedding"):
        patch_embedding_filters(torch.nn.Linear(4, 4))
    embedding = PatchEmbedding(2, 3, 8)
    with pytest.raises(ValueError, match=r"one number or 3 \(one per channel\), got 2"):
        patch_embedding_filters(embedding, input_std=[0.5, 0.5])
    with pytest.raises(ValueError, match="input_std must be > 0"):
        patch_embedding_filters(embedding, input_std=0.0)
