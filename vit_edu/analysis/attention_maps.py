"""What does a ViT look at? Attention maps from the weights A of every layer (paper §4.5, Fig. 6-7).

Input everywhere: ``attentions``, the list of L tensors (B, k, T, T) returned by
``model(images, return_attention=True)``; T = N + 1 and token 0 is the class token, token p + 1
is patch p (row-major over the (H/P) x (W/P) grid). Row q of A is where query q looks.

- :func:`cls_attention`, :func:`query_attention`: one layer, one head (or the head mean) -> (B, N).
- :func:`attention_rollout`: Abnar & Zuidema (2020), A_hat_l = rownorm(fuse_heads(A_l) + I),
  R_l = A_hat_l R_(l-1), R_0 = I -> (B, T, T).
- :func:`gradient_weighted_attention`: Chefer et al. (2021, generic form),
  R <- R + E_h[(dy_c/dA_l * A_l)^+] R, R_0 = I -> (B, T, T).
- :func:`class_token_map`: row 0 of such a (B, T, T) matrix, without the class column -> (B, N).
- :func:`mean_attention_distance`: the paper's "attention distance" per layer and head, in pixels.
- :func:`upsample_map`: (B, N) -> (B, H, W) for overlays (score metrics at patch level, see
  ``attention_metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from vit_edu.checks import Size2d, to_2tuple

HEAD_FUSIONS = ("mean", "max", "min")


@torch.no_grad()
def eval_attentions(model: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """``model(images, return_attention=True)[1]`` in eval mode (restored afterwards), detached: L x (B, k, T, T).

    Explanations read attention in eval mode: in train mode dropout would change the later layers' weights.
    """
    was_training = model.training
    model.eval()
    try:
        return [a.detach() for a in model(images, return_attention=True)[1]]
    finally:
        model.train(was_training)


def check_attentions(attentions: Sequence[torch.Tensor]) -> tuple[int, int, int, int]:
    """Validate a list of L attention tensors (B, k, T, T) of one shape; return (L, B, k, T)."""
    if isinstance(attentions, torch.Tensor) or not isinstance(attentions, (list, tuple)):
        raise TypeError(
            "attentions must be a list of per-layer tensors (B, heads, T, T), as returned by "
            f"model(images, return_attention=True)[1]; got {type(attentions).__name__}."
        )
    if len(attentions) == 0:
        raise ValueError("attentions is an empty list; pass model(images, return_attention=True)[1].")
    first = attentions[0]
    for i, a in enumerate(attentions):
        if not isinstance(a, torch.Tensor):
            raise TypeError(f"attentions[{i}] must be a torch.Tensor, got {type(a).__name__}.")
        if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
            raise ValueError(
                f"attentions[{i}] must have shape (B, heads, T, T), got {tuple(a.shape)}. "
                "For a single image add a batch axis with .unsqueeze(0)."
            )
        if a.shape != first.shape:
            raise ValueError(f"attentions[{i}] has shape {tuple(a.shape)} but attentions[0] has {tuple(first.shape)}.")
    if first.shape[-1] < 2:
        raise ValueError(f"T = {first.shape[-1]}: need the class token and at least one patch.")
    return len(attentions), first.shape[0], first.shape[1], first.shape[-1]


def _check_index(value: int, size: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if not -size <= value < size:
        raise ValueError(f"{name} must be in 0..{size - 1} (or -{size}..-1 from the end), got {value}.")
    return value % size


def query_attention(attentions: Sequence[torch.Tensor], layer: int, head: int | str, query_index: int) -> torch.Tensor:
    """Where token ``query_index`` looks in ``layer``: its row of A without the class column.

    Args:
        attentions: L tensors (B, k, T, T).
        layer: 0..L-1 (negative counts from the end).
        head: 0..k-1, or ``"mean"`` for the average over heads.
        query_index: 0 = class token, p + 1 = patch p (patch (r, c) is p = r * W/P + c).

    Returns:
        (B, N) raw weights on the N patches (they sum to 1 minus the weight on the class token).
    """
    num_layers, _, heads, tokens = check_attentions(attentions)
    weights = attentions[_check_index(layer, num_layers, "layer")]
    if isinstance(head, str):
        if head != "mean":
            raise ValueError(f"head must be an int in 0..{heads - 1} or 'mean', got {head!r}.")
        weights = weights.mean(dim=1)  # (B, T, T)
    else:
        weights = weights[:, _check_index(head, heads, "head")]  # (B, T, T)
    return weights[:, _check_index(query_index, tokens, "query_index"), 1:]  # (B, N)


def cls_attention(attentions: Sequence[torch.Tensor], layer: int, head: int | str = "mean") -> torch.Tensor:
    """The class token's attention to the patches, A[:, head, 0, 1:] -> (B, N) (see query_attention)."""
    return query_attention(attentions, layer, head, 0)


def class_token_map(relevance: torch.Tensor, query_index: int = 0) -> torch.Tensor:
    """Row 0 (the class token; or token ``query_index``) of a (B, T, T) rollout/relevance matrix,
    without the class column -> (B, N)."""
    if not isinstance(relevance, torch.Tensor) or relevance.ndim != 3 or relevance.shape[1] != relevance.shape[2]:
        raise ValueError(f"relevance must be a (B, T, T) tensor, got {getattr(relevance, 'shape', relevance)!r}.")
    return relevance[:, _check_index(query_index, relevance.shape[1], "query_index"), 1:]  # (B, N)


def upsample_map(maps: torch.Tensor, grid_size: Size2d, image_size: Size2d, mode: str = "nearest") -> torch.Tensor:
    """(B, N) or (N,) patch maps -> (B, H, W) or (H, W) for display over the image.

    ``"nearest"`` shows each patch as a flat square (honest about the resolution); ``"bilinear"``
    is smoother but invents detail inside patches.
    """
    grid, size = to_2tuple(grid_size, "grid_size"), to_2tuple(image_size, "image_size")
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}.")
    if not isinstance(maps, torch.Tensor) or maps.ndim not in (1, 2) or maps.shape[-1] != grid[0] * grid[1]:
        raise ValueError(
            f"maps must be (B, N) or (N,) with N = {grid[0]}x{grid[1]} = {grid[0] * grid[1]} (grid_size), "
            f"got shape {tuple(getattr(maps, 'shape', ()))}."
        )
    batch = maps.reshape(-1, 1, *grid).float()  # (B, 1, H/P, W/P)
    extra = {"align_corners": False} if mode == "bilinear" else {}
    out = F.interpolate(batch, size=size, mode=mode, **extra)[:, 0]  # (B, H, W)
    return out[0] if maps.ndim == 1 else out


def attention_rollout(
    attentions: Sequence[torch.Tensor], head_fusion: str = "mean", discard_ratio: float = 0.0
) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): how much each token of z_L draws on each input token.

    Per layer: fuse the k heads (mean, max or min), zero the ``discard_ratio`` fraction
    (floor(ratio * N)) of the smallest weights to *patches* in each row (the class-token column
    is kept), add I for the residual path, renormalise rows; then R_l = A_hat_l R_(l-1), R_0 = I.

    Returns:
        R (B, T, T), rows summing to 1; ``class_token_map(R)`` is the usual (B, N) map.
    """
    _, batch, _, tokens = check_attentions(attentions)
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}.")
    if isinstance(discard_ratio, bool) or not isinstance(discard_ratio, (int, float)) or not 0 <= discard_ratio < 1:
        raise ValueError(f"discard_ratio must be a number in [0, 1), got {discard_ratio!r}; 0.9 is a common choice.")
    num_discard = math.floor(discard_ratio * (tokens - 1) + 1e-9)
    eye = torch.eye(tokens, dtype=attentions[0].dtype, device=attentions[0].device)
    rollout = eye.expand(batch, tokens, tokens)  # R_0 = I, (B, T, T)
    for weights in attentions:
        weights = weights.detach()
        fuse = {"mean": torch.mean, "max": torch.amax, "min": torch.amin}[head_fusion]
        fused = fuse(weights, dim=1)  # (B, T, T)
        if num_discard > 0:
            to_patches = fused[..., 1:]  # (B, T, N)
            smallest = to_patches.argsort(dim=-1, stable=True)[..., :num_discard]  # (B, T, n_discard)
            fused = torch.cat([fused[..., :1], to_patches.scatter(-1, smallest, 0.0)], dim=-1)  # (B, T, T)
        a_hat = fused + eye
        a_hat = a_hat / a_hat.sum(dim=-1, keepdim=True)
        rollout = a_hat @ rollout  # later layers multiply on the left
    return rollout


def gradient_weighted_relevance(
    attentions: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Chefer et al. (2021) generic rule: R_0 = I, R <- R + E_h[(grad_l * A_l)^+] R for l = 1..L -> (B, T, T)."""
    _, batch, _, tokens = check_attentions(attentions)
    if len(gradients) != len(attentions) or any(g.shape != a.shape for g, a in zip(gradients, attentions)):
        raise ValueError("gradients must match attentions: one (B, heads, T, T) tensor per layer, same shapes.")
    relevance = torch.eye(tokens, dtype=attentions[0].dtype, device=attentions[0].device).repeat(batch, 1, 1)
    for weights, grad in zip(attentions, gradients):
        cam = (grad.detach() * weights.detach()).clamp(min=0).mean(dim=1)  # (B, T, T)
        relevance = relevance + cam @ relevance
    return relevance


def resolve_target_classes(target_class, batch: int, num_classes: int) -> torch.Tensor:
    """One class index per image from an int, a sequence or a tensor; clear errors otherwise."""
    target = torch.as_tensor(target_class)
    if target.is_floating_point() or target.is_complex() or target.ndim > 1:
        raise TypeError(f"target_class must be an int or B ints, got {target_class!r}.")
    target = target.long().expand(batch) if target.ndim == 0 else target.long()
    if target.shape != (batch,):
        raise ValueError(f"target_class must be one int or {batch} ints (one per image), got {target.numel()}.")
    if target.min() < 0 or target.max() >= num_classes:
        raise ValueError(f"target_class must be in 0..{num_classes - 1}, got {target_class!r}.")
    return target


def gradient_weighted_attention(
    model: torch.nn.Module, images: torch.Tensor, target_class: int | Sequence[int] | torch.Tensor | None = None
) -> torch.Tensor:
    """Gradient-weighted attention relevance for class c (Chefer et al., 2021, generic form).

    Runs ``model(images, return_attention=True)`` in eval mode (the previous mode is restored),
    takes dy_c/dA_l with ``torch.autograd.grad`` (no ``.grad`` is written to the parameters)
    and applies :func:`gradient_weighted_relevance`.

    Args:
        model: a model like ``vit_edu.ViT`` returning ``(logits (B, K), attentions)``.
        images: (B, C, H, W).
        target_class: c, one int for all images or one per image; ``None`` = the predicted class.

    Returns:
        R (B, T, T), detached; ``class_token_map(R)`` is the (B, N) map for the class token.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            images = images.detach().requires_grad_(True)  # keeps A in the graph even for frozen weights
            logits, attentions = model(images, return_attention=True)  # (B, K), L x (B, k, T, T)
            if target_class is None:
                target = logits.argmax(dim=-1)  # (B,)
            else:
                target = resolve_target_classes(target_class, *logits.shape).to(logits.device)  # (B,)
            score = logits.gather(1, target[:, None]).sum()  # images do not interact, so one backward serves all
            gradients = torch.autograd.grad(score, list(attentions))
    finally:
        model.train(was_training)
    return gradient_weighted_relevance(list(attentions), list(gradients))


def mean_attention_distance(
    attentions: Sequence[torch.Tensor], grid_size: Size2d, patch_size: Size2d
) -> torch.Tensor:
    """Mean attention distance in pixels per layer and head (paper §4.5, Fig. 7 right) -> (L, k).

    For each query patch i: sum_j w_ij * ||centre_i - centre_j|| over key patches j, where w are
    that row's weights on patches renormalised to sum to 1 (the class token is left out as
    query and key); then the mean over queries and images.
    """
    tokens = check_attentions(attentions)[3]
    grid, patch = to_2tuple(grid_size, "grid_size"), to_2tuple(patch_size, "patch_size")
    if grid[0] * grid[1] != tokens - 1:
        raise ValueError(f"grid_size {grid} has {grid[0] * grid[1]} patches but the attention has N = {tokens - 1}.")
    rows, cols = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    centres = torch.stack([rows.flatten() * patch[0], cols.flatten() * patch[1]], dim=-1).double()  # (N, 2)
    stacked = torch.stack([a.detach().double() for a in attentions])[..., 1:, 1:]  # (L, B, k, N, N)
    distance = torch.cdist(centres, centres).to(stacked.device)  # (N, N) pixels
    weights = stacked / stacked.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    per_query = (weights * distance).sum(dim=-1)  # (L, B, k, N)
    return per_query.mean(dim=(1, 3)).to(attentions[0].dtype)  # (L, k)
