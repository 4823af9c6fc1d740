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

import dataclasses

import torch
from torch import nn

from vit_edu.block import EncoderBlock
from vit_edu.checks import Size2d, check_choice, check_image_batch, to_2tuple
from vit_edu.config import ViTConfig
from vit_edu.embeddings import (
    RESAMPLE_MODES,
    add_class_token_and_positions,
    learned_2d_position_embeddings,
    resample_axis_embeddings,
    resample_position_embeddings,
    sincos_2d_position_embeddings,
)
from vit_edu.init import init_weights
from vit_edu.patches import PatchEmbedding


class ViT(nn.Module):
    """Vision Transformer: ``ViT(config)`` or vit-pytorch's keywords, ``ViT(image_size=..., ...)``.

    Args:
        config: a :class:`ViTConfig`; its docstring describes every hyper-parameter
            (``image_size, patch_size, num_classes, dim, depth, heads, mlp_dim, channels, dim_head,
            dropout, emb_dropout, attention_dropout, pool, layer_norm_eps, patch_embedding,
            weight_init, position_embedding``). Without a config, the keywords build one; with a
            config, keywords change those fields (``ViT(preset("S/16"), num_classes=10)``).
        seed: seed for the initial weights (see init.py); ``None`` uses torch's global RNG.

    NOTE(deviation): vit-pytorch defaults to ``dim_head=64``; here ``None`` means ``dim // heads``,
    the paper's choice (the same for its README example, 1024 / 16 = 64, but not for dim=768,
    heads=8). Old vit-pytorch versions asserted N > 16; that was a library check, not a property
    of ViT: any N >= 1 works here.
    """

    def __init__(self, config: ViTConfig | None = None, *, seed: int | None = None, **fields) -> None:
        super().__init__()
        cfg = _build_config(config, fields)
        self.config = cfg
        self.patch_embed = PatchEmbedding(cfg.patch_size, cfg.channels, cfg.dim, form=cfg.patch_embedding)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))  # x_class
        if cfg.position_embedding == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, cfg.seq_len, cfg.dim))  # E_pos
        elif cfg.position_embedding == "learned_2d":  # the paper's 2-D variant (Appendix D.4)
            height, width = cfg.grid_size
            self.pos_embed_cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))  # the class token's position
            self.pos_embed_col = nn.Parameter(torch.zeros(1, width, cfg.dim // 2))  # X-embedding
            self.pos_embed_row = nn.Parameter(torch.zeros(1, height, cfg.dim // 2))  # Y-embedding
        # "sincos_2d" is computed from the grid in position_embeddings(); "none" has no E_pos
        self.pos_drop = nn.Dropout(cfg.emb_dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(cfg.dim, cfg.heads, cfg.head_dim, cfg.mlp_dim, cfg.dropout,
                         cfg.attention_dropout, cfg.layer_norm_eps)
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)
        self.head = nn.Linear(cfg.dim, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        init_weights(self, seed=seed, scheme=cfg.weight_init)

    @classmethod
    def from_config(cls, config: ViTConfig, **kwargs) -> ViT:
        """``ViT(config, **kwargs)``, for code that prefers a named constructor."""
        return cls(config, **kwargs)

    def check_images(self, images: torch.Tensor) -> None:
        """Raise a clear error unless ``images`` is a (B, C, H, W) batch this model takes, in its weights' dtype."""
        weight = next(self.patch_embed.parameters(), None)  # the first layer the images meet
        check_image_batch(images, self.config.channels, self.config.image_size,
                          dtype=None if weight is None else weight.dtype)

    def __getattr__(self, name: str):
        # Code written for the default model reads model.pos_embed; for the other kinds it gets this message
        # instead of torch's bare "has no attribute".
        try:
            return super().__getattr__(name)
        except AttributeError:
            kind = getattr(self.__dict__.get("config"), "position_embedding", "learned")
            if name != "pos_embed" or kind == "learned":
                raise
            raise AttributeError(
                f"this ViT has position_embedding={kind!r}, so it has no learned (1, N + 1, D) table pos_embed. "
                "Use model.position_embeddings() for its E_pos (None for 'none'), or build the model with "
                "position_embedding='learned'."
            ) from None

    # ----------------------------------------------------------------- forward
    def position_embeddings(self) -> torch.Tensor | None:
        """E_pos as one (1, N + 1, D) tensor (row 0: the class token) for every kind; ``None`` for ``"none"``.

        ``"learned"``: the parameter ``pos_embed`` itself; ``"learned_2d"``: the column and row
        tables concatenated per patch; ``"sincos_2d"``: the fixed table, zeros for the class token.
        """
        kind = self.config.position_embedding
        if kind == "learned":
            return self.pos_embed  # (1, N + 1, D)
        if kind == "learned_2d":
            return learned_2d_position_embeddings(self.pos_embed_cls, self.pos_embed_col,
                                                  self.pos_embed_row)  # (1, N + 1, D)
        if kind == "sincos_2d":
            like = self.cls_token
            table = sincos_2d_position_embeddings(self.config.grid_size, self.config.dim, device=like.device,
                                                  dtype=like.dtype)  # (N, D)
            return torch.cat([torch.zeros_like(table[:1]), table])[None]  # (1, N + 1, D)
        return None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Eq. 1: (B, C, H, W) -> z_0 (B, N + 1, D), after embedding dropout."""
        patches = self.patch_embed(images)  # (B, N, D)
        tokens = add_class_token_and_positions(patches, self.cls_token, self.position_embeddings())  # (B, N + 1, D)
        return self.pos_drop(tokens)

    def forward_features(self, images: torch.Tensor, return_attention: bool = False):
        """Eq. 1-3 and the final LayerNorm: (B, C, H, W) -> (B, N + 1, D).

        With ``return_attention`` also returns a list of L tensors (B, heads, N + 1, N + 1).
        """
        tokens, attentions = self._encode(images, return_attention)
        return (tokens, attentions) if return_attention else tokens

    def _encode(self, images: torch.Tensor, return_attention: bool):
        """The one path through the encoder: tokens (B, T, D) and the L attention maps (or None)."""
        self.check_images(images)
        x = self.embed(images)  # (B, T, D)
        attentions = []
        for block in self.blocks:  # through __call__, so that forward hooks see every block
            out = block(x, return_attention=return_attention)
            x, weights = out if return_attention else (out, None)  # (B, T, D), (B, k, T, T)
            attentions.append(weights)
        x = self.norm(x)  # (B, T, D)
        return x, (attentions if return_attention else None)

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
        tokens, attentions = self._encode(images, return_attention)
        logits = self.forward_head(self.pool(tokens))
        return (logits, attentions) if return_attention else logits

    # --------------------------------------------------------------- utilities
    def num_parameters(self, trainable_only: bool = False) -> int:
        """Counted parameters (compare with ``vit_edu.counting.count_parameters``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    @torch.no_grad()
    def resample_position_embeddings(self, image_size: Size2d, mode: str = "bicubic") -> ViT:
        """Adapt the model in place to a new image size by 2-D interpolation of E_pos (§3.2).

        The patch size stays; the grid becomes (H / P_h, W / P_w). Per ``position_embedding``:
        ``"learned"`` interpolates the table in 2-D; ``"learned_2d"`` interpolates the column and
        row tables, each along its axis (the same as 2-D interpolation of the concatenated
        table); ``"sincos_2d"`` computes the fixed table for the new grid; ``"none"`` has nothing
        to adapt. Returns ``self``.
        """
        check_choice(mode, "mode", RESAMPLE_MODES)
        new_cfg = self.config.replace(image_size=to_2tuple(image_size, "image_size"))
        kind = self.config.position_embedding
        if kind == "learned":
            resampled = resample_position_embeddings(
                self.pos_embed.data, self.config.grid_size, new_cfg.grid_size, mode=mode
            )
            self.pos_embed = nn.Parameter(resampled, requires_grad=self.pos_embed.requires_grad)
        elif kind == "learned_2d":
            height, width = new_cfg.grid_size
            for name, length in (("pos_embed_col", width), ("pos_embed_row", height)):
                old = getattr(self, name)
                setattr(self, name, nn.Parameter(resample_axis_embeddings(old.data, length, mode),
                                                 requires_grad=old.requires_grad))
        self.config = new_cfg
        return self


def _build_config(config: ViTConfig | None, fields: dict) -> ViTConfig:
    """The model's config from a ViTConfig and/or keyword fields, with a clear error for unknown names."""
    valid = [f.name for f in dataclasses.fields(ViTConfig)]
    unknown = sorted(set(fields) - set(valid))
    if unknown:
        raise TypeError(f"ViT got unknown argument(s) {unknown}; valid ones are seed and the ViTConfig fields: "
                        f"{', '.join(valid)}.")
    if config is None:
        if not fields:
            raise TypeError("ViT needs a ViTConfig or keyword arguments, e.g. ViT(preset('S/16')) or "
                            "ViT(image_size=32, patch_size=4, num_classes=10, dim=64, depth=4, heads=4, mlp_dim=128).")
        return ViTConfig(**fields)
    if not isinstance(config, ViTConfig):
        raise TypeError(f"config must be a ViTConfig (or pass keyword arguments), got {type(config).__name__}.")
    return config.replace(**fields) if fields else config
