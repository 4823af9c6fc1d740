"""vit_edu.analysis.positions: similarity grid, mosaic, distance profile, permutation equivariance, patch shuffling."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vit_edu.analysis.positions import (
    patch_position_embeddings,
    permutation_equivariance_error,
    position_similarity,
    shuffle_patches,
    similarity_by_distance,
    similarity_mosaic,
)
from vit_edu.patches import patchify


def test_position_similarity_matches_pairwise_cosine():
    pos = torch.randn(1, 1 + 2 * 3, 5)
    sim = position_similarity(pos, (2, 3))
    assert sim.shape == (2, 3, 2, 3)
    patches = pos[0, 1:]
    for i in range(6):
        for j in range(6):
            expected = F.cosine_similarity(patches[i], patches[j], dim=0)
            assert sim.reshape(6, 6)[i, j] == pytest.approx(expected.item(), abs=1e-6)


def test_patch_position_embeddings_checks_the_grid():
    pos = torch.randn(1, 17, 4)
    assert torch.equal(patch_position_embeddings(pos, 4), pos[0, 1:])
    assert torch.equal(patch_position_embeddings(pos[0], (4, 4)), pos[0, 1:])
    with pytest.raises(ValueError, match="needs 10"):
        patch_position_embeddings(pos, 3)
    with pytest.raises(ValueError, match="shape"):
        patch_position_embeddings(torch.randn(2, 17, 4), 4)


def test_similarity_mosaic_places_each_map_in_its_tile():
    sim = np.arange(2 * 3 * 2 * 3, dtype=float).reshape(2, 3, 2, 3)
    mosaic = similarity_mosaic(sim, gap=1)
    assert mosaic.shape == (2 * 3 - 1, 3 * 4 - 1)
    np.testing.assert_array_equal(mosaic[3:5, 4:7], sim[1, 1])  # tile (1, 1): rows 3-4, cols 4-6
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, 3]).all()
    with pytest.raises(ValueError, match="shape"):
        similarity_mosaic(np.zeros((2, 3, 3, 2)))


def test_similarity_by_distance_on_a_hand_made_grid():
    # 1 x 3 grid: pairs at distance 1: (0,1),(1,2) both ways; distance 2: (0,2) both ways
    sim = np.array([[1.0, 0.5, -0.2], [0.5, 1.0, 0.3], [-0.2, 0.3, 1.0]]).reshape(1, 3, 1, 3)
    profile = similarity_by_distance(sim)
    assert profile == {1: pytest.approx(0.4), 2: pytest.approx(-0.2)}


def test_sinusoid_like_embeddings_are_most_similar_for_neighbours():
    rows, cols = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij")
    freqs = torch.tensor([0.3, 0.5, 0.7])
    features = torch.cat([torch.sin(rows.reshape(-1, 1) * freqs), torch.cos(rows.reshape(-1, 1) * freqs),
                          torch.sin(cols.reshape(-1, 1) * freqs), torch.cos(cols.reshape(-1, 1) * freqs)], dim=1)
    pos = torch.cat([torch.zeros(1, 12), features])[None]
    profile = similarity_by_distance(position_similarity(pos, 6))
    assert profile[1] > profile[3] > profile[5]  # similarity falls with distance
    assert profile[1] > 0.8


def test_attention_layer_without_positions_is_permutation_equivariant(tiny_vit):
    model = tiny_vit().eval()
    tokens = torch.randn(2, 17, 32)
    perm = torch.randperm(17)
    run = lambda x: model.blocks[1](model.blocks[0](x))  # noqa: E731
    assert permutation_equivariance_error(run, tokens, perm) < 1e-5
    # adding position embeddings inside the function breaks it
    with_positions = lambda x: run(x + model.pos_embed)  # noqa: E731
    assert permutation_equivariance_error(with_positions, tokens, perm) > 1e-3


def test_shuffle_patches_permutes_the_patch_sequence():
    images = torch.randn(2, 3, 8, 12)
    perm = torch.randperm(6)
    shuffled = shuffle_patches(images, 4, perm)
    assert shuffled.shape == images.shape
    assert torch.equal(patchify(shuffled, 4), patchify(images, 4)[:, perm])
    assert torch.equal(shuffle_patches(images, 4, torch.arange(6)), images)
    with pytest.raises(ValueError, match="permutation"):
        shuffle_patches(images, 4, torch.arange(5))
