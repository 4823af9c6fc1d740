"""The Vision Transformer (paper Eq. 1-4, Fig. 1).

    z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos          (Eq. 1)
    z'_l = MSA(LN(z_{l-1})) + z_{l-1},  l = 1..L            (Eq. 2)
    z_l  = MLP(LN(z'_l)) + z'_l,        l = 1..L            (Eq. 3)
    y = LN(z_L^0)                                           (Eq. 4)
and a single Linear head maps y to K class scores.

The structure is the paper's and timm's ``VisionTransformer`` (qkv with bias, no extra
LayerNorms around the patch projection, a final LayerNorm, one Linear head), with timm's
parameter names, so parameter counts and checkpoints match timm exactly.

The keyword API is vit-pytorch's::

    ViT(image_size=256, patch_size=32, num_classes=1000, dim=1024, depth=6, heads=16,
        mlp_dim=2048, dropout=0.1, emb_dropout=0.1)

Shapes: images (B, C, H, W) -> tokens (B, N + 1, D) -> pooled (B, D) -> logits (B, K).
"""

from __future__ import annotations

import torch
from torch import nn

from vit_edu.block import EncoderBlock
from vit_edu.config import Size2d, ViTConfig, to_2tuple
from vit_edu.embeddings import add_class_token_and_positions, resample_position_embeddings
from vit_edu.init import init_weights
from vit_edu.patches import PatchEmbedding


class ViT(nn.Module):
    """Vision Transformer with vit-pytorch's keyword arguments.

    Args:
        image_size: H = W, or (H, W).
        patch_size: P, or (P_h, P_w). N = HW / P^2 patches.
            NOTE: old vit-pytorch versions asserted N > 16; that was a library check, not a
            property of ViT. Any N >= 1 works here.
        num_classes: K; 0 returns the pooled features (B, D) instead of logits.
        dim: D. depth: L. heads: k. mlp_dim: M. channels: C.
        dim_head: width of one head. ``None`` (default) = ``dim // heads``, the paper's choice.
            NOTE(deviation): vit-pytorch defaults to ``dim_head=64``; the same for its README
            example (1024 / 16 = 64) but not, e.g., for dim=768, heads=8 (96 here, 64 there).
        dropout: after the attention projection and inside the MLP.
        emb_dropout: on z_0.
        attention_dropout: on the attention weights (vit-pytorch reuses ``dropout`` there).
        pool: ``"cls"`` (Eq. 4) or ``"mean"`` (average of the patch tokens, class token
            excluded; the class token stays in the sequence either way).
        layer_norm_eps: 1e-6 (original code, timm).
        patch_embedding: ``"conv"`` or ``"linear"``, two forms of the same map (see patches.py).
        seed: seed for the initial weights (see init.py); ``None`` uses torch's global RNG.
        weight_init: ``"timm"`` (std 0.02 everywhere; default) or ``"jax"`` (the paper's code:
            Xavier-uniform, LeCun-normal patch projection, zero head); see init.py.
    """

    def __init__(
        self,
        *,
        image_size: Size2d,
        patch_size: Size2d,
        num_classes: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_dim: int,
        channels: int = 3,
        dim_head: int | None = None,
        dropout: float = 0.0,
        emb_dropout: float = 0.0,
        attention_dropout: float = 0.0,
        pool: str = "cls",
        layer_norm_eps: float = 1e-6,
        patch_embedding: str = "conv",
        seed: int | None = None,
        weight_init: str = "timm",
    ) -> None:
        super().__init__()
        cfg = ViTConfig(
            image_size=image_size, patch_size=patch_size, num_classes=num_classes, dim=dim,
            depth=depth, heads=heads, mlp_dim=mlp_dim, channels=channels, dim_head=dim_head,
            dropout=dropout, emb_dropout=emb_dropout, attention_dropout=attention_dropout,
            pool=pool, layer_norm_eps=layer_norm_eps,
        )
        self.config = cfg
        self.patch_embed = PatchEmbedding(cfg.patch_size, cfg.channels, cfg.dim, form=patch_embedding)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))  # x_class
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.seq_len, cfg.dim))  # E_pos
        self.pos_drop = nn.Dropout(cfg.emb_dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(cfg.dim, cfg.heads, cfg.head_dim, cfg.mlp_dim, cfg.dropout,
                         cfg.attention_dropout, cfg.layer_norm_eps)
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)
        self.head = nn.Linear(cfg.dim, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        init_weights(self, seed=seed, scheme=weight_init)

    @classmethod
    def from_config(cls, config: ViTConfig, **kwargs) -> ViT:
        """Build a model from a :class:`ViTConfig` (``kwargs``: ``patch_embedding``, ``seed``, ``weight_init``)."""
        if not isinstance(config, ViTConfig):
            raise TypeError(f"config must be a ViTConfig, got {type(config).__name__}.")
        fields = {f: getattr(config, f) for f in config.__dataclass_fields__}
        return cls(**fields, **kwargs)

    # ------------------------------------------------------------------ checks
    def check_images(self, images: torch.Tensor) -> None:
        """Raise a clear error unless ``images`` is a float (B, C, H, W) batch this model takes."""
        cfg = self.config
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"images must be a torch.Tensor of shape (B, {cfg.channels}, H, W), got {type(images).__name__}."
            )
        if images.ndim != 4:
            hint = " For a single image use images.unsqueeze(0)." if images.ndim == 3 else ""
            raise ValueError(
                f"images must be 4-D (B, C, H, W), got shape {tuple(images.shape)}.{hint}"
            )
        if not torch.is_floating_point(images):
            raise TypeError(
                f"images must be floating point, got dtype {images.dtype}. Convert and normalise "
                "first, e.g. images.float() / 255 (then subtract the mean and divide by the std "
                "the model was trained with)."
            )
        if images.shape[1] != cfg.channels:
            raise ValueError(
                f"images have {images.shape[1]} channels but the model expects channels={cfg.channels}; "
                "convert the images (e.g. grey to RGB with images.expand(-1, 3, -1, -1)) or build the "
                f"model with channels={images.shape[1]}."
            )
        size = tuple(images.shape[-2:])
        if size != cfg.image_size:
            raise ValueError(
                f"images are {size[0]}x{size[1]} but the model was built for image_size "
                f"{cfg.image_size[0]}x{cfg.image_size[1]}: its position embeddings belong to a "
                f"{cfg.grid_size[0]}x{cfg.grid_size[1]} grid. Resize the images, or call "
                f"model.resample_position_embeddings({size}) to interpolate the embeddings to the new size."
            )

    # ----------------------------------------------------------------- forward
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Eq. 1: (B, C, H, W) -> z_0 (B, N + 1, D), after embedding dropout."""
        patches = self.patch_embed(images)  # (B, N, D)
        tokens = add_class_token_and_positions(patches, self.cls_token, self.pos_embed)  # (B, N + 1, D)
        return self.pos_drop(tokens)

    def forward_features(self, images: torch.Tensor, return_attention: bool = False):
        """Eq. 1-3 and the final LayerNorm: (B, C, H, W) -> (B, N + 1, D).

        With ``return_attention`` also returns a list of L tensors (B, heads, N + 1, N + 1).
        """
        self.check_images(images)
        x = self.embed(images)  # (B, T, D)
        attentions = []
        for block in self.blocks:
            if return_attention:
                x, weights = block(x, return_attention=True)  # (B, T, D), (B, k, T, T)
                attentions.append(weights)
            else:
                x = block(x)  # (B, T, D)
        x = self.norm(x)  # (B, T, D)
        return (x, attentions) if return_attention else x

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N + 1, D) -> (B, D): the class token (Eq. 4) or the mean of the patch tokens."""
        if self.config.pool == "mean":
            # NOTE(deviation): timm's 'avg' pooling normalises after pooling (fc_norm); we pool
            # the already-normalised tokens so that both pools share one final LayerNorm.
            return tokens[:, 1:].mean(dim=1)  # (B, D)
        return tokens[:, 0]  # (B, D)

    def forward_head(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, K) logits (identity when ``num_classes == 0``)."""
        return self.head(pooled)

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        """(B, C, H, W) -> logits (B, K), or pooled features (B, D) when ``num_classes == 0``.

        Args:
            images: float images of the configured size and channels.
            return_attention: also return the attention weights of every layer, a list of
                L tensors (B, heads, N + 1, N + 1) (index 0 = class token). They stay in the
                autograd graph, so gradient-based explanations can use them. This takes the
                manual attention path, which is a little slower than the fused one.

        Returns:
            ``logits`` or ``(logits, attentions)``.
        """
        if return_attention:
            tokens, attentions = self.forward_features(images, return_attention=True)
            return self.forward_head(self.pool(tokens)), attentions
        return self.forward_head(self.pool(self.forward_features(images)))

    # --------------------------------------------------------------- utilities
    def num_parameters(self, trainable_only: bool = False) -> int:
        """Counted parameters (compare with ``vit_edu.counting.count_parameters``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    @torch.no_grad()
    def resample_position_embeddings(self, image_size: Size2d, mode: str = "bicubic") -> ViT:
        """Adapt the model in place to a new image size by 2-D interpolation of E_pos (§3.2).

        The patch size stays; the grid becomes (H / P_h, W / P_w). Returns ``self``.
        """
        new_cfg = self.config.replace(image_size=to_2tuple(image_size, "image_size"))
        resampled = resample_position_embeddings(
            self.pos_embed.data, self.config.grid_size, new_cfg.grid_size, mode=mode
        )
        self.pos_embed = nn.Parameter(resampled, requires_grad=self.pos_embed.requires_grad)
        self.config = new_cfg
        return self
