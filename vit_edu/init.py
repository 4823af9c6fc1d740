"""The one weight-initialisation scheme of vit_edu.

Following timm's ViT (and BERT before it):
- every Linear and the patch-projection Conv2d: truncated normal, std 0.02, cut at +-2 std;
  biases zero;
- LayerNorm: weight 1, bias 0;
- class token and position embeddings: truncated normal, std 0.02.

NOTE(deviation): the original JAX code uses Xavier-uniform for Linear layers, LeCun-normal for
the patch kernel and a zero head. Checkpoints overwrite all of this anyway; for training from
scratch on small data, the std-0.02 scheme is the common choice.

``seed`` makes the initialisation reproducible without touching torch's global RNG.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INIT_STD = 0.02


def _trunc_normal(tensor: torch.Tensor, generator: torch.Generator | None) -> None:
    """N(0, INIT_STD^2) truncated to +-2 std, by inverse-CDF sampling.

    A uniform draw between Phi(-2) and Phi(2), mapped through the inverse normal CDF
    (``erfinv``). One pass over the tensor; ``nn.init.trunc_normal_`` in torch 2.13 redraws by
    rejection and takes ~20x longer for the larger presets.
    """
    low, high = (math.erf(bound / math.sqrt(2)) for bound in (-2.0, 2.0))  # 2 Phi(b) - 1
    tensor.uniform_(low, high, generator=generator)
    tensor.erfinv_().mul_(INIT_STD * math.sqrt(2)).clamp_(-2 * INIT_STD, 2 * INIT_STD)


@torch.no_grad()
def init_weights(model: nn.Module, seed: int | None = None) -> nn.Module:
    """Initialise ``model`` in place (Linear, Conv2d, LayerNorm, ``cls_token``, ``pos_embed``).

    Args:
        model: any module built from vit_edu parts.
        seed: if given, a private ``torch.Generator`` seeded with it draws all weights, so the
            same seed gives the same model whatever else used the global RNG.

    Returns:
        ``model``, for chaining.
    """
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    for name, param in model.named_parameters():
        if name.split(".")[-1] in ("cls_token", "pos_embed"):
            _trunc_normal(param, generator)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            _trunc_normal(module.weight, generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model
