"""ViT hyper-parameters: one frozen dataclass, the paper's presets, and validation.

Paper: Dosovitskiy et al. (2020), Table 1 (Base, Large, Huge). Ti and S are the smaller
models of DeiT (Touvron et al., 2021) with the names timm uses.

Symbols used across the package (the paper's):
    H, W  image height/width        P   patch size        C  channels
    N     number of patches = HW/P^2                       D  embedding width (``dim``)
    L     depth (encoder blocks)    k   heads              M  MLP hidden size (``mlp_dim``)
    K     number of classes         T   sequence length = N + 1 (with the class token)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from vit_edu.checks import Size2d, check_choice, check_divisible, check_int, check_probability, to_2tuple

POOL_CHOICES = ("cls", "mean")
PATCH_EMBEDDING_CHOICES = ("conv", "linear")
WEIGHT_INIT_CHOICES = ("timm", "jax")
POSITION_EMBEDDING_CHOICES = ("learned", "learned_2d", "sincos_2d", "none")

__all__ = ["PATCH_EMBEDDING_CHOICES", "POOL_CHOICES", "POSITION_EMBEDDING_CHOICES", "PRESETS", "PRESET_NAMES",
           "WEIGHT_INIT_CHOICES", "Size2d", "ViTConfig", "preset", "preset_for_shape", "to_2tuple"]


@dataclass(frozen=True)
class ViTConfig:
    """All hyper-parameters of a Vision Transformer.

    The one list of the model's hyper-parameters: ``ViT``, the parameter counts and checkpoint
    loading all read it. The keyword names follow vit-pytorch (``dim``, ``depth``, ``heads``,
    ``mlp_dim``), so ``ViT(image_size=256, patch_size=32, ...)`` reads like the users' existing code.

    Attributes:
        image_size: (H, W) in pixels; an int means a square image.
        patch_size: (P_h, P_w); an int means square patches (P in the paper).
        num_classes: K; 0 means no head (the model returns pooled features).
        dim: D, the width of every token.
        depth: L, the number of encoder blocks.
        heads: k, attention heads per block.
        mlp_dim: M, hidden width of the MLP (4 D in all paper models).
        channels: C, image channels.
        dim_head: width of one head; ``None`` means ``dim // heads`` (the paper's choice).
            NOTE(deviation): vit-pytorch defaults to 64, which differs for e.g. dim=768, heads=8.
        dropout: dropout after the attention projection and inside the MLP.
        emb_dropout: dropout on the embedded sequence (after adding positions).
        attention_dropout: dropout on the attention weights (0 in the paper and timm;
            vit-pytorch reuses ``dropout`` here).
        pool: ``"cls"`` uses the class token's output (Eq. 4); ``"mean"`` averages the patch
            tokens (class token excluded, as timm's ``global_pool='avg'``).
        layer_norm_eps: 1e-6 as in the original JAX code and timm (Hugging Face uses 1e-12).
        patch_embedding: ``"conv"`` or ``"linear"``, two forms of the same map E (see patches.py).
        weight_init: ``"timm"`` (std 0.02 everywhere) or ``"jax"`` (the paper's code: Xavier-uniform,
            LeCun-normal patch projection, zero head); see init.py.
        position_embedding: what E_pos is (embeddings.py; the paper's ablation, Appendix D.4, Table 8):
            ``"learned"``: one learned (N + 1, D) table, the paper's default (1-D: row i for token i);
            ``"learned_2d"``: the paper's 2-D variant, a learned column table (w, D/2) and row table
            (h, D/2), concatenated per patch, plus a learned D vector for the class token (D even);
            ``"sincos_2d"``: fixed 2-D sine-cosine features of the patch's column and row, no
            parameters, as in "Simple ViT" (Beyer et al., 2022) and MAE; the class token gets 0 (D a
            multiple of 4); ``"none"``: no positions at all, so the patches are a set.
    """

    image_size: tuple[int, int] = (224, 224)
    patch_size: tuple[int, int] = (16, 16)
    num_classes: int = 1000
    dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_dim: int = 3072
    channels: int = 3
    dim_head: int | None = None
    dropout: float = 0.0
    emb_dropout: float = 0.0
    attention_dropout: float = 0.0
    pool: str = "cls"
    layer_norm_eps: float = 1e-6
    patch_embedding: str = "conv"
    weight_init: str = "timm"
    position_embedding: str = "learned"

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", to_2tuple(self.image_size, "image_size"))
        object.__setattr__(self, "patch_size", to_2tuple(self.patch_size, "patch_size"))
        check_divisible(self.image_size, self.patch_size, "image_size")
        for name in ("dim", "depth", "heads", "mlp_dim", "channels"):
            check_int(getattr(self, name), name)
        check_int(self.num_classes, "num_classes", minimum=0, hint=" (0 = no head, return features)")
        if self.dim_head is not None:
            check_int(self.dim_head, "dim_head", hint=" or None")
        elif self.dim % self.heads != 0:
            raise ValueError(
                f"dim ({self.dim}) is not divisible by heads ({self.heads}); each head gets "
                f"dim // heads features. Choose heads that divide dim, or pass dim_head "
                f"explicitly (e.g. dim_head=64)."
            )
        for name in ("dropout", "emb_dropout", "attention_dropout"):
            check_probability(getattr(self, name), name)
        check_choice(self.pool, "pool", POOL_CHOICES)
        check_choice(self.patch_embedding, "patch_embedding", PATCH_EMBEDDING_CHOICES)
        check_choice(self.weight_init, "weight_init", WEIGHT_INIT_CHOICES)
        check_choice(self.position_embedding, "position_embedding", POSITION_EMBEDDING_CHOICES)
        parts = {"learned_2d": (2, "a column half and a row half"), "sincos_2d": (4, "sin and cos of x and of y")}
        if self.position_embedding in parts and self.dim % parts[self.position_embedding][0]:
            split, what = parts[self.position_embedding]
            fixed = (self.dim // split + 1) * split
            raise ValueError(
                f"position_embedding={self.position_embedding!r} splits each position vector into {split} equal "
                f"parts ({what}), so dim must be a multiple of {split}, got dim={self.dim}. Choose e.g. "
                f"dim={fixed}, or position_embedding='learned'."
            )
        if isinstance(self.layer_norm_eps, bool) or not isinstance(self.layer_norm_eps, (int, float)):
            raise TypeError(f"layer_norm_eps must be a small positive float, got {self.layer_norm_eps!r}.")
        # An infinite eps divides every token by infinity (all logits equal); NaN fails no plain comparison.
        if not (math.isfinite(self.layer_norm_eps) and self.layer_norm_eps > 0):
            raise ValueError(f"layer_norm_eps must be a finite positive float such as 1e-6 (JAX, timm) or 1e-12 "
                             f"(Hugging Face), got {self.layer_norm_eps}.")

    @property
    def grid_size(self) -> tuple[int, int]:
        """Patches per column and per row: (H / P_h, W / P_w)."""
        return (self.image_size[0] // self.patch_size[0], self.image_size[1] // self.patch_size[1])

    @property
    def num_patches(self) -> int:
        """N = HW / P^2."""
        return self.grid_size[0] * self.grid_size[1]

    @property
    def seq_len(self) -> int:
        """T = N + 1 tokens: the class token and the patches."""
        return self.num_patches + 1

    @property
    def patch_dim(self) -> int:
        """P^2 C: the length of one flattened patch."""
        return self.patch_size[0] * self.patch_size[1] * self.channels

    @property
    def head_dim(self) -> int:
        """Width of one attention head (D / k unless ``dim_head`` is set)."""
        return self.dim_head if self.dim_head is not None else self.dim // self.heads

    @property
    def inner_dim(self) -> int:
        """Width of the concatenated heads, k * head_dim (= D in the paper)."""
        return self.heads * self.head_dim

    def replace(self, **changes) -> ViTConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


# Table 1 of the paper (B, L, H) and DeiT (Ti, S); 224 px, 1000 classes.
PRESETS: dict[str, dict[str, int]] = {
    "Ti/16": dict(dim=192, depth=12, heads=3, mlp_dim=768, patch_size=16),
    "S/16": dict(dim=384, depth=12, heads=6, mlp_dim=1536, patch_size=16),
    "B/16": dict(dim=768, depth=12, heads=12, mlp_dim=3072, patch_size=16),
    "B/32": dict(dim=768, depth=12, heads=12, mlp_dim=3072, patch_size=32),
    "L/16": dict(dim=1024, depth=24, heads=16, mlp_dim=4096, patch_size=16),
    "H/14": dict(dim=1280, depth=32, heads=16, mlp_dim=5120, patch_size=14),
}

PRESET_NAMES = tuple(PRESETS)


def preset(name: str, **overrides) -> ViTConfig:
    """The config of a named model, e.g. ``preset("B/16")`` or ``preset("S/16", num_classes=10)``.

    Accepts ``"ViT-B/16"`` and ``"vit_b_16"``-style spellings as well.
    """
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a string such as 'B/16', got {name!r}.")
    key = name.strip()
    for prefix in ("ViT-", "vit-", "vit_", "ViT_"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    key = key.replace("_", "/")
    matches = [p for p in PRESET_NAMES if p.lower() == key.lower()]
    if not matches:
        raise ValueError(f"unknown preset {name!r}; valid presets are: {', '.join(PRESET_NAMES)}.")
    fields = dict(image_size=224, num_classes=1000, **PRESETS[matches[0]])
    fields.update(overrides)
    return ViTConfig(**fields)


def preset_for_shape(dim: int, depth: int, mlp_dim: int) -> str | None:
    """The name of the preset with this width, depth and MLP size, or ``None``."""
    for name, shape in PRESETS.items():
        if (shape["dim"], shape["depth"], shape["mlp_dim"]) == (dim, depth, mlp_dim):
            return name
    return None
