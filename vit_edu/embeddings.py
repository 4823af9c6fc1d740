"""The [class] token and position embeddings (paper Eq. 1, §3.2, Appendix D.4).

z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos, with x_class in R^D learned (as BERT's [class]
token) and E_pos in R^{(N+1) x D} learned 1-D position embeddings.

The paper's ablation (Appendix D.4, Table 8) also trains ViTs with other kinds of E_pos; the
model's ``position_embedding`` option (config.py) picks one:

- ``"learned"`` (default): one learned (N + 1, D) table, ``pos_embed``; row i belongs to token i,
  and nothing tells the model that the patches lie on a grid.
- ``"learned_2d"``: the paper's 2-D variant, "two sets of embeddings are learned, each for one of
  the axes, X-embedding, and Y-embedding, each with size D/2", concatenated by the patch's
  coordinates: patch (r, c) gets [column table[c]; row table[r]]
  (:func:`learned_2d_position_embeddings`). The class token is on no axis; it gets its own learned
  D vector (``pos_embed_cls``), so that, like the 1-D table, every token has a learned position.
- ``"sincos_2d"``: fixed sine-cosine features of the column and the row
  (:func:`sincos_2d_position_embeddings`, as "Simple ViT", Beyer et al. 2022), no parameters; the
  class token gets zeros.
- ``"none"``: no E_pos; the encoder then sees the patches as a set.

Position embeddings are tied to the grid of patches they were trained on. To use a model at
another resolution, the paper "performs 2D interpolation of the pre-trained position
embeddings, according to their location in the original image" (§3.2):
:func:`resample_position_embeddings` does this, keeping the class token's embedding as it is.

Shapes: patch tokens (B, N, D) -> sequence (B, N + 1, D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from vit_edu.checks import Size2d, check_choice, check_int, to_2tuple

POSITION_PARAMETER_NAMES = ("pos_embed", "pos_embed_cls", "pos_embed_col", "pos_embed_row")
"""Names of the learned position parameters of each kind (initialised like E_pos, no weight decay)."""

RESAMPLE_MODES = ("bicubic", "bilinear")


def add_class_token_and_positions(
    patch_tokens: torch.Tensor, cls_token: torch.Tensor, pos_embed: torch.Tensor | None
) -> torch.Tensor:
    """z_0 = [x_class; x_p E] + E_pos: (B, N, D) -> (B, N + 1, D).

    Args:
        patch_tokens: (B, N, D), the embedded patches.
        cls_token: (1, 1, D), x_class.
        pos_embed: (1, N + 1, D), E_pos; row 0 belongs to the class token. ``None``: no positions.
    """
    batch = patch_tokens.shape[0]
    cls = cls_token.expand(batch, -1, -1)  # (B, 1, D)
    tokens = torch.cat([cls, patch_tokens], dim=1)  # (B, N + 1, D)
    if pos_embed is None:
        return tokens
    return tokens + pos_embed  # (B, N + 1, D)


def sincos_2d_position_embeddings(
    grid_size: Size2d, dim: int, temperature: float = 10_000.0,
    device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings of an (h, w) grid: (h w, D), patches in row-major order.

    Patch (r, c) gets [sin(c w_k), cos(c w_k), sin(r w_k), cos(r w_k)] for the D/4 frequencies
    w_k = temperature^(-k / (D/4 - 1)), k = 0..D/4-1 (from 1 down to 1/temperature), as big_vision's
    ``posemb_sincos_2d`` (Beyer et al. 2022, "Better plain ViT baselines"). MAE's version spaces the
    frequencies as temperature^(-k / (D/4)) and puts the two axes the other way round; either way
    the features of nearby patches are alike and no parameter is learned. With D = 4 the one
    frequency is 1.

    Args:
        grid_size: (h, w) patches per column and per row.
        dim: D, a multiple of 4.
        temperature: the longest wavelength, in patches, is 2 pi temperature.
    """
    height, width = to_2tuple(grid_size, "grid_size")
    check_int(dim, "dim")
    if dim % 4:
        raise ValueError(f"2-D sine-cosine position embeddings need dim divisible by 4 (sin and cos of x and of y), "
                         f"got dim={dim}; choose e.g. dim={(dim // 4 + 1) * 4}.")
    exponents = torch.linspace(0.0, 1.0, dim // 4, dtype=torch.float64)  # k / (D/4 - 1)
    omega = temperature ** -exponents  # (D/4,)
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                                indexing="ij")  # (h, w) each
    x = cols.flatten()[:, None] * omega[None, :]  # (h w, D/4)
    y = rows.flatten()[:, None] * omega[None, :]  # (h w, D/4)
    table = torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)  # (h w, D)
    return table.to(device=device, dtype=dtype)


def learned_2d_position_embeddings(
    cls_position: torch.Tensor, column_table: torch.Tensor, row_table: torch.Tensor
) -> torch.Tensor:
    """The paper's 2-D E_pos (Appendix D.4) as one (1, 1 + h w, D) table, patches in row-major order.

    Args:
        cls_position: (1, 1, D), the class token's position.
        column_table: (1, w, D/2), one vector per column index (the X-embedding).
        row_table: (1, h, D/2), one vector per row index (the Y-embedding).

    Returns:
        (1, 1 + h w, D): patch (r, c) gets [column_table[c]; row_table[r]].
    """
    height, width = row_table.shape[1], column_table.shape[1]
    columns = repeat(column_table, "1 w d -> 1 (h w) d", h=height)  # (1, h w, D/2)
    rows = repeat(row_table, "1 h d -> 1 (h w) d", w=width)  # (1, h w, D/2)
    return torch.cat([cls_position, torch.cat([columns, rows], dim=-1)], dim=1)  # (1, 1 + h w, D)


def resample_axis_embeddings(table: torch.Tensor, new_length: int, mode: str = "bicubic") -> torch.Tensor:
    """1-D interpolation of one axis' table (1, n, d) -> (1, n_new, d), with the kernel of ``mode``.

    For the 2-D kind this equals 2-D interpolation of the whole table (each half is constant
    along the other axis, and the interpolation weights along it sum to 1).
    """
    check_choice(mode, "mode", RESAMPLE_MODES)
    check_int(new_length, "new_length")
    if table.ndim != 3 or table.shape[0] != 1:
        raise ValueError(f"table must have shape (1, n, d), got {tuple(table.shape)}.")
    if table.shape[1] == new_length:
        return table.clone()
    column = rearrange(table, "1 n d -> 1 d n 1").float()  # (1, d, n, 1): an image one pixel wide
    column = F.interpolate(column, size=(new_length, 1), mode=mode, align_corners=False)  # (1, d, n_new, 1)
    return rearrange(column, "1 d n 1 -> 1 n d").to(table.dtype)  # (1, n_new, d)


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
        mode: ``"bicubic"`` (timm's and transformers' choice) or ``"bilinear"``.
        num_prefix_tokens: tokens before the patches (1: the class token), copied unchanged.

    Returns:
        (1, prefix + h_new w_new, D). A pure function: the input is not modified.
    """
    old_h, old_w = to_2tuple(old_grid, "old_grid")
    new_h, new_w = to_2tuple(new_grid, "new_grid")
    check_choice(mode, "mode", RESAMPLE_MODES)
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
    # align_corners=False treats each embedding as the centre of its patch, as timm and transformers do.
    # NOTE(deviation): the paper's code (vit_jax/checkpoint.py) uses scipy.ndimage.zoom(order=1): linear,
    # with the corner embeddings kept at the corners (align_corners=True).
    grid = F.interpolate(grid.float(), size=(new_h, new_w), mode=mode, align_corners=False)
    grid = rearrange(grid, "1 d h w -> 1 (h w) d").to(pos_embed.dtype)  # (1, h_new w_new, D)
    return torch.cat([prefix, grid], dim=1)
