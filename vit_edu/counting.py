"""Closed-form parameter counts and FLOPs of a ViT, per component (paper Table 1).

With D = dim, M = mlp_dim, L = depth, K = num_classes, P^2 C = patch_dim, N patches,
T = N + 1 tokens and I = heads * head_dim (= D in the paper):

    patch projection   P^2 C D + D              (E and its bias)
    class token        D
    positions          (N + 1) D                ("learned"; see below for the other kinds)
    per block:
      attention        D (3I) + 3I + I D + D    (= 4D^2 + 4D when I = D)
      MLP              D M + M + M D + D        (= 2DM + M + D)
      two LayerNorms   4D
    final LayerNorm    2D
    head               D K + K                  (0 when K = 0)

Positions by ``position_embedding`` (Appendix D.4), with the grid h x w = N: ``"learned"`` (N + 1) D;
``"learned_2d"`` D + (h + w) D/2 (the class token's vector and one D/2 vector per row and per
column); ``"sincos_2d"`` and ``"none"`` 0.

FLOPs count a multiply-add as 2 FLOPs and include only the matrix products (patch projection,
qkv, q k^T, A v, output projection, MLP, head); LayerNorm, softmax, GELU, the additions and the
class-token/position bookkeeping are left out (together well under 1% for the paper's models).
Per forward pass of one image:

    patch projection   2 N (P^2 C) D
    per block:
      qkv              2 T D (3I)
      q k^T and A v    2 * 2 T^2 I
      output proj      2 T I D
      MLP              2 * 2 T D M
    head               2 D K
"""

from __future__ import annotations

from collections import OrderedDict

from vit_edu.config import ViTConfig


def parameter_breakdown(config: ViTConfig) -> OrderedDict[str, int]:
    """Parameters per component, in forward order (per-block rows are totals over all L blocks)."""
    d, m, depth, k = config.dim, config.mlp_dim, config.depth, config.num_classes
    inner = config.inner_dim
    attention_per_block = d * 3 * inner + 3 * inner + inner * d + d
    mlp_per_block = d * m + m + m * d + d
    norms_per_block = 4 * d
    return OrderedDict(
        patch_projection=config.patch_dim * d + d,
        class_token=d,
        position_embeddings=position_parameters(config),
        attention=depth * attention_per_block,
        mlp=depth * mlp_per_block,
        block_norms=depth * norms_per_block,
        final_norm=2 * d,
        head=d * k + k if k > 0 else 0,
    )


def position_parameters(config: ViTConfig) -> int:
    """Learned parameters of E_pos for ``config.position_embedding`` (module docstring)."""
    d, (height, width) = config.dim, config.grid_size
    return {"learned": config.seq_len * d, "learned_2d": d + (height + width) * (d // 2)}.get(
        config.position_embedding, 0)


def count_parameters(config: ViTConfig) -> int:
    """Total parameters of ``ViT.from_config(config)``, from the formula alone."""
    return sum(parameter_breakdown(config).values())


def flops_breakdown(config: ViTConfig) -> OrderedDict[str, int]:
    """FLOPs (multiply-add = 2) per component for one image, in forward order."""
    d, m, depth, k = config.dim, config.mlp_dim, config.depth, config.num_classes
    n, t, inner = config.num_patches, config.seq_len, config.inner_dim
    return OrderedDict(
        patch_projection=2 * n * config.patch_dim * d,
        qkv=depth * 2 * t * d * 3 * inner,
        attention_scores_and_mix=depth * 2 * 2 * t * t * inner,
        attention_output=depth * 2 * t * inner * d,
        mlp=depth * 2 * 2 * t * d * m,
        head=2 * d * k,
    )


def count_flops(config: ViTConfig) -> int:
    """FLOPs of one forward pass for one image (matrix products only; see module docstring)."""
    return sum(flops_breakdown(config).values())
