"""Do attention maps find the object? Scores of several explanation methods on images with masks.

Ties together :mod:`vit_edu.analysis.attention_maps` (the maps) and :mod:`vit_edu.analysis.attention_metrics`
(the scores) for the attention-maps lesson, ``benchmarks/attention_localisation.py`` and the tests, so all three
compute the same numbers:

- :func:`explanation_maps`: (B, N) class-token maps of every method (raw attention of the last
  layer, rollout with and without discarding, gradient-weighted attention);
- :func:`localisation_scores`: mean pointing game and energy-based pointing of each method, with
  their chance level (the fraction of patches that overlap the object);
- :func:`depth_profile`: the same two scores for each layer's raw class-token attention (and each
  head), and for rollout stopped after each layer: where in depth does localisation appear?
- :func:`deletion_scores`: mean deletion AUC of each method beside random maps.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from vit_edu.analysis.attention_maps import (
    attention_rollout,
    class_token_map,
    cls_attention,
    eval_attentions,
    gradient_weighted_attention,
)
from vit_edu.analysis.attention_metrics import chance_level, deletion_auc, energy_pointing, pointing_game, random_maps

RAW = "attention, last layer"
ROLLOUT = "rollout"
GRADIENT = "gradient-weighted"


def discard_name(discard_ratio: float) -> str:
    return f"rollout, discard {discard_ratio:g}"


def _batches(images: torch.Tensor, batch_size: int):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    return images.split(batch_size)


def explanation_maps(model: torch.nn.Module, images: torch.Tensor, discard_ratio: float = 0.9,
                     batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Class-token maps (B, N) of four methods, in the order they appear in the attention-maps lesson.

    Raw attention is the mean over heads of the last layer; both rollouts fuse heads by the mean;
    gradient-weighted attention explains the predicted class.
    """
    maps: dict[str, list[torch.Tensor]] = {RAW: [], ROLLOUT: [], discard_name(discard_ratio): [], GRADIENT: []}
    for chunk in _batches(images, batch_size):
        attentions = eval_attentions(model, chunk)
        maps[RAW].append(cls_attention(attentions, -1, "mean"))  # (b, N)
        maps[ROLLOUT].append(class_token_map(attention_rollout(attentions)))  # (b, N)
        maps[discard_name(discard_ratio)].append(class_token_map(attention_rollout(attentions, "mean", discard_ratio)))
        maps[GRADIENT].append(class_token_map(gradient_weighted_attention(model, chunk)))  # (b, N)
    return {name: torch.cat(parts) for name, parts in maps.items()}


def localisation_scores(maps: Mapping[str, torch.Tensor], patch_masks: torch.Tensor) -> dict[str, dict[str, float]]:
    """Mean pointing game and energy-based pointing of each map; ``"chance"`` holds the chance level.

    Args:
        maps: name -> (B, N) maps at patch resolution.
        patch_masks: (B, N) bool, from ``mask_to_patch_mask(masks, patch_size)``.

    Returns:
        name -> ``{"pointing": ..., "energy": ...}``, plus ``"chance"`` with the same keys.
    """
    chance = chance_level(patch_masks).mean().item()
    table = {"chance": {"pointing": chance, "energy": chance}}
    for name, values in maps.items():
        table[name] = {"pointing": pointing_game(values, patch_masks).mean().item(),
                       "energy": torch.nanmean(energy_pointing(values, patch_masks)).item()}
    return table


def depth_profile(model: torch.nn.Module, images: torch.Tensor, patch_masks: torch.Tensor,
                  discard_ratio: float = 0.9, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Pointing and energy per layer: raw class-token attention (mean over heads, and each head),
    and rollout over layers 0..l (mean fusion, ``discard_ratio``).

    Returns:
        ``"raw_pointing"``, ``"raw_energy"``, ``"rollout_pointing"``, ``"rollout_energy"``: (L,);
        ``"head_pointing"``, ``"head_energy"``: (L, k). Means over the images.
    """
    sums: dict[str, torch.Tensor] = {}
    for chunk, masks in zip(_batches(images, batch_size), patch_masks.split(batch_size)):
        attentions = eval_attentions(model, chunk)
        num_layers, heads = len(attentions), attentions[0].shape[1]
        scores: dict[str, list] = {key: [] for key in ("raw", "rollout", "head")}
        for layer in range(num_layers):
            scores["raw"].append(cls_attention(attentions, layer, "mean"))  # (b, N)
            rollout = attention_rollout(attentions[:layer + 1], "mean", discard_ratio)  # (b, T, T)
            scores["rollout"].append(class_token_map(rollout))
            scores["head"] += [cls_attention(attentions, layer, h) for h in range(heads)]
        for key, maps in scores.items():
            stacked = torch.stack(maps)  # (M, b, N)
            for metric, fn in (("pointing", pointing_game), ("energy", energy_pointing)):
                total = torch.stack([torch.nansum(fn(m, masks)) for m in stacked])  # (M,)
                total = total.reshape(num_layers, heads) if key == "head" else total
                sums[f"{key}_{metric}"] = sums.get(f"{key}_{metric}", 0) + total
    return {key: value / len(images) for key, value in sums.items()}


def deletion_scores(model: torch.nn.Module, images: torch.Tensor, maps: Mapping[str, torch.Tensor],
                    steps: int = 16, seed: int = 0, batch_size: int = 256) -> dict[str, float]:
    """Mean deletion AUC (lower = the map found what the prediction needs) of each map and of
    random maps (``"random"``). Removed patches become the image's mean colour (a flat grey on
    shapes), and the score is the probability of the class predicted on the intact image.
    """
    table: dict[str, float] = {}
    num_patches = next(iter(maps.values())).shape[1]
    named = {**maps, "random": random_maps(len(images), num_patches, seed)}
    for name, values in named.items():
        aucs = []
        for chunk, chunk_maps in zip(_batches(images, batch_size), values.split(batch_size)):
            baseline = chunk.mean(dim=(2, 3), keepdim=True)  # (b, C, 1, 1)
            aucs.append(deletion_auc(model, chunk, chunk_maps, steps=steps, baseline=baseline))
        table[name] = torch.cat(aucs).mean().item()
    return table
