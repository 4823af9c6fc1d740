"""The [class] token and learned position embeddings (paper Eq. 1, §3.2, Appendix D.4).

z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos, with x_class in R^D learned (as BERT's [class]
token) and E_pos in R^{(N+1) x D} learned 1-D position embeddings.

Position embeddings are tied to the grid of patches they were trained on. To use a model at
another resolution, the paper "performs 2D interpolation of the pre-trained position
embeddings, according to their location in the original image" (§3.2):
:func:`resample_position_embeddings` does this, keeping the class token's embedding as it is.

Shapes: patch tokens (B, N, D) -> sequence (B, N + 1, D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vit_edu.checks import Size2d, to_2tuple


def add_class_token_and_positions(
    patch_tokens: torch.Tensor, cls_token: torch.Tensor, pos_embed: torch.Tensor
) -> torch.Tensor:
    """z_0 = [x_class; x_p E] + E_pos: (B, N, D) -> (B, N + 1, D).

    Args:
        patch_tokens: (B, N, D), the embedded patches.
        cls_token: (1, 1, D), x_class.
        pos_embed: (1, N + 1, D), E_pos; row 0 belongs to the class token.
    """
    batch = patch_tokens.shape[0]
    cls = cls_token.expand(batch, -1, -1)  # (B, 1, D)
    tokens = torch.cat([cls, patch_tokens], dim=1)  # (B, N + 1, D)
    return tokens + pos_embed  # (B, N + 1, D)


class ClassTokenAndPositions(nn.Module):
    """The learnable class token and position embeddings as a stand-alone module.

    ``ViT`` holds the same two parameters at its top level, named as in timm (``cls_token``
    (1, 1, D), ``pos_embed`` (1, N + 1, D)), so that timm checkpoints map one to one.
    """

    def __init__(self, num_patches: int, dim: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))  # x_class
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))  # E_pos

    def forward(self, patch_tokens: torch.Tensor) -> torch.Tensor:
        return add_class_token_and_positions(patch_tokens, self.cls_token, self.pos_embed)


def resample_position_embeddings(
    pos_embed: torch.Tensor,
    old_grid: Size2d,
    new_grid: Size2d,
    mode: str = "bicubic",
    num_prefix_tokens: int = 1,
) -> torch.Tensor:
    """2-D interpolation of position embeddings to a new patch grid (§3.2).

    Args:
        pos_embed: (1, prefix + h_old w_old, D), the class token's embedding first.
        old_grid: (h_old, w_old), the grid the embeddings were trained on.
        new_grid: (h_new, w_new), e.g. (24, 24) for a /16 model at 384 px.
        mode: ``"bicubic"`` (timm's default) or ``"bilinear"``.
        num_prefix_tokens: tokens before the patches (1: the class token), copied unchanged.

    Returns:
        (1, prefix + h_new w_new, D). A pure function: the input is not modified.
    """
    old_h, old_w = to_2tuple(old_grid, "old_grid")
    new_h, new_w = to_2tuple(new_grid, "new_grid")
    if mode not in ("bicubic", "bilinear"):
        raise ValueError(f"mode must be 'bicubic' or 'bilinear', got {mode!r}.")
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"pos_embed must have shape (1, tokens, D), got {tuple(pos_embed.shape)}.")
    if pos_embed.shape[1] != num_prefix_tokens + old_h * old_w:
        raise ValueError(
            f"pos_embed has {pos_embed.shape[1]} tokens but old_grid {old_h}x{old_w} with "
            f"{num_prefix_tokens} prefix token(s) needs {num_prefix_tokens + old_h * old_w}."
        )
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    if (old_h, old_w) == (new_h, new_w):
        return pos_embed.clone()
    grid = rearrange(grid, "1 (h w) d -> 1 d h w", h=old_h, w=old_w)  # (1, D, h_old, w_old)
    # align_corners=False treats each embedding as the centre of its patch, as timm and the paper.
    grid = F.interpolate(grid.float(), size=(new_h, new_w), mode=mode, align_corners=False)
    grid = rearrange(grid, "1 d h w -> 1 (h w) d").to(pos_embed.dtype)  # (1, h_new w_new, D)
    return torch.cat([prefix, grid], dim=1)
