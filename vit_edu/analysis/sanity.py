"""Sanity checks for explanation maps: cascading model randomisation (Adebayo et al., 2018).

A map that explains *the model* must change when the model's weights are destroyed. The test
re-initialises the encoder blocks one at a time from the top (block L first, then L - 1, ...,
down to block 1), so after step d the top d blocks are random and the rest are trained; after
each step it recomputes every method's map and compares it with the map of the trained model by
Spearman's rank correlation over the N patches, per image, then averages over the images.

    depth 0: the trained model (correlation 1 by definition)
    depth d: blocks L-d+1..L re-initialised (0-based: blocks L-d..L-1)
    depth L: every block re-initialised (embeddings, final norm and head stay trained)

A map that stays highly correlated while the weights it claims to explain are random is
explaining the input (edges, brightness), not the model. Each block is re-initialised with the
model's own initialiser (``vit_edu.init.init_weights``, the scheme in ``model.config.weight_init``)
from a private generator seeded with ``seed + block index``, on a deep copy: the caller's model
is never changed.

- :func:`spearman`: per-row rank correlation of two (B, N) maps, ties get average ranks.
- :func:`default_methods`: raw attention (last layer, mean of heads), rollout, attention flow,
  gradient-weighted attention, each ``(model, images) -> (B, N)``.
- :func:`cascading_randomisation`: the table, method -> L + 1 mean correlations.
- :func:`format_randomisation_table`: that table as plain text.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping

import torch
from torch import nn

from vit_edu.analysis.attention_flow import attention_flow_map
from vit_edu.analysis.attention_maps import (
    attention_rollout,
    class_token_map,
    cls_attention,
    eval_attentions,
    gradient_weighted_attention,
)
from vit_edu.analysis.localisation import GRADIENT, RAW, ROLLOUT
from vit_edu.checks import check_choice, check_seed
from vit_edu.config import WEIGHT_INIT_CHOICES
from vit_edu.init import init_weights

FLOW = "attention flow"
MapMethod = Callable[[nn.Module, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- rank correlation
def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N along the last axis, tied values sharing their average rank (as ``scipy.stats.rankdata``).

    rank_i = #{j: x_j < x_i} + (#{j: x_j = x_i} + 1) / 2; (B, N) -> (B, N) float64, O(N^2) per row.
    """
    x = values.double()
    less = (x[..., None, :] < x[..., :, None]).sum(dim=-1)  # (B, N): how many are smaller than x_i
    equal = (x[..., None, :] == x[..., :, None]).sum(dim=-1)  # (B, N): ties, x_i itself included
    return less + (equal + 1) / 2


def spearman(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of each row of two (B, N) maps -> (B,) float64.

    The Pearson correlation of the average ranks; NaN for a row where either map is constant
    (no ranking to compare), as ``scipy.stats.spearmanr``.
    """
    for name, value in (("first", first), ("second", second)):
        if not isinstance(value, torch.Tensor) or value.ndim != 2:
            raise ValueError(f"{name} must be a (B, N) tensor of maps, got {getattr(value, 'shape', value)!r}.")
    if first.shape != second.shape:
        raise ValueError(f"the maps must have the same shape (B, N), got {tuple(first.shape)} and "
                         f"{tuple(second.shape)}.")
    if first.shape[1] < 2:
        raise ValueError(f"a rank correlation needs at least 2 values per map, got N = {first.shape[1]}.")
    ranks = [average_ranks(m.detach().cpu()) for m in (first, second)]
    centred = [r - r.mean(dim=-1, keepdim=True) for r in ranks]  # (B, N) each
    numerator = (centred[0] * centred[1]).sum(dim=-1)
    denominator = (centred[0].square().sum(dim=-1) * centred[1].square().sum(dim=-1)).sqrt()
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-300), math.nan)  # (B,)


# ----------------------------------------------------------------------------- the methods
def raw_attention_map(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The class token's attention to the patches in the last layer, mean of the heads -> (B, N)."""
    return cls_attention(eval_attentions(model, images), -1, "mean")


def rollout_map(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Row 0 of attention rollout (mean of heads, no discarding), without the class column -> (B, N)."""
    return class_token_map(attention_rollout(eval_attentions(model, images)))


def gradient_map(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Gradient-weighted attention for the predicted class, the class token's row -> (B, N)."""
    return class_token_map(gradient_weighted_attention(model, images))


def default_methods() -> dict[str, MapMethod]:
    """Name -> ``(model, images) -> (B, N)`` for the four attention explanations of the course."""
    return {RAW: raw_attention_map, ROLLOUT: rollout_map, FLOW: attention_flow_map, GRADIENT: gradient_map}


# ----------------------------------------------------------------------------- the test
def _check_methods(methods: Mapping[str, MapMethod] | None) -> dict[str, MapMethod]:
    if methods is None:
        return default_methods()
    if not isinstance(methods, Mapping) or not methods:
        raise TypeError("methods must be a non-empty dict name -> function(model, images) -> (B, N) map, "
                        f"e.g. default_methods(); got {methods!r}.")
    for name, method in methods.items():
        if not isinstance(name, str) or not callable(method):
            raise TypeError(f"methods must map str names to functions (model, images) -> (B, N); "
                            f"got {name!r}: {method!r}.")
    return dict(methods)


def _compute_maps(methods: Mapping[str, MapMethod], model: nn.Module, images: torch.Tensor,
                  expected: Mapping[str, torch.Size] | None = None) -> dict[str, torch.Tensor]:
    maps = {}
    for name, method in methods.items():
        value = method(model, images)
        if not isinstance(value, torch.Tensor) or value.ndim != 2 or value.shape[0] != len(images):
            raise ValueError(f"method {name!r} must return a (B, N) tensor with B = {len(images)}, "
                             f"got {getattr(value, 'shape', type(value).__name__)!r}.")
        if expected is not None and value.shape != expected[name]:
            raise ValueError(f"method {name!r} returned {tuple(value.shape)} after randomisation but "
                             f"{tuple(expected[name])} before.")
        maps[name] = value.detach()
    return maps


def randomise_block(model: nn.Module, index: int, seed: int, scheme: str) -> None:
    """Re-initialise ``model.blocks[index]`` in place with ``init_weights(block, seed + index, scheme)``."""
    init_weights(model.blocks[index], seed=seed + index, scheme=scheme)


def cascading_randomisation(
    model: nn.Module,
    images: torch.Tensor,
    methods: Mapping[str, MapMethod] | None = None,
    seed: int = 0,
    init: str | None = None,
) -> dict[str, list[float]]:
    """Cascading randomisation from the top block down; mean rank correlation with the trained maps.

    Args:
        model: a ViT (with ``blocks``); it is deep-copied and the copy put in eval mode, so the
            caller's model, its weights and its train/eval mode stay as they are.
        images: (B, C, H, W).
        methods: name -> ``(model, images) -> (B, N)``; default :func:`default_methods`.
        seed: block ``i`` is re-initialised from seed ``seed + i`` (the same random block at
            every depth that includes it).
        init: ``"timm"`` or ``"jax"``; default ``model.config.weight_init`` (``"timm"`` without a config).

    Returns:
        method name -> L + 1 floats: the mean over images of Spearman's rho between the map of
        the model with the top d blocks re-initialised and the trained model's map, d = 0..L.
        Images whose map is constant (rho undefined) are left out of the mean; NaN if all are.
    """
    methods = _check_methods(methods)
    seed = check_seed(seed, "seed", maximum=2**32 - 1)
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or len(blocks) == 0:
        raise TypeError(f"model must have a non-empty nn.ModuleList .blocks (a vit_edu ViT), "
                        f"got {type(model).__name__}.")
    if init is None:
        init = getattr(getattr(model, "config", None), "weight_init", "timm")
    check_choice(init, "init", WEIGHT_INIT_CHOICES)
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (B, C, H, W) tensor, got {getattr(images, 'shape', images)!r}.")
    randomised = copy.deepcopy(model).eval()
    original = _compute_maps(methods, randomised, images)
    shapes = {name: value.shape for name, value in original.items()}
    table = {name: [] for name in methods}
    for depth in range(len(blocks) + 1):
        if depth > 0:
            randomise_block(randomised, len(blocks) - depth, seed, init)  # top block first
        maps = original if depth == 0 else _compute_maps(methods, randomised, images, shapes)
        for name in methods:
            table[name].append(torch.nanmean(spearman(original[name], maps[name])).item())
    return table


def format_randomisation_table(table: Mapping[str, list[float]], digits: int = 2) -> str:
    """Plain-text table of :func:`cascading_randomisation`: one row per method, one column per depth.

    Column d is the number of top blocks re-initialised (0 = the trained model).
    """
    if not isinstance(table, Mapping) or not table:
        raise TypeError("table must be a non-empty dict method -> list of correlations (from cascading_randomisation).")
    lengths = {len(values) for values in table.values()}
    if len(lengths) != 1:
        raise ValueError(f"every method needs one correlation per depth; got lists of lengths {sorted(lengths)}.")
    depths = lengths.pop()
    name_width = max(len("method"), *(len(name) for name in table))
    cell = max(digits + 3, 5)
    header = "method".ljust(name_width) + "".join(f"{d:>{cell + 1}}" for d in range(depths))
    lines = ["Spearman rho with the trained model's map; column d: top d blocks re-initialised", header,
             "-" * len(header)]
    for name, values in table.items():
        lines.append(name.ljust(name_width) + "".join(f"{v:>{cell + 1}.{digits}f}" for v in values))
    return "\n".join(lines)
