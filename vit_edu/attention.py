"""Multi-head self-attention (paper Appendix A, Eq. 5-8; Vaswani et al. 2017).

For a sequence z of T tokens of width D, each head h computes
    [q, k, v] = z U_qkv                                (Eq. 5)
    A = softmax(q k^T / sqrt(D_h))                     (Eq. 6), A in R^{T x T}
    SA(z) = A v                                        (Eq. 7)
and the heads are concatenated and projected back to D: MSA(z) = [SA_1; ...; SA_k] U_msa (Eq. 8).

Two paths compute the same thing:
- the manual path writes the equations out and can return A, shape (B, heads, T, T);
- the fused path calls ``torch.nn.functional.scaled_dot_product_attention`` (faster, less
  memory, but does not expose A).
The model uses the fused path unless the attention weights are asked for; the tests prove both
paths agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    dropout_p: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, written out: softmax(q k^T / sqrt(d)) v.

    Args:
        q, k, v: (..., T, d) queries, keys and values (any leading dimensions, e.g. (B, heads)).
        dropout_p: dropout on the attention weights (only when ``training``).
        training: whether dropout is active.

    Returns:
        ``(out, weights)``: out (..., T, d) and weights (..., T, T), each row summing to 1
        (before dropout). ``weights`` are the ones used for ``out``.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (q * scale) @ k.transpose(-2, -1)  # (..., T, T); scaling q touches T d values, not T^2
    weights = scores.softmax(dim=-1)  # (..., T, T), rows sum to 1
    used = F.dropout(weights, p=dropout_p, training=training) if dropout_p > 0 else weights
    return used @ v, weights  # (..., T, d), (..., T, T)


class MultiHeadSelfAttention(nn.Module):
    """MSA with one fused qkv projection (with bias, as the paper and timm) and an output projection.

    Args:
        dim: D, input and output width.
        heads: k.
        head_dim: D_h, the width of one head (D / k in the paper).
        attention_dropout: dropout on A.
        dropout: dropout after the output projection.

    Attributes:
        fused_attn: use ``scaled_dot_product_attention`` when weights are not requested.
    """

    def __init__(
        self, dim: int, heads: int, head_dim: int, attention_dropout: float = 0.0, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = head_dim
        self.attention_dropout = attention_dropout
        self.fused_attn = True
        inner = heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=True)  # U_qkv, all heads at once
        self.proj = nn.Linear(inner, dim)  # U_msa
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, T, D) -> (B, T, D), plus A (B, heads, T, T) when ``return_attention``."""
        qkv = self.qkv(x)  # (B, T, 3 k D_h)
        qkv = rearrange(qkv, "b t (three h d) -> three b h t d", three=3, h=self.heads)  # (3, B, k, T, D_h)
        drop = self.attention_dropout if self.training else 0.0
        weights = None
        if return_attention or not self.fused_attn:
            # one contiguous copy up front; strided views would be copied again by each matmul
            q, k, v = qkv.contiguous()  # each (B, k, T, D_h)
            out, weights = attention(q, k, v, dropout_p=drop, training=self.training)  # (B, k, T, D_h)
        else:
            q, k, v = qkv  # strided views; SDPA handles them without copies
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (B, k, T, D_h)
        out = rearrange(out, "b h t d -> b t (h d)")  # (B, T, k D_h)
        out = self.proj_drop(self.proj(out))  # (B, T, D)
        return (out, weights) if return_attention else out
