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
from dataclasses import dataclass

Size2d = int | tuple[int, int]

POOL_CHOICES = ("cls", "mean")


def to_2tuple(value: Size2d, name: str) -> tuple[int, int]:
    """Return ``(h, w)`` for an int or a pair, raising a clear error for anything else."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a (height, width) tuple of ints, got {value!r}.")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a (height, width) tuple of ints, got {value!r}.")
    if pair[0] <= 0 or pair[1] <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}.")
    return pair


@dataclass(frozen=True)
class ViTConfig:
    """All hyper-parameters of a Vision Transformer.

    The keyword names follow vit-pytorch (``dim``, ``depth``, ``heads``, ``mlp_dim``) so that
    ``ViT(**vars(cfg))``-style code reads like the users' existing code.

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

    def __post_init__(self) -> None:
        image = to_2tuple(self.image_size, "image_size")
        patch = to_2tuple(self.patch_size, "patch_size")
        object.__setattr__(self, "image_size", image)
        object.__setattr__(self, "patch_size", patch)
        for axis, (img, p) in enumerate(zip(image, patch)):
            if img % p != 0:
                side = "height" if axis == 0 else "width"
                fixed = (img // p) * p
                raise ValueError(
                    f"image_size {side} {img} is not divisible by patch_size {p}: a ViT cuts the "
                    f"image into whole P x P patches. Use an image size that is a multiple of {p} "
                    f"(e.g. {fixed or p}) or another patch size."
                )
        for name in ("dim", "depth", "heads", "mlp_dim", "channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}.")
            if value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int):
            raise TypeError(f"num_classes must be an int, got {self.num_classes!r}.")
        if self.num_classes < 0:
            raise ValueError(
                f"num_classes must be >= 0 (0 = no head, return features), got {self.num_classes}."
            )
        if self.dim_head is None:
            if self.dim % self.heads != 0:
                raise ValueError(
                    f"dim ({self.dim}) is not divisible by heads ({self.heads}); each head gets "
                    f"dim // heads features. Choose heads that divide dim, or pass dim_head "
                    f"explicitly (e.g. dim_head=64)."
                )
        elif isinstance(self.dim_head, bool) or not isinstance(self.dim_head, int):
            raise TypeError(f"dim_head must be an int or None, got {self.dim_head!r}.")
        elif self.dim_head <= 0:
            raise ValueError(f"dim_head must be a positive integer or None, got {self.dim_head}.")
        for name in ("dropout", "emb_dropout", "attention_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"{name} must be a float in [0, 1), got {value!r}.")
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}; 0.1 is a common choice.")
        if self.pool not in POOL_CHOICES:
            raise ValueError(f"pool must be one of {POOL_CHOICES}, got {self.pool!r}.")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps}.")

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
_PRESET_SHAPES = {
    "Ti/16": dict(dim=192, depth=12, heads=3, mlp_dim=768, patch_size=16),
    "S/16": dict(dim=384, depth=12, heads=6, mlp_dim=1536, patch_size=16),
    "B/16": dict(dim=768, depth=12, heads=12, mlp_dim=3072, patch_size=16),
    "B/32": dict(dim=768, depth=12, heads=12, mlp_dim=3072, patch_size=32),
    "L/16": dict(dim=1024, depth=24, heads=16, mlp_dim=4096, patch_size=16),
    "H/14": dict(dim=1280, depth=32, heads=16, mlp_dim=5120, patch_size=14),
}

PRESET_NAMES = tuple(_PRESET_SHAPES)


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
    fields = dict(image_size=224, num_classes=1000, **_PRESET_SHAPES[matches[0]])
    fields.update(overrides)
    return ViTConfig(**fields)
