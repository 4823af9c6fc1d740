"""Checks for the class-token-and-positions lesson: pooling with a class token and register tokens,
the cosine-similarity grid of position embeddings, and linear interpolation of a sequence of
position embeddings written out.

Each check compares with an independent reference and recognises typical mistakes (the last
token read as the class token, registers averaged with the patches, unnormalised dot products,
corners aligned instead of centres, the class token interpolated, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from vit_edu.exercises.feedback import Feedback, close, hint_on_crash, run_for_tensor
from vit_edu.language import tr


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """:func:`close`, looser: a right float32 answer computed another way than the reference differs in its last
    digits (normalise then multiply versus ``F.cosine_similarity``, another interpolation kernel)."""
    return close(a, b, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------- pooling
_POOL_CASES = ((3, 1, 4, 6), (2, 5, 6, 4))  # (B, prefix tokens, N patches, D): a plain ViT, then 4 registers


def _pool_mistakes(tokens: torch.Tensor, pool: str, prefix: int) -> list[tuple[torch.Tensor, str, str]]:
    """(the answer a typical mistake gives, its code, the hint), most specific first."""
    if pool == "cls":
        return [
            (tokens[:, -1], "last_token", tr("you read the last token; the class token is prepended, so it sits at "
                                             "index 0 of the sequence (Eq. 4 reads z_L^0).")),
            (tokens[:, prefix], "first_patch", tr("that is the first patch token (index num_prefix); the class token "
                                                  "sits at index 0, before the registers and the patches.")),
            (tokens[:, 1], "second_token", tr("that is token 1; the class token sits at index 0.")),
        ]
    return [
        (tokens.mean(dim=1), "all_tokens", tr("you averaged every token, the class token and the registers too; "
                                              "pool='mean' averages only the N patch tokens, tokens[:, num_prefix:].")),
        (tokens[:, 1:].mean(dim=1), "registers_kept", tr("you left out the class token but kept the registers; they "
                                                         "are not patches either: average tokens[:, num_prefix:].")),
        (tokens[:, prefix:].sum(dim=1), "sum", tr("you summed the patch tokens; take their mean (divide by N).")),
        (tokens[:, prefix:-1].mean(dim=1), "last_patch_dropped", tr("you left out the last patch: "
                                                                    "tokens[:, num_prefix:] runs to the end of the "
                                                                    "sequence.")),
    ]


def check_pool_tokens(function: Callable[[torch.Tensor, str, int], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(tokens (B, num_prefix + N, D), pool, num_prefix) -> (B, D)`` for ``pool`` in
    ``("cls", "mean")``: the class token is token 0, tokens 1 .. num_prefix - 1 are registers, the rest patches."""
    generator = torch.Generator().manual_seed(seed)
    for batch, prefix, num_patches, dim in _POOL_CASES:
        tokens = torch.randn(batch, prefix + num_patches, dim, generator=generator, dtype=torch.float64)
        case = f"B={batch}, num_prefix={prefix}, N={num_patches}, D={dim}"
        for pool, expected in (("cls", tokens[:, 0]), ("mean", tokens[:, prefix:].mean(dim=1))):
            result, problem = run_for_tensor(function, tokens.clone(), pool, prefix)
            if problem is not None:
                return problem
            details = {"case": case, "pool": pool, "expected_shape": tuple(expected.shape),
                       "shape": tuple(result.shape)}
            words = tr("pool={pool!r} with {case}", pool=pool, case=case)
            if _close(result, expected):
                continue
            if pool == "cls" and result.shape == (batch, 1, dim) and _close(result[:, 0], expected):
                return Feedback(False, tr("{words}: tokens[:, :1] keeps the sequence axis, (B, 1, D); the head needs "
                                          "(B, D): tokens[:, 0].", words=words), {**details, "mistake": "kept_axis"})
            if pool == "mean" and result.shape in ((batch, prefix + num_patches), (batch, num_patches)):
                return Feedback(False, tr("{words}: you averaged over the features (dim=-1); average over the tokens, "
                                          "the sequence axis dim=1.", words=words),
                                {**details, "mistake": "feature_axis"})
            if pool == "mean" and result.shape == (prefix + num_patches, dim):
                return Feedback(False, tr("{words}: you averaged over the batch (dim=0); average over the tokens, "
                                          "dim=1, one vector per image.", words=words),
                                {**details, "mistake": "batch_axis"})
            if result.shape != expected.shape:
                return Feedback(False, tr("{words}: the result has shape {shape}, expected (B, D) = {expected}.",
                                          words=words, shape=tuple(result.shape), expected=tuple(expected.shape)),
                                {**details, "mistake": "shape"})
            for answer, code, hint in _pool_mistakes(tokens, pool, prefix):
                if _close(result, answer):
                    return Feedback(False, tr("pool={pool!r} with {case}: {hint}", pool=pool, case=case, hint=hint),
                                    {**details, "mistake": code})
            rule = "tokens[:, 0]" if pool == "cls" else "tokens[:, num_prefix:].mean(dim=1)"
            return Feedback(False, tr("{words}: the shape is right but the values are not; expected {rule}.",
                                      words=words, rule=rule), {**details, "mistake": "values"})
    return Feedback(True, tr("pool='cls' reads token 0, the class token, wherever the registers are; pool='mean' "
                             "averages only the patch tokens, tokens[:, num_prefix:]."))


# ---------------------------------------------------------------- similarity grid
def check_cosine_similarity_grid(function: Callable[[torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(pos_embed (1, 1 + N, D)) -> (N, N)`` cosine similarities of the patches' embeddings."""
    generator = torch.Generator().manual_seed(seed)
    num_patches, dim = 6, 5
    pos_embed = torch.randn(1, 1 + num_patches, dim, generator=generator) + 0.5  # nonzero mean: catches centring
    patches = pos_embed[0, 1:]  # (N, D)
    expected = F.cosine_similarity(patches[:, None], patches[None], dim=-1)  # (N, N), reference
    result, problem = run_for_tensor(function, pos_embed.clone())
    if problem is not None:
        return problem
    details = {"expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
    if result.shape == (num_patches + 1, num_patches + 1):
        return Feedback(False, tr("the grid includes the class token (row 0 of pos_embed); use pos_embed[0, 1:], the "
                                  "N patch embeddings."), details)
    if result.shape != expected.shape:
        return Feedback(False, tr("the result has shape {shape}, expected (N, N) = {expected} for pos_embed of shape "
                                  "(1, 1 + N, D).", shape=tuple(result.shape), expected=tuple(expected.shape)),
                        details)
    if _close(result, expected):
        return Feedback(True, tr("cosine similarity of every pair of patch position embeddings; the diagonal is 1."),
                        details)
    if _close(result, patches @ patches.T):
        return Feedback(False, tr("these are dot products; divide by both vectors' lengths (normalise each row to "
                                  "length 1 first), so that the diagonal is 1."), details)
    by_tokens = F.normalize(patches, dim=0)  # normalised over the wrong axis
    if _close(result, by_tokens @ by_tokens.T):
        return Feedback(False, tr("you normalised each feature over the tokens (dim=0); normalise each token's "
                                  "embedding over its D features (dim=-1)."), details)
    centred = patches - patches.mean(dim=-1, keepdim=True)
    if _close(result, F.cosine_similarity(centred[:, None], centred[None], dim=-1)):
        return Feedback(False, tr("you subtracted the mean (a correlation); the cosine similarity uses the vectors as "
                                  "they are."), details)
    return Feedback(False, tr("the shape is right but the values are not: cos(a, b) = a . b / (|a| |b|) for every "
                              "pair of patch embeddings."), details)


# -------------------------------------------------------------------- resampling
_RESAMPLE_CASES = ((4, 6), (6, 4), (3, 7), (5, 5))  # (old length L, new length L'): up, down, and unchanged


def _linear_1d(table: torch.Tensor, new_length: int, *, align_corners: bool = False, half_pixel: bool = True,
               clamp: bool = True, ratio_inverted: bool = False) -> torch.Tensor:
    """Linear interpolation of the rows of ``table`` (L, D) -> (L', D), written out; the flags give the mistakes."""
    old = table.shape[0]
    index = torch.arange(new_length, dtype=table.dtype)
    if align_corners:
        x = index * (old - 1) / max(1, new_length - 1)
    else:
        scale = new_length / old if ratio_inverted else old / new_length
        x = (index + 0.5) * scale - 0.5 if half_pixel else index * scale
    if clamp:
        x = x.clamp(0, old - 1)
    left = x.floor().long().clamp(0, old - 2)
    weight = (x - left)[:, None]  # (L', 1); outside [0, 1] when not clamped: extrapolation
    return (1 - weight) * table[left] + weight * table[left + 1]


def _with_class_token(pos_embed: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return torch.cat([pos_embed[:, :1], rows[None]], dim=1)


def _resample_1d_mistakes(pos_embed: torch.Tensor, new_length: int) -> list[tuple[torch.Tensor, str, str]]:
    """(the answer a typical mistake gives, its code, the hint), most specific first."""
    table = pos_embed[0, 1:]  # (L, D)
    old = table.shape[0]
    nearest = table[torch.floor(torch.arange(new_length) * old / new_length).long()]
    nearest_centres = table[torch.floor((torch.arange(new_length) + 0.5) * old / new_length).long().clamp(max=old - 1)]
    whole = _linear_1d(pos_embed[0], new_length + 1)  # the class token's row interpolated with the patches
    nearest_hint = tr("you copied the nearest embedding; interpolate linearly between the two old embeddings "
                      "around x, weighted by the distance.")
    return [
        (_with_class_token(pos_embed, _linear_1d(table, new_length, align_corners=True)), "align_corners",
         tr("you pinned the first and last embeddings to the ends (align_corners=True, the paper's JAX code does "
            "that). Here each embedding sits at the centre of its cell: new cell i has its centre at (i + 0.5) L / L' "
            "- 0.5 in old cells.")),
        (_with_class_token(pos_embed, _linear_1d(table, new_length, half_pixel=False)), "no_half_pixel",
         tr("you mapped new cell i to i L / L' in old cells, which lines up the left edges, not the centres: use "
            "(i + 0.5) L / L' - 0.5.")),
        (_with_class_token(pos_embed, _linear_1d(table, new_length, ratio_inverted=True)), "ratio_inverted",
         tr("the ratio is upside down: a new cell spans L / L' old cells, so x = (i + 0.5) L / L' - 0.5.")),
        (_with_class_token(pos_embed, _linear_1d(table, new_length, clamp=False)), "no_clamp",
         tr("at the ends your positions fall outside the old table and you extrapolated; clamp x to [0, L - 1], so "
            "the first and last new cells copy the end embeddings.")),
        (_with_class_token(pos_embed, nearest), "nearest", nearest_hint),
        (_with_class_token(pos_embed, nearest_centres), "nearest", nearest_hint),
        (whole[None], "class_token_interpolated", tr("you interpolated the class token's row together with the "
                                                     "patches; it has no place in the sequence of patches: copy row 0 "
                                                     "unchanged and interpolate only rows 1..")),
    ]


@contextmanager
def _interpolate_refused():
    """Inside, ``F.interpolate`` raises: the exercise asks for the interpolation written out."""
    original = F.interpolate

    def refuse(*args, **kwargs):
        raise _UsedInterpolate

    F.interpolate = refuse
    try:
        yield
    finally:
        F.interpolate = original


class _UsedInterpolate(Exception):
    pass


def check_resample_1d(function: Callable[[torch.Tensor, int], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(pos_embed (1, 1 + L, D), new_length) -> (1, 1 + L', D)``: linear interpolation of the L
    patch embeddings, each at the centre of its cell (``align_corners=False``), the class token's row kept.

    The reference is ``F.interpolate(mode="linear", align_corners=False)``; the student's function must not call
    ``F.interpolate`` (the check makes it raise while the function runs).
    """
    generator = torch.Generator().manual_seed(seed)
    dim = 3
    for old, new in _RESAMPLE_CASES:
        pos_embed = torch.randn(1, 1 + old, dim, generator=generator, dtype=torch.float64)
        rows = F.interpolate(pos_embed[:, 1:].transpose(1, 2), size=new, mode="linear", align_corners=False)
        expected = _with_class_token(pos_embed, rows[0].T)  # (1, 1 + L', D)
        with _interpolate_refused():
            result, problem = run_for_tensor(function, pos_embed.clone(), new)
        case = f"L={old} -> L'={new}"
        details = {"case": case, "expected_shape": tuple(expected.shape)}
        if problem is not None and "_UsedInterpolate" in problem.details.get("error", ""):
            return Feedback(False, tr("your function calls F.interpolate; this exercise asks you to compute the "
                                      "positions and weights yourself (F.interpolate is what the check compares "
                                      "with)."), {**details, "mistake": "used_interpolate"})
        if problem is not None:
            return hint_on_crash(problem, tr("index the table with a LongTensor of positions (x.floor().long()), and "
                                             "keep the right neighbour inside the table (at most L - 1)."),
                                 mentions=("index", "bounds"))
        details["shape"] = tuple(result.shape)
        if _close(result, expected):
            continue
        if result.shape == (1, new, dim):
            return Feedback(False, tr("for {case} the class token's row is missing: the result needs 1 + L' rows; put "
                                      "pos_embed[:, :1], unchanged, in front.", case=case),
                            {**details, "mistake": "class_token_dropped"})
        if result.shape == (new, dim):
            return Feedback(False, tr("for {case} you returned the (L', D) table; add the class token's row in front "
                                      "and the leading axis of 1: (1, 1 + L', D).", case=case),
                            {**details, "mistake": "shape"})
        if result.shape != expected.shape:
            return Feedback(False, tr("for {case} the result has shape {shape}, expected (1, 1 + L', D) = {expected}.",
                                      case=case, shape=tuple(result.shape), expected=tuple(expected.shape)),
                            {**details, "mistake": "shape"})
        for answer, code, hint in _resample_1d_mistakes(pos_embed, new):
            if _close(result, answer):
                return Feedback(False, tr("for {case}: {hint}", case=case, hint=hint), {**details, "mistake": code})
        if not _close(result[:, :1], pos_embed[:, :1]):
            return Feedback(False, tr("for {case} the class token's row changed; copy row 0 as it is.", case=case),
                            {**details, "mistake": "class_token_changed"})
        return Feedback(False, tr("for {case} the shape is right but the values are not: new cell i sits at x = "
                                  "(i + 0.5) L / L' - 0.5 in old cells (clamped to [0, L - 1]); blend the embeddings "
                                  "at floor(x) and floor(x) + 1 with weights 1 - (x - floor(x)) and x - floor(x).",
                                  case=case), {**details, "mistake": "values"})
    return Feedback(True, tr("linear interpolation with each embedding at the centre of its cell, the class token "
                             "kept: equal to F.interpolate(mode='linear', align_corners=False). 2-D bilinear "
                             "resampling is this step along the rows, then along the columns."))
