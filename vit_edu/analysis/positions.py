"""What position embeddings do: permutation equivariance without them, learned 2-D structure with them.

Paper §3.1 and Appendix D.4: ViT adds learned 1-D position embeddings E_pos (one vector per
token index) to the patch embeddings. Without them, self-attention, the MLP and LayerNorm treat
the sequence as a set: permuting the patch tokens permutes the outputs in the same way
(permutation equivariance), and the class token's output does not change at all. The model
only "knows" the grid through E_pos, and Fig. 7 (centre) shows that trained embeddings become
similar for nearby patches: :func:`position_similarity` computes that grid of cosine
similarities and :func:`similarity_mosaic` lays it out as in the figure.

Shapes: E_pos (1, prefix + N, D); similarity (h, w, h, w) for a grid of h x w = N patches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from vit_edu.checks import Size2d, to_2tuple
from vit_edu.patches import patchify, unpatchify


def patch_position_embeddings(pos_embed: torch.Tensor, grid_size: Size2d, num_prefix_tokens: int = 1) -> torch.Tensor:
    """The patches' rows of E_pos, (1, prefix + N, D) or (prefix + N, D) -> (N, D).

    Raises:
        ValueError: if the number of rows does not match the grid and prefix tokens.
    """
    height, width = to_2tuple(grid_size, "grid_size")
    if pos_embed.ndim == 3 and pos_embed.shape[0] == 1:
        pos_embed = pos_embed[0]  # (prefix + N, D)
    if pos_embed.ndim != 2:
        raise ValueError(f"pos_embed must have shape (1, tokens, D) or (tokens, D), got {tuple(pos_embed.shape)}.")
    expected = num_prefix_tokens + height * width
    if pos_embed.shape[0] != expected:
        raise ValueError(
            f"pos_embed has {pos_embed.shape[0]} rows but a {height}x{width} grid with {num_prefix_tokens} prefix "
            f"token(s) needs {expected}; pass the grid the embeddings belong to (model.config.grid_size)."
        )
    return pos_embed[num_prefix_tokens:]  # (N, D)


@torch.no_grad()
def position_similarity(pos_embed: torch.Tensor, grid_size: Size2d, num_prefix_tokens: int = 1) -> torch.Tensor:
    """Cosine similarity between the position embeddings of every pair of patches (Fig. 7 centre).

    Args:
        pos_embed: E_pos, (1, prefix + N, D), e.g. ``model.pos_embed``.
        grid_size: (h, w) with h w = N, e.g. ``model.config.grid_size``.
        num_prefix_tokens: rows before the patches (1: the class token), left out.

    Returns:
        (h, w, h, w): ``[r, c]`` is the similarity map of patch (r, c) with every patch.
    """
    height, width = to_2tuple(grid_size, "grid_size")
    patches = patch_position_embeddings(pos_embed, grid_size, num_prefix_tokens).float()  # (N, D)
    unit = F.normalize(patches, dim=-1)  # (N, D), each row of length 1
    return (unit @ unit.T).reshape(height, width, height, width)  # (h, w, h, w)


def similarity_mosaic(similarity: torch.Tensor | np.ndarray, gap: int = 1) -> np.ndarray:
    """Lay out an (h, w, h, w) similarity grid as one image of h x w tiles, each an h x w map.

    Tile (r, c) is patch (r, c)'s map, as in the paper's Fig. 7 (centre). Gaps are NaN (drawn blank).
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 4 or sim.shape[:2] != sim.shape[2:]:
        raise ValueError(f"similarity must have shape (h, w, h, w), got {sim.shape}.")
    height, width = sim.shape[:2]
    mosaic = np.full((height * (height + gap) - gap, width * (width + gap) - gap), np.nan)
    for row in range(height):
        for col in range(width):
            top, left = row * (height + gap), col * (width + gap)
            mosaic[top:top + height, left:left + width] = sim[row, col]
    return mosaic


def similarity_by_distance(similarity: torch.Tensor | np.ndarray) -> dict[int, float]:
    """Mean cosine similarity of patch pairs by their grid distance |dr| + |dc| (pairs of a patch with itself left out).

    A trained ViT's embeddings are most similar for neighbours (distance 1) and the similarity falls
    with distance; random embeddings give about 0 at every distance.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    height, width = sim.shape[:2]
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    distance = (np.abs(rows[:, :, None, None] - rows[None, None]) + np.abs(cols[:, :, None, None] - cols[None, None]))
    return {int(d): float(sim[distance == d].mean()) for d in np.unique(distance) if d > 0}


def permutation_equivariance_error(
    function: Callable[[torch.Tensor], torch.Tensor], tokens: torch.Tensor, permutation: torch.Tensor
) -> float:
    """max |f(x[:, perm]) - f(x)[:, perm]| over a batch of sequences (B, T, D): 0 means equivariant."""
    with torch.no_grad():
        permuted_then_f = function(tokens[:, permutation])  # (B, T, D)
        f_then_permuted = function(tokens)[:, permutation]  # (B, T, D)
    return (permuted_then_f - f_then_permuted).abs().max().item()


def shuffle_patches(images: torch.Tensor, patch_size: Size2d, permutation: torch.Tensor) -> torch.Tensor:
    """Rearrange the P x P patches of images (B, C, H, W): new patch i is old patch ``permutation[i]``."""
    height, width = images.shape[-2:]
    patch_h, patch_w = to_2tuple(patch_size, "patch_size")
    patches = patchify(images, (patch_h, patch_w))  # (B, N, P^2 C)
    if permutation.shape != (patches.shape[1],):
        raise ValueError(f"permutation must have shape ({patches.shape[1]},) for {patches.shape[1]} patches, "
                         f"got {tuple(permutation.shape)}.")
    grid = (height // patch_h, width // patch_w)
    return unpatchify(patches[:, permutation], (patch_h, patch_w), grid, channels=images.shape[1])  # (B, C, H, W)
