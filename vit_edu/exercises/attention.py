"""Checks for the self-attention lesson: attention with a mask, the entropy of attention weights, the memory
of A.

Each check runs the student's function on small inputs, compares with an independent
reference and, when the answer is wrong, compares it with the answers that typical mistakes
produce (an inverted mask, blocked scores set to 0 instead of -inf, 0 log 0 computed as NaN,
the class token forgotten, ...) to say which one it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vit_edu.exercises.feedback import Feedback, hint_on_crash, judge, run_for_number, run_for_tensor
from vit_edu.language import tr

# --------------------------------------------------------------------------- masked attention
# A fixed mask where every row and every column allows some keys and blocks others, so that an inverted
# mask or a softmax over the wrong axis gives finite, recognisable answers. True = may attend.
_MIXED_MASK = torch.tensor([[1, 0, 1, 0, 0],
                            [0, 1, 1, 0, 1],
                            [1, 1, 0, 0, 1],
                            [0, 0, 1, 1, 0],
                            [1, 0, 0, 1, 1]], dtype=torch.bool)


def _masked_attention_mistakes(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
                               ) -> dict[str, tuple[torch.Tensor, str]]:
    """{code: (the output the mistake gives, the hint for it)}, most specific first."""
    d = q.shape[-1]
    raw = q @ k.transpose(-2, -1)  # (..., T, T)
    scores = raw / math.sqrt(d)
    blocked = float("-inf")
    return {
        "inverted": (scores.masked_fill(mask, blocked).softmax(-1) @ v, tr(
            "the mask is inverted: in PyTorch's convention (attn_mask of F.scaled_dot_product_attention) True means "
            "*may attend*, so block the scores where the mask is False: scores.masked_fill(~mask, float('-inf')).")),
        "zero_fill": (scores.masked_fill(~mask, 0.0).softmax(-1) @ v, tr(
            "the blocked scores became 0 (filled with 0 or multiplied by the mask), but exp(0) = 1, so blocked keys "
            "still get weight. Set them to -inf: the softmax then gives them exactly 0.")),
        "mask_after_softmax": ((scores.softmax(-1) * mask) @ v, tr(
            "you masked after the softmax, so each row's weights no longer sum to 1. Mask the scores before the "
            "softmax.")),
        "mask_added": ((scores + mask.to(scores.dtype)).softmax(-1) @ v, tr(
            "you added the boolean mask as numbers (+1 where allowed). An additive (float) mask must hold 0 where "
            "attention is allowed and -inf where it is blocked; with a boolean mask, use masked_fill(~mask, "
            "float('-inf')).")),
        "no_mask": (scores.softmax(-1) @ v, tr(
            "the mask is ignored: blocked keys still get weight. Fill the scores where the mask is False with -inf "
            "before the softmax.")),
        "no_scale": (raw.masked_fill(~mask, blocked).softmax(-1) @ v, tr(
            "the mask is right but the scores are not scaled: divide q k^T by sqrt(d) (d = q.shape[-1]) before the "
            "softmax.")),
        "scale_by_d": ((raw / d).masked_fill(~mask, blocked).softmax(-1) @ v, tr(
            "the mask is right but you divided by d; the scale is 1 / sqrt(d).")),
        "softmax_wrong_axis": (scores.masked_fill(~mask, blocked).softmax(-2) @ v, tr(
            "the softmax runs over the wrong axis: each query's weights over the keys (a row) must sum to 1: "
            "softmax(dim=-1).")),
    }


def check_masked_attention(function: Callable[..., torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(q, k, v, mask) -> out``: attention where query i may attend to key j only where
    ``mask[i, j]`` is True (the boolean ``attn_mask`` of ``F.scaled_dot_product_attention``).

    The inputs have shape (B, heads, T, d) = (2, 3, 5, 4) and the masks (T, T): one with allowed and blocked keys
    in every row and column (it tells the typical mistakes apart), then a causal mask.
    """
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=generator, dtype=torch.float64) for _ in range(3))
    causal = torch.ones(5, 5, dtype=torch.bool).tril()  # query i sees keys 0..i
    masks = (("a mask with allowed and blocked keys in every row",
              tr("a mask with allowed and blocked keys in every row"), _MIXED_MASK),
             ("a causal mask", tr("a causal mask"), causal))
    for name, words, mask in masks:
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (2, 3, 5, 4), independent reference
        result, problem = run_for_tensor(function, q.clone(), k.clone(), v.clone(), mask.clone())
        if problem is not None:
            return hint_on_crash(problem, tr("transpose the last two axes of k with k.transpose(-2, -1) (not k.T, "
                                             "which reverses every axis of a 4-D tensor); the (T, T) mask broadcasts "
                                             "over the batch and head axes as it is."), mentions=("shape", "size"))
        details = {"case": name, "expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
        if result.shape == (2, 3, 5, 5):
            return Feedback(False, tr("you returned the attention weights A (T x T); return A v, shape (..., T, d)."),
                            {**details, "mistake": "weights"})
        if result.shape == expected.shape and not torch.isfinite(result).all():
            return Feedback(False, tr("with {name} your output contains NaN: a row whose every score is -inf, or -inf "
                                      "multiplied by 0 (masking twice), gives NaN. Fill the blocked scores with -inf "
                                      "once, before the softmax.", name=words), {**details, "mistake": "not_finite"})
        feedback = judge(result, expected, _masked_attention_mistakes(q, k, v, mask), right="",
                         what=tr("the output"), advice=tr("Compute scores = q @ k.transpose(-2, -1) / sqrt(d), "
                         "scores.masked_fill(~mask, float('-inf')), softmax over the last axis, then @ v."))
        if not feedback.passed:
            return Feedback(False, tr("with {name}: {message}", name=words, message=feedback.message),
                            {**details, **feedback.details})
    return Feedback(True, tr("blocked scores set to -inf before the softmax, so blocked keys get exactly 0 weight; "
                             "equal to F.scaled_dot_product_attention(q, k, v, attn_mask=mask), with a causal mask "
                             "too."))


# --------------------------------------------------------------------- attention entropy
def _entropy_weights(seed: int) -> torch.Tensor:
    """Attention weights (B, heads, T, T) = (2, 3, 5, 5) with exact zeros (a causal mask), one one-hot row and one
    uniform row, so that 0 log 0 and the range [0, log T] are both exercised."""
    generator = torch.Generator().manual_seed(seed)
    scores = 2 * torch.randn(2, 3, 5, 5, generator=generator, dtype=torch.float64)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    weights = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)  # row i: keys 0..i, zeros after
    weights[0, 0, 4] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)  # one-hot: entropy 0
    weights[0, 1, 4] = torch.full((5,), 0.2, dtype=torch.float64)  # uniform: entropy log 5
    return weights


def reference_attention_entropy(weights: torch.Tensor) -> torch.Tensor:
    """-sum_j A_ij ln A_ij over the keys, with 0 ln 0 = 0: (..., T, T) -> (..., T), in nats."""
    return -torch.special.xlogy(weights, weights).sum(dim=-1)


def check_attention_entropy(function: Callable[[torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(A (..., T, T)) -> (..., T)``: the entropy of each query's attention weights, in nats."""
    weights = _entropy_weights(seed)
    expected = reference_attention_entropy(weights)  # (2, 3, 5)
    result, problem = run_for_tensor(function, weights.clone())
    if problem is not None:
        return problem
    details = {"expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
    if result.shape == expected.shape and torch.isnan(result).any():
        return Feedback(False, tr("NaN where a query gives a key weight 0: 0 * log(0) is 0 * -inf = NaN in floating "
                                  "point, but its limit is 0. Use torch.special.xlogy(A, A) (which is 0 where A is 0), "
                                  "or torch.where(A > 0, A * A.log(), 0)."), {**details, "mistake": "nan_from_zeros"})
    if result.shape == expected.shape[:-1]:
        return Feedback(False, tr("the result has shape {shape}: you averaged (or summed) over the queries too. "
                                  "Return one entropy per query, shape (..., T).", shape=tuple(result.shape)),
                        {**details, "mistake": "one_value"})
    sum_over_queries = -torch.special.xlogy(weights, weights).sum(dim=-2)
    mistakes = {
        "sign": (-expected, tr("the entropies are negative: H = -sum_j A_ij log A_ij (with the minus sign), and it "
                               "lies between 0 (one key takes everything) and log T (uniform weights).")),
        "bits": (expected / math.log(2), tr("you measured in bits (log2); the lesson uses nats, the natural log: "
                                            "uniform weights over T keys give log T.")),
        "log10": (expected / math.log(10), tr("you used log10; use the natural log (torch.log), entropy in nats.")),
        "mean_over_keys": (expected / weights.shape[-1], tr("you averaged A log A over the keys; the entropy is the "
                                                            "sum over the keys.")),
        "wrong_axis": (sum_over_queries, tr("you summed over the queries (dim=-2); each query's weights are a row of "
                                            "A, so sum over the keys, dim=-1.")),
    }
    return judge(result, expected, mistakes, right=tr("one entropy per query, 0 log 0 = 0: the one-hot row has entropy "
                 "0, the uniform row log 5 = 1.61 nats, and a causal row i at most log(i + 1)."),
                 what=tr("the entropy"), advice=tr("H_i = -sum_j A_ij ln A_ij over the last axis, with 0 ln 0 = 0."))


# ------------------------------------------------------------------------- memory of A
_MEMORY_CASES = (  # image size, patch size, heads, batch
    (224, 16, 12, 1),
    (224, 8, 12, 2),
    (32, 4, 4, 8),
)


def _memory_variants(image_size: int, patch_size: int, heads: int, batch: int, bpe: int) -> dict[str, int]:
    n = (image_size // patch_size) ** 2
    t = n + 1
    return {
        "no_class_token": batch * heads * n * n * bpe,
        "no_heads": batch * t * t * bpe,
        "no_batch": heads * t * t * bpe,
        "linear_in_t": batch * heads * t * bpe,
        "bits": batch * heads * t * t * bpe * 8,
        "elements": batch * heads * t * t,
        "patches_per_side": batch * heads * (image_size // patch_size + 1) ** 2 * bpe,
    }


def _memory_hints() -> dict[str, str]:
    """{mistake: the hint for it}."""
    return {
        "no_class_token": tr("you used N = (H/P)^2 tokens; the sequence also holds the class token, T = N + 1."),
        "no_heads": tr("every head has its own T x T matrix: multiply by the number of heads."),
        "no_batch": tr("every image in the batch has its own matrices: multiply by the batch size."),
        "linear_in_t": tr("A is a T x T matrix: the memory grows with T^2, not T."),
        "bits": tr("you counted bits; the answer is in bytes (4 bytes per float32 value)."),
        "elements": tr("you counted values; multiply by bytes_per_element to get bytes."),
        "patches_per_side": tr("N is the number of patches in the whole image, (H / P)^2, not per side."),
    }


def check_attention_memory(function: Callable[..., int]) -> Feedback:
    """Check ``function(image_size, patch_size, heads, batch, bytes_per_element=4)``: bytes of A."""
    for image_size, patch_size, heads, batch in _MEMORY_CASES:
        args = (image_size, patch_size, heads, batch)
        expected = batch * heads * ((image_size // patch_size) ** 2 + 1) ** 2 * 4
        result, problem = run_for_number(function, tr("the number of bytes"), *args, bytes_per_element=4)
        if problem is not None:
            return problem
        details = {"arguments": args, "expected": expected, "result": result}
        if result == expected:
            continue
        for mistake, value in _memory_variants(*args, 4).items():
            if result == value:
                return Feedback(False, tr("{hint} (image {image_size}, P={patch_size}, {heads} heads, batch {batch}: "
                                          "expected {expected:,} bytes, got {result:,}.)",
                                          hint=_memory_hints()[mistake], image_size=image_size,
                                          patch_size=patch_size, heads=heads, batch=batch, expected=expected,
                                          result=result),
                                {**details, "mistake": mistake})
        return Feedback(False, tr("for image {image_size}, P={patch_size}, {heads} heads, batch {batch} the answer is "
                                  "B * heads * T^2 * bytes with T = (H/P)^2 + 1; you returned {result:,}.",
                                  image_size=image_size, patch_size=patch_size, heads=heads, batch=batch,
                                  result=result), details)
    return Feedback(True, tr("B * heads * T^2 * bytes, with T = N + 1 including the class token."))
