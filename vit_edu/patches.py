"""Cutting an image into patches and projecting each patch to D dimensions (paper Eq. 1, §3.1).

An image x of shape (C, H, W) becomes a sequence x_p of N = HW / P^2 flattened patches, each of
P^2 C values, read row by row (left to right, top to bottom). Inside a patch the values are in
(row, column, channel) order, the order of an H x W x C picture: ``(p1 p2 c)``.

The patch embedding E in Eq. 1 is one matrix of shape (P^2 C, D) applied to every patch. The
same map is a Conv2d with kernel size P and stride P; ``linear_weight_from_conv`` converts between
the two weight layouts, and the tests prove the two forms give equal outputs.

Shapes: images (B, C, H, W) -> patches (B, N, P^2 C) -> embeddings (B, N, D).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from vit_edu.checks import Size2d, check_choice, check_image_batch, to_2tuple
from vit_edu.config import PATCH_EMBEDDING_CHOICES


def patchify(images: torch.Tensor, patch_size: Size2d) -> torch.Tensor:
    """Cut images into flattened patches.

    Args:
        images: (B, C, H, W).
        patch_size: P, or (P_h, P_w).

    Returns:
        (B, N, P_h P_w C) with N = (H / P_h)(W / P_w), patches in row-major order.
    """
    ph, pw = to_2tuple(patch_size, "patch_size")
    check_image_batch(images, patch_size=(ph, pw), floating=False)
    return rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=ph, p2=pw)


def unpatchify(patches: torch.Tensor, patch_size: Size2d, grid_size: Size2d, channels: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify`: (B, N, P_h P_w C) -> (B, C, H, W).

    Args:
        patches: (B, N, P_h P_w C).
        patch_size: P, or (P_h, P_w).
        grid_size: (H / P_h, W / P_w), patches per column and per row; an int means square.
        channels: C.
    """
    ph, pw = to_2tuple(patch_size, "patch_size")
    gh, gw = to_2tuple(grid_size, "grid_size")
    if patches.ndim != 3 or patches.shape[1] != gh * gw or patches.shape[2] != ph * pw * channels:
        raise ValueError(
            f"patches must have shape (B, {gh * gw}, {ph * pw * channels}) for grid {gh}x{gw}, "
            f"patch {ph}x{pw} and {channels} channels; got {tuple(patches.shape)}."
        )
    return rearrange(patches, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=gh, w=gw, p1=ph, p2=pw, c=channels)


def linear_weight_from_conv(conv_weight: torch.Tensor) -> torch.Tensor:
    """Conv2d kernel (D, C, P_h, P_w) -> Linear weight (D, P_h P_w C) in ``patchify`` order."""
    return rearrange(conv_weight, "d c p1 p2 -> d (p1 p2 c)")


def conv_weight_from_linear(linear_weight: torch.Tensor, patch_size: Size2d, channels: int) -> torch.Tensor:
    """Linear weight (D, P_h P_w C) -> Conv2d kernel (D, C, P_h, P_w)."""
    ph, pw = to_2tuple(patch_size, "patch_size")
    return rearrange(linear_weight, "d (p1 p2 c) -> d c p1 p2", p1=ph, p2=pw, c=channels)


class PatchEmbedding(nn.Module):
    """x_p E + b for every patch: (B, C, H, W) -> (B, N, D).

    Args:
        patch_size: P, or (P_h, P_w).
        channels: C.
        dim: D.
        form: ``"conv"`` (a Conv2d with kernel = stride = P; fast, the layout of timm and the
            JAX checkpoints) or ``"linear"`` (``patchify`` then an ``nn.Linear``; Eq. 1 literally).
    """

    def __init__(self, patch_size: Size2d, channels: int, dim: int, form: str = "conv") -> None:
        super().__init__()
        self.patch_size = to_2tuple(patch_size, "patch_size")
        self.channels = channels
        self.dim = dim
        self.form = check_choice(form, "form (patch_embedding)", PATCH_EMBEDDING_CHOICES)
        if form == "conv":
            self.proj = nn.Conv2d(channels, dim, kernel_size=self.patch_size, stride=self.patch_size)
        else:
            self.proj = nn.Linear(self.patch_size[0] * self.patch_size[1] * channels, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.form == "linear":
            return self.proj(patchify(images, self.patch_size))  # (B, N, D)
        check_image_batch(images, patch_size=self.patch_size, floating=False)
        grid = self.proj(images)  # (B, D, H/P, W/P)
        return rearrange(grid, "b d h w -> b (h w) d")  # (B, N, D)

    @torch.no_grad()
    def fold_input_normalization(self, mean, std) -> PatchEmbedding:
        """Absorb x -> (x - mean) / std into E and b, in place, so raw images give the same tokens.

        A model trained on normalised images then takes the raw ones: the normalisation is affine
        and the projection linear, so (x - m) / s E + b = x (E / s) + (b - (m / s) E), per channel c.

        Args:
            mean, std: one number, or one per channel (length C); every std must be > 0.

        Returns:
            ``self``.
        """
        weight = self.proj.weight
        mean = torch.as_tensor(mean, dtype=weight.dtype).flatten()
        std = torch.as_tensor(std, dtype=weight.dtype).flatten()
        for name, value in (("mean", mean), ("std", std)):
            if value.numel() not in (1, self.channels):
                raise ValueError(f"{name} must be one number or {self.channels} (one per channel), "
                                 f"got {value.numel()}.")
        if not bool((std > 0).all()):
            raise ValueError(f"std must be > 0, got {std.tolist()}.")
        mean, std = mean.expand(self.channels), std.expand(self.channels)
        if self.form == "conv":  # weight (D, C, P_h, P_w)
            per_input = (1.0 / std).view(1, -1, 1, 1)
            shift = (weight * (mean / std).view(1, -1, 1, 1)).sum(dim=(1, 2, 3))  # (D,)
        else:  # weight (D, P_h P_w C), channels fastest (patchify's order)
            per_input = (1.0 / std).repeat(self.patch_size[0] * self.patch_size[1]).view(1, -1)
            shift = weight @ (mean / std).repeat(self.patch_size[0] * self.patch_size[1])  # (D,)
        self.proj.bias -= shift
        weight *= per_input
        return self

    def linear_weight(self) -> torch.Tensor:
        """The projection E as a (D, P^2 C) matrix, whichever form is stored."""
        if self.form == "linear":
            return self.proj.weight
        return linear_weight_from_conv(self.proj.weight)
