"""Checks for the self-attention lesson: write attention, split the heads, count its memory.

Each check runs the student's function on small inputs, compares with an independent
reference and, when the answer is wrong, compares it with the answers that typical mistakes
produce (no 1/sqrt(d), softmax over the wrong axis, the class token forgotten, ...) to say
which one it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange

from vit_edu.exercises.feedback import Feedback, close, hint_on_crash, judge, run_for_number, run_for_tensor


# --------------------------------------------------------------------------- attention
def _attention_mistakes(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> dict[str, tuple[torch.Tensor, str]]:
    """{code: (the output the mistake gives, the hint for it)}."""
    d, t = q.shape[-1], q.shape[-2]
    raw = q @ k.transpose(-2, -1)  # (..., T, T)
    return {
        "no_scale": (raw.softmax(-1) @ v, "the scores are not scaled: divide q k^T by sqrt(d) (d = q.shape[-1]) "
                     "before the softmax."),
        "scale_by_d": ((raw / d).softmax(-1) @ v, "you divided by d; the scale is 1 / sqrt(d), which keeps the "
                       "variance of q . k at 1."),
        "multiplied": ((raw * math.sqrt(d)).softmax(-1) @ v, "you multiplied the scores by sqrt(d); divide by it "
                       "instead."),
        "scale_by_seq_len": ((raw / math.sqrt(t)).softmax(-1) @ v, "you scaled by sqrt(T), the sequence length; the "
                             "scale is 1 / sqrt(d), d = q.shape[-1], the width of q and k."),
        "softmax_wrong_axis": ((raw / math.sqrt(d)).softmax(-2) @ v, "the softmax runs over the wrong axis: each "
                               "query's weights over the keys (a row) must sum to 1, so use softmax(dim=-1)."),
        "no_softmax": ((raw / math.sqrt(d)) @ v, "the softmax is missing: A = softmax(q k^T / sqrt(d)), then A v."),
    }


def check_attention(function: Callable[..., torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(q, k, v) -> out``, scaled dot-product attention (Eq. 6-7).

    The inputs have shape (B, heads, T, d) = (2, 3, 5, 4) so that ``k.T`` (instead of
    ``k.transpose(-2, -1)``) and a wrong softmax axis show up.
    """
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=generator, dtype=torch.float64) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v)  # (2, 3, 5, 4), independent reference
    result, problem = run_for_tensor(function, q.clone(), k.clone(), v.clone())
    if problem is not None:
        return hint_on_crash(problem, "transpose the last two axes of k with k.transpose(-2, -1) (not k.T, which "
                             "reverses every axis of a 4-D tensor).", mentions=("shape", "size"))
    details = {"expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
    if result.shape == (2, 3, 5, 5):
        return Feedback(False, "you returned the attention weights A (T x T); return A v, shape (..., T, d).", details)
    if result.shape != expected.shape:
        return Feedback(False, f"the output has shape {tuple(result.shape)}, expected {tuple(expected.shape)} "
                        "(same as q).", details)
    return judge(result, expected, _attention_mistakes(q, k, v),
                 right="softmax(q k^T / sqrt(d)) v, equal to torch's scaled_dot_product_attention.",
                 advice="Compute scores = q @ k.transpose(-2, -1) / sqrt(d), A = scores.softmax(dim=-1), return A @ v.")


# -------------------------------------------------------------------------- split heads
def check_split_heads(function: Callable[[torch.Tensor, int], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(x, heads)``: (B, T, k d) -> (B, k, T, d), head h = features [h d, (h + 1) d)."""
    generator = torch.Generator().manual_seed(seed)
    for batch, seq_len, heads, head_dim in ((2, 5, 3, 4), (1, 7, 2, 6)):
        x = torch.randn(batch, seq_len, heads * head_dim, generator=generator)  # (B, T, k d)
        expected = x.view(batch, seq_len, heads, head_dim).permute(0, 2, 1, 3)  # (B, k, T, d)
        result, problem = run_for_tensor(function, x.clone(), heads)
        if problem is not None:
            return problem
        details = {"heads": heads, "expected_shape": tuple(expected.shape), "shape": tuple(result.shape)}
        if close(result, expected):
            continue
        if close(result, rearrange(x, "b t (h d) -> b t h d", h=heads)):
            return Feedback(False, "you split the features but kept T before the heads, (B, T, k, d); move the "
                            "head axis forward: 'b t (h d) -> b h t d'.", details)
        if close(result, rearrange(x, "b t (h d) -> b h d t", h=heads)):
            return Feedback(False, "T and d are swapped, (B, k, d, T); the result should be (B, k, T, d).", details)
        if close(result, rearrange(x, "b t (d h) -> b h t d", h=heads)):
            return Feedback(False, "the shape is right but the features are interleaved: you split as '(d h)'. "
                            "Each head owns a contiguous block of d features, so write '(h d)'.", details)
        if result.shape == expected.shape:
            return Feedback(False, "the shape is right but the values are not: head h must hold features "
                            "h*d ... (h+1)*d - 1 of every token.", details)
        return Feedback(False, f"for x of shape {tuple(x.shape)} and heads={heads} the result has shape "
                        f"{tuple(result.shape)}, expected {tuple(expected.shape)}. Use heads (the argument), "
                        "not a fixed number.", details)
    return Feedback(True, "(B, T, k d) -> (B, k, T, d) with each head a contiguous block of d features.")


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


_MEMORY_HINTS = {
    "no_class_token": "you used N = (H/P)^2 tokens; the sequence also holds the class token, T = N + 1.",
    "no_heads": "every head has its own T x T matrix: multiply by the number of heads.",
    "no_batch": "every image in the batch has its own matrices: multiply by the batch size.",
    "linear_in_t": "A is a T x T matrix: the memory grows with T^2, not T.",
    "bits": "you counted bits; the answer is in bytes (4 bytes per float32 value).",
    "elements": "you counted values; multiply by bytes_per_element to get bytes.",
    "patches_per_side": "N is the number of patches in the whole image, (H / P)^2, not per side.",
}


def check_attention_memory(function: Callable[..., int]) -> Feedback:
    """Check ``function(image_size, patch_size, heads, batch, bytes_per_element=4)``: bytes of A."""
    for image_size, patch_size, heads, batch in _MEMORY_CASES:
        args = (image_size, patch_size, heads, batch)
        expected = batch * heads * ((image_size // patch_size) ** 2 + 1) ** 2 * 4
        result, problem = run_for_number(function, "the number of bytes", *args, bytes_per_element=4)
        if problem is not None:
            return problem
        details = {"arguments": args, "expected": expected, "result": result}
        if result == expected:
            continue
        for mistake, value in _memory_variants(*args, 4).items():
            if result == value:
                return Feedback(False, _MEMORY_HINTS[mistake] + f" (image {image_size}, P={patch_size}, "
                                f"{heads} heads, batch {batch}: expected {expected:,} bytes, got {result:,}.)",
                                {**details, "mistake": mistake})
        return Feedback(False, f"for image {image_size}, P={patch_size}, {heads} heads, batch {batch} the answer is "
                        f"B * heads * T^2 * bytes with T = (H/P)^2 + 1; you returned {result:,}.", details)
    return Feedback(True, "B * heads * T^2 * bytes, with T = N + 1 including the class token.")
