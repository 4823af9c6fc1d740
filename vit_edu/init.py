"""How vit_edu initialises weights: two schemes.

``"timm"`` (the default), following timm's ViT (and BERT before it):
- every Linear and the patch-projection Conv2d: truncated normal, std 0.02, cut at +-2 std;
  biases zero;
- LayerNorm: weight 1, bias 0;
- class token and learned position embeddings (every kind's tables): truncated normal, std 0.02.

``"jax"``, the paper's own code (google-research/vision_transformer, as timm's ``jax_impl``):
- Linear layers: Xavier-uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); the fused qkv
  matrix counts as three D x D matrices (the JAX code has separate query, key and value layers);
  biases zero;
- the patch projection: LeCun normal, truncated normal with std 1 / sqrt(P^2 C) (the std of the
  *truncated* distribution, as ``jax.nn.initializers.lecun_normal``);
- the head and the class token: zero; learned position embeddings (every kind's tables): normal,
  std 0.02; LayerNorm: 1 and 0.
Its weights are 4-8x larger than std 0.02, so a freshly built model's attention is less uniform
and its patch embedding does not drown in the position embeddings. For the course's shapes model
it is what lets training leave the chance plateau within an epoch (see vit_edu/training/recipes.py).

Checkpoints overwrite all of this anyway.

``seed`` makes the initialisation reproducible without touching torch's global RNG.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vit_edu.checks import check_choice
from vit_edu.config import WEIGHT_INIT_CHOICES
from vit_edu.embeddings import POSITION_PARAMETER_NAMES

INIT_STD = 0.02
_TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to +-2


def _trunc_normal(tensor: torch.Tensor, generator: torch.Generator | None, std: float = INIT_STD) -> None:
    """N(0, std^2) truncated to +-2 std, by inverse-CDF sampling.

    A uniform draw between Phi(-2) and Phi(2), mapped through the inverse normal CDF
    (``erfinv``). One pass over the tensor; ``nn.init.trunc_normal_`` in torch 2.13 redraws by
    rejection and takes ~20x longer for the larger presets.
    """
    low, high = (math.erf(bound / math.sqrt(2)) for bound in (-2.0, 2.0))  # 2 Phi(b) - 1
    tensor.uniform_(low, high, generator=generator)
    tensor.erfinv_().mul_(std * math.sqrt(2)).clamp_(-2 * std, 2 * std)


def _xavier_uniform(weight: torch.Tensor, generator: torch.Generator | None, parts: int = 1) -> None:
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)); ``parts`` stacked matrices count separately."""
    fan_out, fan_in = weight.shape[0] // parts, weight.shape[1]
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    weight.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def init_weights(model: nn.Module, seed: int | None = None, scheme: str = "timm") -> nn.Module:
    """Initialise ``model`` in place (Linear, Conv2d, LayerNorm, ``cls_token``, position tables).

    Args:
        model: any module built from vit_edu parts.
        seed: if given, a private ``torch.Generator`` seeded with it draws all weights, so the
            same seed gives the same model whatever else used the global RNG.
        scheme: ``"timm"`` or ``"jax"`` (see the module docstring).

    Returns:
        ``model``, for chaining.
    """
    check_choice(scheme, "scheme (weight_init)", WEIGHT_INIT_CHOICES)
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    if scheme == "jax":
        return _init_jax(model, generator)
    for name, param in model.named_parameters():
        if name.split(".")[-1] == "cls_token" or name.split(".")[-1] in POSITION_PARAMETER_NAMES:
            _trunc_normal(param, generator)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            _trunc_normal(module.weight, generator)
        _reset_bias_and_norm(module)
    return model


def _reset_bias_and_norm(module: nn.Module) -> None:
    """Both schemes: Linear and Conv2d biases 0; LayerNorm weight 1, bias 0."""
    if isinstance(module, (nn.Linear, nn.Conv2d)) and module.bias is not None:
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def _init_jax(model: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """The ``"jax"`` scheme (module docstring); the head is the module named ``head``."""
    for name, param in model.named_parameters():
        if name.split(".")[-1] in POSITION_PARAMETER_NAMES:
            param.normal_(0.0, INIT_STD, generator=generator)
        elif name.split(".")[-1] == "cls_token":
            nn.init.zeros_(param)
    head = getattr(model, "head", None)
    for name, module in model.named_modules():
        if module is head and isinstance(module, nn.Linear):
            nn.init.zeros_(module.weight)
        elif isinstance(module, nn.Linear) and not name.endswith("patch_embed.proj"):
            _xavier_uniform(module.weight, generator, parts=3 if name.split(".")[-1] == "qkv" else 1)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):  # the patch projection, either form
            fan_in = module.weight[0].numel()
            _trunc_normal(module.weight, generator, std=1.0 / math.sqrt(fan_in) / _TRUNCATED_STD)
        _reset_bias_and_norm(module)
    return model
