"""Does a map point at the object? Scores for (B, N) patch maps against ground-truth masks.

Everything is at patch resolution, where a map has one value per patch: a patch "overlaps the
object" if any of its pixels does (:func:`mask_to_patch_mask`). Scoring the argmax of an
upsampled map at pixel level instead would only test where the upsampling puts a patch's corner.

- :func:`pointing_game`: is the top-scoring patch on the object? (1 or 0 per image)
- :func:`energy_pointing`: share of the map's positive mass on the object's patches.
- :func:`deletion_curve`, :func:`deletion_auc`: blank the most salient patches first and follow
  the class probability; a faithful map makes it fall fast (low area under the curve).
- :func:`chance_level`: fraction of patches overlapping the object, the expected pointing and
  energy score of a map that knows nothing; for deletion compare with :func:`random_maps`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from vit_edu.analysis.attention_maps import resolve_target_classes
from vit_edu.checks import Size2d, to_2tuple


def mask_to_patch_mask(masks: torch.Tensor | np.ndarray, patch_size: Size2d) -> torch.Tensor:
    """Pixel masks (B, H, W) or (H, W) -> patch masks (B, N) or (N,): True where any pixel is set."""
    masks = torch.as_tensor(masks)
    patch = to_2tuple(patch_size, "patch_size")
    if masks.ndim not in (2, 3):
        raise ValueError(f"masks must be (B, H, W) or (H, W), got shape {tuple(masks.shape)}.")
    height, width = masks.shape[-2:]
    if height % patch[0] or width % patch[1]:
        raise ValueError(f"masks of size {height}x{width} do not split into whole {patch[0]}x{patch[1]} patches.")
    grid = (height // patch[0], width // patch[1])
    blocks = (masks != 0).reshape(-1, grid[0], patch[0], grid[1], patch[1])  # (B, H/P, P, W/P, P)
    out = blocks.any(dim=4).any(dim=2).flatten(1)  # (B, N)
    return out[0] if masks.ndim == 2 else out


def _check_pair(maps: torch.Tensor, patch_masks: torch.Tensor) -> None:
    if not isinstance(maps, torch.Tensor) or maps.ndim != 2 or not maps.is_floating_point():
        shape = getattr(maps, "shape", maps)
        raise ValueError(f"maps must be a float tensor (B, N), one value per patch; got {shape!r}.")
    if not isinstance(patch_masks, torch.Tensor) or patch_masks.dtype != torch.bool:
        raise TypeError("patch_masks must be a bool tensor (B, N); make it with mask_to_patch_mask(masks, patch_size).")
    if patch_masks.shape != maps.shape:
        raise ValueError(
            f"maps {tuple(maps.shape)} and patch_masks {tuple(patch_masks.shape)} differ; both must be (B, N) "
            "at patch resolution (do not upsample the map)."
        )
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN or inf.")


def chance_level(patch_masks: torch.Tensor) -> torch.Tensor:
    """Fraction of patches overlapping the object, (B, N) bool -> (B,)."""
    return patch_masks.float().mean(dim=-1)


def pointing_game(maps: torch.Tensor, patch_masks: torch.Tensor) -> torch.Tensor:
    """1 where the top-scoring patch overlaps the object, else 0 -> (B,) float.

    Ties for the top share the point (the fraction of tied patches on the object, i.e. the
    expected hit under random tie-breaking), so a constant map scores exactly chance level.
    """
    _check_pair(maps, patch_masks)
    top = maps == maps.amax(dim=-1, keepdim=True)  # (B, N)
    return (top & patch_masks).sum(dim=-1) / top.sum(dim=-1)


def energy_pointing(maps: torch.Tensor, patch_masks: torch.Tensor) -> torch.Tensor:
    """Share of the positive mass sum(max(m, 0)) on patches overlapping the object -> (B,).

    NaN for a map with no positive mass (use ``torch.nanmean`` to average).
    """
    _check_pair(maps, patch_masks)
    positive = maps.clamp(min=0)
    total = positive.sum(dim=-1)
    inside = (positive * patch_masks).sum(dim=-1)
    return torch.where(total > 0, inside / total.clamp_min(torch.finfo(maps.dtype).tiny), math.nan)


def random_maps(batch: int, num_patches: int, seed: int = 0) -> torch.Tensor:
    """Uniform random (B, N) maps from a private generator: the chance baseline for deletion."""
    return torch.rand(batch, num_patches, generator=torch.Generator().manual_seed(int(seed)))


@torch.no_grad()
def deletion_curve(
    model,
    images: torch.Tensor,
    maps: torch.Tensor,
    patch_size: Size2d | None = None,
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    steps: int | None = None,
    baseline: float | torch.Tensor = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probability while the most salient patches are replaced by ``baseline``.

    Args:
        model: callable images -> logits (B, K), e.g. ``vit_edu.ViT``; run in eval mode.
        images: (B, C, H, W).
        maps: (B, N) saliency, higher = more important.
        patch_size: P; default ``model.config.patch_size``.
        target_class: c per image (int or B ints); default the prediction on the intact images.
        steps: S points after the start; step s removes round(s N / S) patches. Default N.
        baseline: value of removed pixels: a float, or a tensor broadcastable to ``images``
            (e.g. per-channel means (C, 1, 1) or blurred images).

    Returns:
        ``(fractions (S + 1,), probabilities (B, S + 1))``, fraction of patches removed and p(c).
    """
    if patch_size is None:
        if not hasattr(model, "config"):
            raise ValueError("patch_size is required when the model has no .config.patch_size.")
        patch_size = model.config.patch_size
    patch = to_2tuple(patch_size, "patch_size")
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got {getattr(images, 'shape', images)!r}.")
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"maps must be a (B, N) tensor, got {type(maps).__name__}.")
    batch, _, height, width = images.shape
    grid = (height // patch[0], width // patch[1])
    num_patches = grid[0] * grid[1]
    if height % patch[0] or width % patch[1] or maps.shape != (batch, num_patches):
        raise ValueError(f"maps must be (B, N) = ({batch}, {num_patches}) for {height}x{width} images and "
                         f"patch_size {patch}, got {tuple(maps.shape)}.")
    steps = num_patches if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= num_patches:
        raise ValueError(f"steps must be an int in 1..N = 1..{num_patches}, got {steps!r}.")
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    try:
        logits = model(images)  # (B, K)
        target = logits.argmax(-1) if target_class is None else resolve_target_classes(target_class, *logits.shape)
        order = maps.detach().to(images.device).argsort(dim=-1, descending=True, stable=True)  # (B, N)
        positions = torch.arange(num_patches, device=images.device).expand(batch, -1)  # (B, N)
        rank = torch.empty_like(order).scatter_(1, order, positions)  # rank[b, p] = place of patch p in the order
        counts = [round(s * num_patches / steps) for s in range(steps + 1)]
        probabilities = []
        for count in counts:
            removed = (rank < count).reshape(batch, 1, grid[0], 1, grid[1], 1)  # (B, 1, H/P, 1, W/P, 1)
            removed = removed.expand(-1, -1, -1, patch[0], -1, patch[1]).reshape(batch, 1, height, width)
            out = model(torch.where(removed, baseline, images)).softmax(dim=-1)  # (B, K)
            probabilities.append(out.gather(1, target[:, None].to(out.device))[:, 0])
    finally:
        if was_training:
            model.train()
    fractions = torch.tensor(counts, dtype=torch.float64) / num_patches  # (S + 1,)
    return fractions, torch.stack(probabilities, dim=1)  # (B, S + 1)


def deletion_auc(model, images: torch.Tensor, maps: torch.Tensor, **kwargs) -> torch.Tensor:
    """Area under :func:`deletion_curve` (trapezoid rule over the removed fraction in [0, 1]) -> (B,).

    Lower is better: the map found the patches the prediction depends on. ``kwargs`` go to
    :func:`deletion_curve`.
    """
    fractions, probabilities = deletion_curve(model, images, maps, **kwargs)
    return torch.trapezoid(probabilities.double(), fractions, dim=-1).to(probabilities.dtype)
