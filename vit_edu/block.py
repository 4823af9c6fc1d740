"""The pre-norm Transformer encoder block (paper Eq. 2-3, §3.1).

    z'_l = MSA(LN(z_{l-1})) + z_{l-1}      (Eq. 2)
    z_l  = MLP(LN(z'_l)) + z'_l            (Eq. 3)

LayerNorm comes *before* each sub-layer and the residual connection adds the sub-layer's output
to its un-normalised input ("pre-norm", as in the paper; the original Transformer normalised
after the residual).

Shapes: (B, T, D) -> (B, T, D).
"""

from __future__ import annotations

import torch
from torch import nn

from vit_edu.attention import MultiHeadSelfAttention
from vit_edu.mlp import MLP


class EncoderBlock(nn.Module):
    """One block: ``x = x + MSA(LN(x))``, then ``x = x + MLP(LN(x))``."""

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        layer_norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.attn = MultiHeadSelfAttention(dim, heads, head_dim, attention_dropout, dropout)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = MLP(dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, T, D) -> (B, T, D), plus A (B, heads, T, T) when ``return_attention``."""
        attended = self.attn(self.norm1(x), return_attention=return_attention)
        attended, weights = attended if return_attention else (attended, None)
        x = x + attended  # Eq. 2
        x = x + self.mlp(self.norm2(x))  # Eq. 3
        return (x, weights) if return_attention else x
