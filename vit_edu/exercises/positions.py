"""Checks for the class-token-and-positions lesson: prepend the class token, the cosine-similarity
grid of position embeddings, and resampling position embeddings to a new grid.

Each check compares with an independent reference and recognises typical mistakes (token
appended instead of prepended, unnormalised dot products, the class token interpolated, a 1-D
interpolation of the sequence, ...).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange

from vit_edu.exercises.feedback import Feedback, close, hint_on_crash, run_for_tensor


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """:func:`close`, looser: a right float32 answer computed another way than the reference differs in its last
    digits (normalise then multiply versus ``F.cosine_similarity``, another interpolation kernel)."""
    return close(a, b, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------- class token
def check_prepend_class_token(
    function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], seed: int = 0
) -> Feedback:
    """Check ``function(patch_tokens (B, N, D), cls_token (1, 1, D)) -> (B, N + 1, D)``, class token first."""
    generator = torch.Generator().manual_seed(seed)
    batch, num_patches, dim = 3, 4, 6
    patch_tokens = torch.randn(batch, num_patches, dim, generator=generator)  # (B, N, D)
    cls_token = torch.randn(1, 1, dim, generator=generator)  # (1, 1, D)
    cls = cls_token.expand(batch, 1, dim)  # (B, 1, D)
    expected = torch.cat([cls, patch_tokens], dim=1)  # (B, N + 1, D)
    result, problem = run_for_tensor(function, patch_tokens.clone(), cls_token.clone())
    if problem is not None:
        return hint_on_crash(problem, "the class token is (1, 1, D); repeat it for every image with "
                             "cls_token.expand(B, -1, -1) before torch.cat.", mentions=("size", "dimension"))
    details = {"expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
    if _close(result, expected):
        return Feedback(True, "the class token is prepended to every image's sequence: (B, N, D) -> (B, N + 1, D).",
                        details)
    if _close(result, torch.cat([patch_tokens, cls], dim=1)):
        return Feedback(False, "the class token is at the end; prepend it (index 0), as BERT's [CLS]: the model "
                        "reads its output at position 0 (Eq. 4).", details)
    if result.shape == (batch, num_patches, dim) and _close(result, patch_tokens + cls_token):
        return Feedback(False, "you added the class token to every patch; it is a separate token: concatenate it "
                        "along the sequence axis (dim=1).", details)
    if result.shape == (batch, num_patches, 2 * dim):
        return Feedback(False, "you concatenated along the feature axis; use dim=1, the sequence axis.", details)
    if result.shape == (1, num_patches + 1, dim) or result.shape[0] != batch:
        return Feedback(False, f"the batch size changed to {result.shape[0]}; every image of the batch needs its own "
                        "copy of the class token: cls_token.expand(B, -1, -1).", details)
    if result.shape != expected.shape:
        return Feedback(False, f"the result has shape {tuple(result.shape)}, expected (B, N + 1, D) = "
                        f"{tuple(expected.shape)}.", details)
    return Feedback(False, "the shape is right but the values are not: row 0 must be the class token and rows "
                    "1..N the patch tokens, unchanged.", details)


# ---------------------------------------------------------------- similarity grid
def check_cosine_similarity_grid(function: Callable[[torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(pos_embed (1, 1 + N, D)) -> (N, N)`` cosine similarities of the patches' embeddings."""
    generator = torch.Generator().manual_seed(seed)
    num_patches, dim = 6, 5
    pos_embed = torch.randn(1, 1 + num_patches, dim, generator=generator) + 0.5  # nonzero mean: catches centring
    patches = pos_embed[0, 1:]  # (N, D)
    expected = F.cosine_similarity(patches[:, None], patches[None], dim=-1)  # (N, N), reference
    result, problem = run_for_tensor(function, pos_embed.clone())
    if problem is not None:
        return problem
    details = {"expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
    if result.shape == (num_patches + 1, num_patches + 1):
        return Feedback(False, "the grid includes the class token (row 0 of pos_embed); use pos_embed[0, 1:], the "
                        "N patch embeddings.", details)
    if result.shape != expected.shape:
        return Feedback(False, f"the result has shape {tuple(result.shape)}, expected (N, N) = {tuple(expected.shape)} "
                        "for pos_embed of shape (1, 1 + N, D).", details)
    if _close(result, expected):
        return Feedback(True, "cosine similarity of every pair of patch position embeddings; the diagonal is 1.",
                        details)
    if _close(result, patches @ patches.T):
        return Feedback(False, "these are dot products; divide by both vectors' lengths (normalise each row to "
                        "length 1 first), so that the diagonal is 1.", details)
    by_tokens = F.normalize(patches, dim=0)  # normalised over the wrong axis
    if _close(result, by_tokens @ by_tokens.T):
        return Feedback(False, "you normalised each feature over the tokens (dim=0); normalise each token's "
                        "embedding over its D features (dim=-1).", details)
    centred = patches - patches.mean(dim=-1, keepdim=True)
    if _close(result, F.cosine_similarity(centred[:, None], centred[None], dim=-1)):
        return Feedback(False, "you subtracted the mean (a correlation); the cosine similarity uses the vectors as "
                        "they are.", details)
    return Feedback(False, "the shape is right but the values are not: cos(a, b) = a . b / (|a| |b|) for every pair "
                    "of patch embeddings.", details)


# -------------------------------------------------------------------- resampling
def _resample(pos_embed, old_grid, new_grid, mode, align_corners=False, keep_prefix=True):
    prefix, grid = pos_embed[:, :1], pos_embed[:, 1:]
    grid = rearrange(grid, "1 (h w) d -> 1 d h w", h=old_grid[0], w=old_grid[1])  # (1, D, h, w)
    kwargs = {} if mode == "nearest" else {"align_corners": align_corners}
    grid = F.interpolate(grid, size=new_grid, mode=mode, **kwargs)  # (1, D, H, W)
    grid = rearrange(grid, "1 d h w -> 1 (h w) d")  # (1, H W, D)
    return torch.cat([prefix, grid], dim=1) if keep_prefix else grid


def _resample_without_permute(pos_embed, old_grid, new_grid, mode):
    """The common bug: reshape (1, h w, D) straight to (1, D, h, w) and back without permuting."""
    dim = pos_embed.shape[-1]
    grid = pos_embed[:, 1:].reshape(1, dim, *old_grid)
    grid = F.interpolate(grid, size=new_grid, mode=mode, align_corners=False)
    return torch.cat([pos_embed[:, :1], grid.reshape(1, -1, dim)], dim=1)


def check_resample_positions(function: Callable[..., torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(pos_embed (1, 1 + h w, D), old_grid (h, w), new_grid (H, W)) -> (1, 1 + H W, D)``.

    The reference is 2-D interpolation of the patch embeddings on their grid (bicubic or bilinear,
    ``align_corners=False``), with the class token's embedding copied unchanged.
    """
    generator = torch.Generator().manual_seed(seed)
    old_grid, new_grid, dim = (3, 4), (6, 5), 4
    pos_embed = torch.randn(1, 1 + old_grid[0] * old_grid[1], dim, generator=generator, dtype=torch.float64)
    references = {mode: _resample(pos_embed, old_grid, new_grid, mode) for mode in ("bicubic", "bilinear")}
    result, problem = run_for_tensor(function, pos_embed.clone(), old_grid, new_grid)
    if problem is not None:
        return problem
    expected_shape = (1, 1 + new_grid[0] * new_grid[1], dim)
    details = {"expected_shape": expected_shape, "shape": tuple(result.shape)}
    for mode, reference in references.items():
        if _close(result, reference):
            return Feedback(True, f"2-D {mode} interpolation of the patch embeddings, class token kept.",
                            {**details, "mode": mode})
    if result.shape == (1, dim, *new_grid):
        return Feedback(False, "you returned the interpolated grid (1, D, H, W); flatten it back to a sequence "
                        "'1 d h w -> 1 (h w) d' and put the class token's row in front.", details)
    if result.shape == (1, new_grid[0] * new_grid[1], dim):
        return Feedback(False, "the class token's embedding is missing: the result needs 1 + H W rows; concatenate "
                        "pos_embed[:, :1] (unchanged) in front.", details)
    if result.shape != expected_shape:
        return Feedback(False, f"the result has shape {tuple(result.shape)}, expected {expected_shape} for a "
                        f"{new_grid[0]}x{new_grid[1]} grid plus the class token.", details)
    if not _close(result[:, :1], pos_embed[:, :1]):
        return Feedback(False, "the class token's embedding changed: it has no grid position, so copy row 0 as it "
                        "is and interpolate only rows 1.., the patches.", details)
    for mode in ("bicubic", "bilinear"):
        if _close(result, _resample(pos_embed, old_grid, new_grid, mode, align_corners=True)):
            return Feedback(False, "use align_corners=False: each embedding sits at the centre of its patch, as in "
                            "timm's and transformers' resampling, which the course follows (the paper's JAX code "
                            "keeps the corner embeddings at the corners instead).", details)
        if _close(result, _resample_without_permute(pos_embed, old_grid, new_grid, mode)):
            return Feedback(False, "the patch rows were reshaped straight to (1, D, h, w), which scrambles them: the "
                            "sequence is (1, h w, D), so reshape to (1, h, w, D) and then permute to (1, D, h, w) "
                            "(einops: '1 (h w) d -> 1 d h w'); undo it the same way afterwards.", details)
    if _close(result, _resample(pos_embed, old_grid, new_grid, "nearest")):
        return Feedback(False, "nearest-neighbour copies embeddings in blocks; the paper interpolates smoothly: use "
                        "mode='bicubic' (or 'bilinear').", details)
    sequence = rearrange(pos_embed[:, 1:], "1 n d -> 1 d n")  # (1, D, N)
    as_1d = F.interpolate(sequence, size=new_grid[0] * new_grid[1], mode="linear", align_corners=False)
    if _close(result[:, 1:], rearrange(as_1d, "1 d n -> 1 n d")):
        return Feedback(False, "you interpolated the flat sequence (1-D); reshape the patches to their (h, w) grid "
                        "first and interpolate in 2-D, then flatten again.", details)
    if any(_close(result, _resample(pos_embed, old_grid[::-1], new_grid, mode)) for mode in ("bicubic", "bilinear")):
        return Feedback(False, "the grid was reshaped as (w, h); the sequence is row by row: '1 (h w) d -> 1 d h w' "
                        "with h = old_grid[0] rows.", details)
    return Feedback(False, "the shape is right but the values are not: reshape rows 1.. to (1, D, h, w), "
                    "F.interpolate(..., size=new_grid, mode='bicubic', align_corners=False), flatten, and put the "
                    "class token's row first.", details)
