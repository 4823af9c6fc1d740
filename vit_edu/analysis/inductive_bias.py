"""Inductive bias, measured: translation equivariance, permutations, receptive fields (paper §3.1).

Definitions (T is a shift of the image by (dy, dx) pixels, f a layer or network):

- translation **equivariance** (平移等变性): f(T x) = T' f(x), the output shifts along with the
  input (T' is the same shift on the output grid, e.g. (dy / s, dx / s) for total stride s);
- translation **invariance** (平移不变性): f(T x) = f(x), the output does not change at all.

A stride-1 convolution stack is equivariant; global average pooling on top makes it invariant.
ViT's patch embedding is equivariant only for shifts that are multiples of the patch size P
(the patch grid has stride P), and adding position embeddings E_pos breaks even that. Without
E_pos the encoder is *permutation* equivariant: shuffling the patches shuffles the output tokens
the same way and leaves the class token unchanged.

Shifts are circular (``torch.roll``): what leaves one edge re-enters at the other, so every
pixel has a partner and no border effects are needed except from zero padding (use ``crop``).
Errors are relative: ||f(T x) - T' f(x)|| / ||f(x)|| (Frobenius norms over the whole batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from einops import rearrange
from torch import nn

from vit_edu.analysis.positions import shuffle_patches
from vit_edu.checks import Size2d, to_2tuple

FeatureFn = Callable[[torch.Tensor], torch.Tensor]


def _as_shift(shift: int | tuple[int, int]) -> tuple[int, int]:
    """An int means a horizontal shift (0, dx); a pair is (dy, dx) in pixels."""
    if isinstance(shift, bool):
        raise TypeError(f"shift must be an int (pixels to the right) or a (dy, dx) pair of ints, got {shift!r}.")
    if isinstance(shift, int):
        return (0, shift)
    if isinstance(shift, (tuple, list)) and len(shift) == 2 and all(isinstance(v, int) for v in shift):
        return (int(shift[0]), int(shift[1]))
    raise TypeError(f"shift must be an int (pixels to the right) or a (dy, dx) pair of ints, got {shift!r}.")


def shift_images(images: torch.Tensor, shift: int | tuple[int, int]) -> torch.Tensor:
    """T x: circular shift of (..., H, W) maps by ``shift`` = dx or (dy, dx) (down/right positive)."""
    dy, dx = _as_shift(shift)
    return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))


def _crop(maps: torch.Tensor, crop: int) -> torch.Tensor:
    return maps[..., crop:maps.shape[-2] - crop, crop:maps.shape[-1] - crop] if crop else maps


def relative_error(result: torch.Tensor, reference: torch.Tensor) -> float:
    """||result - reference|| / ||reference|| in float64 (0 if both are zero)."""
    if result.shape != reference.shape:
        raise ValueError(f"shapes differ: {tuple(result.shape)} vs {tuple(reference.shape)}.")
    diff = (result.double() - reference.double()).norm().item()
    norm = reference.double().norm().item()
    return diff / norm if norm > 0 else diff


@torch.no_grad()
def equivariance_error(
    feature_fn: FeatureFn,
    images: torch.Tensor,
    shift: int | tuple[int, int],
    output_shift: int | tuple[int, int] | None = None,
    crop: int = 0,
) -> float:
    """Relative error of f(T x) = T' f(x) for maps f: (B, C, H, W) -> (B, C', H', W').

    Args:
        feature_fn: the map f, e.g. ``cnn.features`` (put modules in eval mode first).
        images: x, (B, C, H, W).
        shift: T in input pixels, dx or (dy, dx).
        output_shift: T' in output cells; default the same as ``shift`` (stride-1 maps).
        crop: cells to ignore at each border of the output (zero padding makes the border of a
            shifted image differ; L(k-1)/2 + |shift| is always enough for a stride-1 stack).
    """
    output_shift = shift if output_shift is None else output_shift
    shifted_then_f = feature_fn(shift_images(images, shift))  # (B, C', H', W')
    f_then_shifted = shift_images(feature_fn(images), output_shift)  # (B, C', H', W')
    return relative_error(_crop(shifted_then_f, crop), _crop(f_then_shifted, crop))


@torch.no_grad()
def invariance_error(function: FeatureFn, images: torch.Tensor, shift: int | tuple[int, int]) -> float:
    """Relative error of f(T x) = f(x), e.g. for logits or pooled features."""
    return relative_error(function(shift_images(images, shift)), function(images))


def vit_tokens(
    model: nn.Module, images: torch.Tensor, positions: bool = True, depth: int | None = None
) -> torch.Tensor:
    """z_l of a ``vit_edu.ViT``: (B, C, H, W) -> (B, N + 1, D) after ``depth`` blocks (0 = z_0 of Eq. 1).

    ``positions=False`` leaves out E_pos (as if it were zero); ``depth=None`` runs all L blocks
    and the final LayerNorm.
    """
    model.check_images(images)
    patches = model.patch_embed(images)  # (B, N, D)
    tokens = torch.cat([model.cls_token.expand(len(images), -1, -1), patches], dim=1)  # (B, N + 1, D)
    if positions:
        tokens = tokens + model.pos_embed  # (B, N + 1, D)
    blocks = model.blocks if depth is None else model.blocks[:depth]
    for block in blocks:
        tokens = block(tokens)  # (B, N + 1, D)
    return model.norm(tokens) if depth is None else tokens


def token_grid(tokens: torch.Tensor, grid_size: Size2d) -> torch.Tensor:
    """Patch tokens as a feature map: (B, N + 1, D) -> (B, D, H / P, W / P) (class token dropped)."""
    grid_h, grid_w = to_2tuple(grid_size, "grid_size")
    return rearrange(tokens[:, 1:], "b (h w) d -> b d h w", h=grid_h, w=grid_w)  # (B, D, H/P, W/P)


@torch.no_grad()
def vit_shift_error(
    model: nn.Module, images: torch.Tensor, shift: int | tuple[int, int], positions: bool = True,
    depth: int | None = 0,
) -> float:
    """Equivariance error of ViT patch tokens under a pixel shift, with the best whole-patch shift T'.

    A shift by s pixels can only be matched by whole patches, t = floor(s / P) or ceil(s / P) on
    each axis; the smallest error over these candidates is returned. It is ~0 exactly when s is a
    multiple of P and E_pos is left out. ``depth=0`` measures z_0 (the patch embedding), ``None``
    the encoder's output.
    """
    dy, dx = _as_shift(shift)
    (ph, pw), grid = model.config.patch_size, model.config.grid_size

    def tokens_of(x: torch.Tensor) -> torch.Tensor:
        return token_grid(vit_tokens(model, x, positions=positions, depth=depth), grid)

    best = math.inf
    for ty in {math.floor(dy / ph), math.ceil(dy / ph)}:
        for tx in {math.floor(dx / pw), math.ceil(dx / pw)}:
            best = min(best, equivariance_error(tokens_of, images, (dy, dx), output_shift=(ty, tx)))
    return best


# --------------------------------------------------------------------------- permutations
# The jigsaw itself is ``vit_edu.analysis.positions.shuffle_patches`` (the class-token and positions lesson):
# new patch i = old patch pi[i].
@torch.no_grad()
def attention_permutation_error(attention_layer: nn.Module, tokens: torch.Tensor, permutation: torch.Tensor) -> float:
    """Relative error of MSA(z[pi]) = MSA(z)[pi] for (B, T, D) tokens (0 up to rounding: no positions inside)."""
    return relative_error(attention_layer(tokens[:, permutation]), attention_layer(tokens)[:, permutation])


@torch.no_grad()
def vit_permutation_errors(
    model: nn.Module, images: torch.Tensor, permutation: torch.Tensor, positions: bool = True
) -> dict[str, float]:
    """Shuffle the patches of ``images`` and compare the ViT's outputs with the unshuffled ones.

    Returns:
        ``tokens``: error of out(shuffled)[1:] = out(x)[1:][pi] (output patch tokens permute with the input);
        ``class_token``: error of out(shuffled)[0] = out(x)[0] (the class token does not change).
        Both are ~1e-7 without E_pos and large with it.
    """
    if sorted(permutation.tolist()) != list(range(model.config.num_patches)):
        raise ValueError(f"permutation must be a permutation of range(N), N = {model.config.num_patches} patches.")
    shuffled = shuffle_patches(images, model.config.patch_size, permutation)
    original = vit_tokens(model, images, positions=positions)  # (B, N + 1, D)
    permuted = vit_tokens(model, shuffled, positions=positions)  # (B, N + 1, D)
    return {
        "tokens": relative_error(permuted[:, 1:], original[:, 1:][:, permutation]),
        "class_token": relative_error(permuted[:, 0], original[:, 0]),
    }


# --------------------------------------------------------------------------- receptive fields
def conv_receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int] | None = None) -> int:
    """Side of the receptive field of a stack of layers: r = 1 + sum_l (k_l - 1) prod_{i<l} s_i.

    For L stride-1 layers of size k this is 1 + L (k - 1).
    """
    strides = [1] * len(kernel_sizes) if strides is None else list(strides)
    if len(strides) != len(kernel_sizes):
        raise ValueError(f"kernel_sizes ({len(kernel_sizes)}) and strides ({len(strides)}) differ in length.")
    field, jump = 1, 1
    for kernel, stride in zip(kernel_sizes, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def cnn_receptive_field(cnn: nn.Module) -> int:
    """Receptive field (pixels) of one cell of ``cnn.features`` from its convolution and pooling layers."""
    kernels, strides = [], []
    for layer in cnn.modules():
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            kernels.append(to_2tuple(layer.kernel_size, "kernel_size")[0])
            strides.append(to_2tuple(layer.stride, "stride")[0])
    return conv_receptive_field(kernels, strides)


def input_gradient_map(feature_fn: FeatureFn, images: torch.Tensor) -> torch.Tensor:
    """|d (centre cell of feature_fn(images)) / d images|, summed over channels and batch: (H, W).

    Non-zero exactly where the input can influence that cell: its receptive field.
    """
    images = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = feature_fn(images)  # (B, C', H', W')
        out[..., out.shape[-2] // 2, out.shape[-1] // 2].sum().backward()
    return images.grad.abs().sum(dim=(0, 1))  # (H, W)


def empirical_receptive_field(feature_fn: FeatureFn, images: torch.Tensor) -> tuple[int, int]:
    """(height, width) of the input region that influences the centre cell of ``feature_fn(images)``.

    Measured, not computed: the bounding box of the non-zero entries of :func:`input_gradient_map`.
    Images must be large enough that the field does not reach the border (else it is clipped).
    """
    touched = input_gradient_map(feature_fn, images) > 0  # (H, W)
    rows, cols = touched.any(dim=1).nonzero(), touched.any(dim=0).nonzero()
    if len(rows) == 0:
        return (0, 0)
    return (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
