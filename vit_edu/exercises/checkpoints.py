"""Checks for the pretrained-checkpoints lesson: convert weights between layouts by hand.

Each check judges the student's tensor by what it *computes* (an independent reference: a real
``Conv2d``, or the projection a Flax ``DenseGeneral`` kernel defines), and when it is wrong, compares
it with the answers that typical mistakes produce (split along the wrong axis, channels flattened
first, a forgotten transpose, ...) to say which one it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange

from vit_edu.exercises.feedback import (
    Feedback,
    as_tensor,
    close,
    function_name,
    known_mistake,
    run_for_tensor,
    run_student_code,
)


# ------------------------------------------------------------------------------ fused qkv
def check_split_qkv(function: Callable[[torch.Tensor], tuple], seed: int = 0) -> Feedback:
    """Check ``function(qkv_weight) -> (w_q, w_k, w_v)``: a fused (3D, D) weight into three (D, D).

    timm stores ``attn.qkv.weight`` as the query, key and value weights stacked along the rows
    (the output axis), in that order; transformers stores them separately.
    """
    dim = 6
    generator = torch.Generator().manual_seed(seed)
    w_q, w_k, w_v = (torch.randn(dim, dim, generator=generator) for _ in range(3))
    fused = torch.cat([w_q, w_k, w_v], dim=0)  # (3D, D)
    result, problem = run_student_code(function, fused.clone())
    if problem is not None:
        return problem
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else type(result).__name__
        return Feedback(False, f"`{function_name(function)}` must return three tensors (w_q, w_k, w_v), got {got}.")
    parts = []
    for part in result:
        part, problem = as_tensor(part, function)
        if problem is not None:
            return problem
        parts.append(part)
    shapes = [tuple(p.shape) for p in parts]
    details = {"shapes": shapes, "expected_shape": (dim, dim)}
    expected = (w_q, w_k, w_v)
    if all(close(p, e) for p, e in zip(parts, expected)):
        return Feedback(True, "rows 0..D-1 are W_q, D..2D-1 W_k, 2D..3D-1 W_v: qkv.chunk(3, dim=0).", details)
    if shapes == [(3 * dim, dim // 3)] * 3:
        return Feedback(False, "you split the columns (the input axis, dim=1). A Linear weight is (out, in) and "
                        "q, k, v are stacked along the outputs: split dim=0.", {**details, "mistake": "wrong_axis"})
    if all(close(p, e.T) for p, e in zip(parts, expected)):
        return Feedback(False, "each part is transposed. Keep PyTorch's (out, in) layout: no .T after splitting.",
                        {**details, "mistake": "transposed"})
    for order in ((1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)):
        if all(close(parts[i], expected[j]) for i, j in enumerate(order)):
            return Feedback(False, "the three blocks are right but in the wrong order: the fused weight is "
                            "[W_q; W_k; W_v], so return (q, k, v) in that order.", {**details, "mistake": "order"})
    interleaved = fused.reshape(dim, 3, dim).unbind(1)
    if all(close(p, e) for p, e in zip(parts, interleaved)):
        return Feedback(False, "you took every third row (reshape(D, 3, D)); the three weights are stacked as "
                        "blocks, not interleaved: reshape(3, D, D) or chunk(3, dim=0).",
                        {**details, "mistake": "interleaved"})
    if shapes != [(dim, dim)] * 3:
        return Feedback(False, f"for a ({3 * dim}, {dim}) fused weight each part must be ({dim}, {dim}); got {shapes}.",
                        details)
    return Feedback(False, "the shapes are right but the values are not: W_q is rows 0..D-1 of the fused weight, "
                    "W_k the next D rows, W_v the last D rows.", details)


# ------------------------------------------------------------------------ conv -> dense
def _conv_mistakes(conv_weight: torch.Tensor) -> dict[str, tuple[torch.Tensor, str]]:
    """{code: (the weight the mistake gives, the hint for it)}."""
    return {
        "channels_first": (
            rearrange(conv_weight, "d c p1 p2 -> d (c p1 p2)"),
            "you flattened each filter as (C, P, P), e.g. with reshape(D, -1). patchify flattens a patch row by row, "
            "and inside a pixel channel by channel: (P, P, C). Move C last first: permute(0, 2, 3, 1), then "
            "reshape(D, -1)."),
        "rows_columns_swapped": (
            rearrange(conv_weight, "d c p1 p2 -> d (p2 p1 c)"),
            "rows and columns are swapped: a patch is read row by row, so the order is (p1 p2 c) with p1 the row "
            "inside the patch."),
        "transposed": (
            rearrange(conv_weight, "d c p1 p2 -> (p1 p2 c) d"),
            "this is the (in, out) = (P^2 C, D) layout of a Flax Dense kernel; a PyTorch Linear weight is "
            "(out, in) = (D, P^2 C): transpose it."),
        "transposed_channels_first": (
            rearrange(conv_weight, "d c p1 p2 -> (c p1 p2) d"),
            "two problems: the result is (in, out) instead of (out, in), and the channels come first instead of last "
            "in each patch."),
    }


def check_conv_to_dense(function: Callable[[torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(conv_weight) -> dense_weight``: a (D, C, P, P) Conv2d kernel to the (D, P^2 C)
    weight of a Linear applied to flattened patches (``patchify`` order: rows, columns, channels).

    The reference is behavioural: ``F.conv2d`` with stride P against the Linear on the patches.
    """
    dim, channels, patch = 5, 3, 4
    generator = torch.Generator().manual_seed(seed)
    conv_weight = torch.randn(dim, channels, patch, patch, generator=generator)  # (D, C, P, P)
    images = torch.randn(2, channels, 3 * patch, 2 * patch, generator=generator)  # (B, C, H, W)
    expected_out = F.conv2d(images, conv_weight, stride=patch).flatten(2).transpose(1, 2)  # (B, N, D)
    patches = rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch, p2=patch)  # (B, N, P^2 C)
    result, problem = run_for_tensor(function, conv_weight.clone())
    if problem is not None:
        return problem
    shape = (dim, patch * patch * channels)
    details = {"shape": tuple(result.shape), "expected_shape": shape}
    if tuple(result.shape) == shape and close(patches.double() @ result.double().T, expected_out):
        return Feedback(True, "patches @ W^T equals the strided Conv2d: the same map E, two layouts.", details)
    found = known_mistake(result, _conv_mistakes(conv_weight), details)
    if found is not None:
        return found
    if result.ndim != 2:
        return Feedback(False, f"return a 2-D (D, P^2 C) = {shape} matrix, got shape {tuple(result.shape)}.", details)
    if tuple(result.shape) != shape:
        return Feedback(False, f"the dense weight must be (D, P^2 C) = {shape}, got {tuple(result.shape)}.", details)
    return Feedback(False, "the shape is right but patches @ W^T differs from the convolution: flatten each filter "
                    "in (row, column, channel) order.", details)


# --------------------------------------------------------------- Flax query kernel -> Linear
def _jax_mistakes(kernel: torch.Tensor) -> dict[str, tuple[torch.Tensor, str]]:
    """{code: (the weight the mistake gives, the hint for it)}."""
    dim = kernel.shape[0]
    return {
        "no_transpose": (
            kernel.reshape(dim, -1),  # == kernel.reshape(-1, dim) here, since k d_h == D
            "the transpose is missing. A Flax kernel is (in, out): merging the heads gives (D, k d_h), and a PyTorch "
            "Linear weight is (out, in). reshape only re-reads the numbers in a new shape, it never transposes: "
            "kernel.reshape(D, -1).T."),
        "head_dim_outer": (
            kernel.permute(2, 1, 0).reshape(-1, dim),
            "the heads must be the outer index of the output features: rows 0..d_h-1 belong to head 0. Merge "
            "(k, d_h) in that order: kernel.reshape(D, k * d_h).T."),
    }


def check_jax_query_kernel(function: Callable[[torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(kernel) -> weight``: a Flax query kernel (D, k, d_h) to a Linear weight (k d_h, D).

    The reference is what the Flax layer computes, q[b, t, h, e] = sum_d x[b, t, d] kernel[d, h, e]; the
    Linear's output x W^T, split into heads as (k, d_h), must equal it.
    """
    dim, heads, head_dim = 6, 2, 3  # k d_h == D, so only the values tell a missing transpose
    generator = torch.Generator().manual_seed(seed)
    kernel = torch.randn(dim, heads, head_dim, generator=generator)  # (D, k, d_h)
    x = torch.randn(2, 4, dim, generator=generator)  # (B, T, D)
    expected_q = torch.einsum("btd,dhe->bthe", x, kernel)  # (B, T, k, d_h)
    result, problem = run_for_tensor(function, kernel.clone())
    if problem is not None:
        return problem
    details = {"shape": tuple(result.shape), "expected_shape": (heads * head_dim, dim)}
    if tuple(result.shape) == (heads * head_dim, dim) and close(
        (x.double() @ result.double().T).reshape(2, 4, heads, head_dim), expected_q
    ):
        return Feedback(True, "x @ W^T split into (k, d_h) equals the Flax projection: W = kernel.reshape(D, -1).T.",
                        details)
    found = known_mistake(result, _jax_mistakes(kernel), details)
    if found is not None:
        return found
    if tuple(result.shape) != (heads * head_dim, dim):
        return Feedback(False, f"the Linear weight must be (k d_h, D) = {(heads * head_dim, dim)}, got "
                        f"{tuple(result.shape)}.", details)
    return Feedback(False, "the shape is right but the values are not: merge the (k, d_h) axes, then transpose.",
                    details)
