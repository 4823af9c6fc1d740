"""Does a map follow the class it is asked about? Class-specific vs class-agnostic explanations.

On a scene with two objects of different classes (:mod:`vit_edu.data.two_objects`), ask a map
about each object's class in turn. A class-specific method (gradient-weighted attention with
``target_class`` = the asked class) can answer "the circle is here" and "the cross is there". A
class-agnostic method (raw attention, rollout, attention flow: built from the attention weights
alone) returns the SAME map for both questions, so whatever it points at, it is right for at
most one of them.

For every (image, asked object) pair, with the asked and the other object's patch masks
(:func:`~vit_edu.analysis.attention_metrics.mask_to_patch_mask`):

- ``pointing``: the map's top patch lies on the asked object (ties share the point, as in
  :func:`~vit_edu.analysis.attention_metrics.pointing_game`);
- ``pointing_other``: ... on the other object;
- ``moves``: the map's positive mass on the asked object's patches exceeds that on the other
  object's (1; a tie 0.5; else 0);
- ``energy``, ``energy_other``: the share of the positive mass on the asked / other object;
- per image, ``both_move``: ``moves`` holds for both questions;
- per image, ``map_change``: the total-variation distance between the two maps, each normalised
  to a distribution over patches (0: the same map for both classes, 1: disjoint supports).

What a class-agnostic map must score, whatever it looks like: the two questions about one image
see one map, so what is "asked" in one pair is "other" in the second. Hence ``pointing`` equals
``pointing_other`` and ``energy`` equals ``energy_other``; the two pairs' ``moves`` add up to
exactly 1, so ``moves`` = 0.5; ``both_move`` = 0 and ``map_change`` = 0; and where the objects
share no patch, the top patch lies on at most one of them, so ``pointing`` <= 0.5. The
:data:`CHANCE` row scores a constant map, one such map.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from vit_edu.analysis.attention_maps import (
    attention_rollout,
    class_token_map,
    cls_attention,
    eval_attentions,
    gradient_weighted_attention,
)
from vit_edu.analysis.attention_metrics import energy_pointing, mask_to_patch_mask, pointing_game
from vit_edu.checks import check_int, check_number
from vit_edu.data.two_objects import TwoObjectScenes
from vit_edu.training.loop import predict
from vit_edu.training.multilabel import top2_correct

__all__ = [
    "CHANCE", "FLOW", "GRADIENT", "METRICS", "RAW", "ClassSpecificity", "ExplanationMethod", "class_specificity",
    "default_methods", "format_class_specificity", "rollout_name", "specificity_scores",
]

# (model, images (B, C, H, W), asked classes (B,) int64) -> maps (B, N), one value per patch.
ExplanationMethod = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

RAW = "attention, last layer"
GRADIENT = "gradient-weighted"
FLOW = "attention flow"
CHANCE = "chance (constant map)"
METRICS = ("pointing", "pointing_other", "moves", "both_move", "energy", "energy_other", "map_change")


def rollout_name(discard_ratio: float) -> str:
    """The rollout row's name, e.g. ``"rollout, discard 0.9"`` (as in :mod:`vit_edu.analysis.localisation`)."""
    return f"rollout, discard {discard_ratio:g}"


# ---------------------------------------------------------------------------- the methods
def _raw(model: nn.Module, images: torch.Tensor, asked: torch.Tensor) -> torch.Tensor:
    """Class-token attention of the last layer, mean over heads -> (B, N); ``asked`` is not used."""
    return cls_attention(eval_attentions(model, images), -1, "mean")


def _rollout(discard_ratio: float) -> ExplanationMethod:
    def rollout(model: nn.Module, images: torch.Tensor, asked: torch.Tensor) -> torch.Tensor:
        """Attention rollout (mean over heads, discarding the weakest weights) -> (B, N); ``asked`` is not used."""
        return class_token_map(attention_rollout(eval_attentions(model, images), "mean", discard_ratio))

    return rollout


def _gradient(model: nn.Module, images: torch.Tensor, asked: torch.Tensor) -> torch.Tensor:
    """Gradient-weighted attention for the asked class of each image -> (B, N)."""
    return class_token_map(gradient_weighted_attention(model, images, target_class=asked))


def _flow(model: nn.Module, images: torch.Tensor, asked: torch.Tensor) -> torch.Tensor:
    """Attention flow into the class token -> (B, N); ``asked`` is not used."""
    from vit_edu.analysis.attention_flow import attention_flow_map

    return attention_flow_map(model, images)


def default_methods(discard_ratio: float = 0.9, flow: bool = True) -> dict[str, ExplanationMethod]:
    """The methods of the attention-maps lesson: raw attention, rollout (``discard_ratio``), gradient-weighted
    attention (asked class) and, with ``flow``, attention flow.

    Each takes ``(model, images (B, C, H, W), asked (B,))`` and returns (B, N) maps; only the gradient-weighted
    one uses ``asked``.
    """
    check_number(discard_ratio, "discard_ratio", 0.0, 1.0, open_maximum=True, hint="; 0.9 is the course's choice")
    if not isinstance(flow, bool):
        raise TypeError(f"flow must be True or False, got {flow!r}.")
    methods: dict[str, ExplanationMethod] = {RAW: _raw, rollout_name(discard_ratio): _rollout(discard_ratio),
                                             GRADIENT: _gradient}
    if flow:
        methods[FLOW] = _flow
    return methods


# ---------------------------------------------------------------------------- the scores
def _check_maps(maps_first: object, maps_second: object, patch_masks: object) -> None:
    if not isinstance(patch_masks, torch.Tensor) or patch_masks.dtype != torch.bool or patch_masks.ndim != 3 \
            or patch_masks.shape[1] != 2:
        shape = tuple(patch_masks.shape) if isinstance(patch_masks, torch.Tensor) else type(patch_masks).__name__
        raise ValueError(f"patch_masks must be a bool tensor (B, 2, N), one patch mask per object; got {shape}. "
                         "Make it with mask_to_patch_mask(scenes.masks.flatten(0, 1), P).reshape(B, 2, -1).")
    expected = (patch_masks.shape[0], patch_masks.shape[2])
    for name, maps in (("maps_first", maps_first), ("maps_second", maps_second)):
        if not isinstance(maps, torch.Tensor) or not maps.is_floating_point() or tuple(maps.shape) != expected:
            shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
            raise ValueError(f"{name} must be a float tensor (B, N) = {expected} matching patch_masks, got {shape}.")
        if not torch.isfinite(maps).all():
            raise ValueError(f"{name} contains NaN or inf.")
    if len(patch_masks) == 0:
        raise ValueError("patch_masks is empty: scores need at least one image.")


def _positive_mass(maps: torch.Tensor, patch_masks: torch.Tensor) -> torch.Tensor:
    """Positive mass of (B, N) maps on (B, N) patch masks -> (B,)."""
    return (maps.clamp(min=0) * patch_masks).sum(dim=-1)


def _distribution(maps: torch.Tensor) -> torch.Tensor:
    """(B, N) maps -> their positive parts normalised to sum 1 (uniform where a map has no positive mass)."""
    positive = maps.double().clamp(min=0)
    total = positive.sum(dim=-1, keepdim=True)
    uniform = torch.full_like(positive, 1.0 / positive.shape[-1])
    return torch.where(total > 0, positive / total.clamp_min(torch.finfo(positive.dtype).tiny), uniform)


def specificity_scores(maps_first: torch.Tensor, maps_second: torch.Tensor,
                       patch_masks: torch.Tensor) -> dict[str, float]:
    """The class-specificity scores of one method's maps (see the module docstring for each metric).

    Args:
        maps_first: (B, N) the maps when asked about object 0's class (``classes[:, 0]``).
        maps_second: (B, N) the maps when asked about object 1's class.
        patch_masks: (B, 2, N) bool, object 0's and object 1's patches.

    Returns:
        ``{metric: mean}`` for :data:`METRICS`: pair metrics averaged over the 2B (image, asked object) pairs,
        ``both_move`` and ``map_change`` over the B images. ``energy`` ignores maps without positive mass.
    """
    _check_maps(maps_first, maps_second, patch_masks)
    masks0, masks1 = patch_masks[:, 0], patch_masks[:, 1]  # (B, N) each
    maps = torch.cat([maps_first, maps_second])  # (2B, N): pair (i, j) is row j * B + i
    asked, other = torch.cat([masks0, masks1]), torch.cat([masks1, masks0])  # (2B, N) each
    on_asked, on_other = _positive_mass(maps, asked), _positive_mass(maps, other)  # (2B,)
    moves = (on_asked > on_other).double() + 0.5 * (on_asked == on_other).double()  # (2B,)
    batch = len(patch_masks)
    both = (moves[:batch] == 1) & (moves[batch:] == 1)  # (B,)
    change = 0.5 * (_distribution(maps_first) - _distribution(maps_second)).abs().sum(dim=-1)  # (B,)
    return {
        "pointing": pointing_game(maps, asked).mean().item(),
        "pointing_other": pointing_game(maps, other).mean().item(),
        "moves": moves.mean().item(),
        "both_move": both.double().mean().item(),
        "energy": torch.nanmean(energy_pointing(maps, asked)).item(),
        "energy_other": torch.nanmean(energy_pointing(maps, other)).item(),
        "map_change": change.mean().item(),
    }


@dataclass(frozen=True)
class ClassSpecificity:
    """The result of :func:`class_specificity`.

    Attributes:
        scores: method name -> ``{metric: value}`` (:data:`METRICS`), with the :data:`CHANCE` row last.
        images: B, the number of scenes; the pair metrics average over 2B pairs.
        shared_patches: fraction of scenes whose two objects touch a common patch (there a top patch can be
            on both objects at once).
        model_accuracy: fraction of scenes whose top-2 predicted classes are the two true classes.
    """

    scores: dict[str, dict[str, float]]
    images: int
    shared_patches: float
    model_accuracy: float

    def as_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


def _resolve_methods(methods: object) -> dict[str, ExplanationMethod]:
    if methods is None:
        return default_methods()
    builtin = default_methods()
    if isinstance(methods, Mapping):
        chosen = dict(methods)
    elif isinstance(methods, Sequence) and not isinstance(methods, (str, bytes)):
        unknown = [name for name in methods if name not in builtin]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; choose from {list(builtin)} or pass a dict "
                             "{name: fn(model, images, asked) -> (B, N) maps}.")
        chosen = {name: builtin[name] for name in methods}
    else:
        raise TypeError(f"methods must be None, a list of names from {list(builtin)} or a dict "
                        f"{{name: fn(model, images, asked)}}, got {type(methods).__name__}.")
    if not chosen:
        raise ValueError("methods is empty: name at least one method.")
    for name, method in chosen.items():
        if not isinstance(name, str) or name == CHANCE or not callable(method):
            raise TypeError(f"methods must map names (str, not {CHANCE!r}) to callables fn(model, images, asked); "
                            f"got {name!r}: {method!r}.")
    return chosen


def _call(method: ExplanationMethod, name: str, model: nn.Module, images: torch.Tensor,
          asked: torch.Tensor, num_patches: int) -> torch.Tensor:
    maps = method(model, images, asked)
    expected = (len(images), num_patches)
    if not isinstance(maps, torch.Tensor) or tuple(maps.shape) != expected or not maps.is_floating_point():
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"method {name!r} must return a float tensor (B, N) = {expected}, one value per patch; "
                         f"got {shape}.")
    return maps.detach().float().cpu()


def class_specificity(model: nn.Module, scenes: TwoObjectScenes,
                      methods: Mapping[str, ExplanationMethod] | Sequence[str] | None = None,
                      batch_size: int = 100) -> ClassSpecificity:
    """Ask each method about both objects' classes of every scene and score where its maps go.

    Args:
        model: a ViT with ``config.patch_size`` that returns ``(logits, attentions)`` for
            ``return_attention=True``, trained on two-object scenes (e.g. ``load_two_object_model()``).
        scenes: :class:`~vit_edu.data.two_objects.TwoObjectScenes` the model was not trained on.
        methods: ``None`` (:func:`default_methods`), a list of their names, or ``{name: fn}`` with
            ``fn(model, images (B, C, H, W), asked (B,)) -> (B, N)``.
        batch_size: scenes per call of a method.

    Returns:
        :class:`ClassSpecificity`: the scores of each method and of a constant map (:data:`CHANCE`).
    """
    if not isinstance(scenes, TwoObjectScenes):
        raise TypeError(f"scenes must be TwoObjectScenes (make_two_object_scenes), got {type(scenes).__name__}.")
    if len(scenes.images) == 0:
        raise ValueError("scenes is empty: give at least one scene.")
    patch_size = getattr(getattr(model, "config", None), "patch_size", None)
    if patch_size is None:
        raise TypeError(f"model must be a vit_edu ViT (with config.patch_size), got {type(model).__name__}.")
    check_int(batch_size, "batch_size")
    chosen = _resolve_methods(methods)
    batch = len(scenes.images)
    patch_masks = mask_to_patch_mask(scenes.masks.flatten(0, 1), patch_size).reshape(batch, 2, -1)  # (B, 2, N)
    num_patches = patch_masks.shape[-1]
    scores: dict[str, dict[str, float]] = {}
    for name, method in chosen.items():
        first, second = [], []
        for start in range(0, batch, batch_size):
            images, classes = scenes.images[start:start + batch_size], scenes.classes[start:start + batch_size]
            first.append(_call(method, name, model, images, classes[:, 0], num_patches))  # (b, N)
            second.append(_call(method, name, model, images, classes[:, 1], num_patches))
        scores[name] = specificity_scores(torch.cat(first), torch.cat(second), patch_masks)
    constant = torch.ones(batch, num_patches)
    scores[CHANCE] = specificity_scores(constant, constant, patch_masks)
    shared = (patch_masks[:, 0] & patch_masks[:, 1]).any(dim=-1).float().mean().item()
    accuracy = top2_correct(predict(model, scenes.images), scenes.classes).float().mean().item()
    return ClassSpecificity(scores, batch, shared, accuracy)


def format_class_specificity(result: ClassSpecificity) -> str:
    """A plain-text table: one row per method, one column per metric."""
    if not isinstance(result, ClassSpecificity):
        raise TypeError(f"result must be a ClassSpecificity (from class_specificity), got {type(result).__name__}.")
    width = max(len(name) for name in result.scores) + 2
    header = f"{'method':{width}s}" + "".join(f"{metric:>15s}" for metric in METRICS)
    lines = [header]
    for name, row in result.scores.items():
        values = "".join(f"{'nan' if math.isnan(row[m]) else format(row[m], '.3f'):>15s}" for m in METRICS)
        lines.append(f"{name:{width}s}{values}")
    lines.append(f"{result.images} scenes, {2 * result.images} (scene, asked class) pairs; the model names both "
                 f"classes of {result.model_accuracy:.1%} of the scenes; the objects share a patch in "
                 f"{result.shared_patches:.1%}.")
    return "\n".join(lines)
