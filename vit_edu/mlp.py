"""The MLP of each encoder block (paper Eq. 3, §3.1): two layers with a GELU between.

MLP(z) = GELU(z W_1 + b_1) W_2 + b_2, with W_1 in R^{D x M}, W_2 in R^{M x D}.
GELU is the exact (erf) form, as timm and transformers use it.
NOTE(deviation): the original JAX code calls flax's ``nn.gelu``, whose default is the tanh
approximation; the two differ by < 1e-3 per activation (the encoder lesson measures it).

Shapes: (B, T, D) -> (B, T, M) -> (B, T, D).
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """fc1 (D -> M), GELU, dropout, fc2 (M -> D), dropout."""

    def __init__(self, dim: int, mlp_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.act = nn.GELU()  # exact GELU: x * Phi(x)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(mlp_dim, dim)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.drop1(self.act(self.fc1(x)))  # (B, T, M)
        return self.drop2(self.fc2(hidden))  # (B, T, D)
