"""Checks for the patching lesson (paper Eq. 1): the number of patches N, patchify, the Conv2d patch embedding
as unfold plus one matrix product.

Each check runs the student's function on small cases, compares with a reference written here with
plain loops (independent of ``vit_edu.patchify``), and names the typical mistake when it finds one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange

from vit_edu.exercises.feedback import Feedback, close, hint_on_crash, run_for_number, run_for_tensor
from vit_edu.language import tr

# (H, W, P, N): square and non-square images, several patch sizes.
NUM_PATCHES_CASES = ((224, 224, 16, 196), (256, 256, 32, 64), (384, 384, 16, 576), (224, 224, 14, 256),
                     (64, 96, 16, 24))


def _num_patches_mistake(height: int, width: int, p: int, got: Any) -> tuple[str, str] | None:
    """(code, hint) for a known wrong N, or None."""
    n = (height // p) * (width // p)
    not_squared = tr("you divided by P, not P^2: a patch covers P x P pixels, so N = HW / P^2.")
    known = [
        (n + 1, "class_token", tr("that is N + 1, the sequence length once the class token is added; "
                                  "N counts only the patches.")),
        (height * width / p, "not_squared", not_squared),
        (height * width // p, "not_squared", not_squared),
        (n * 3, "channels", tr("you multiplied by C = 3: channels belong to each patch's length P^2 C, not to N.")),
        (height * width, "pixels", tr("that is the number of pixels HW; divide by the P^2 pixels of one patch.")),
        (p * p * 3, "patch_dim", tr("that is the patch dimension P^2 C, the length of one patch vector, not N.")),
        (height // p + width // p, "added", tr("you added the patches per column and per row; multiply them.")),
    ]
    if height != width:
        known.append(((height // p) ** 2, "height_twice", tr("you used H for both sides; this case is a non-square "
                                                             "{height} x {width} image: N = (H/P)(W/P).",
                                                             height=height, width=width)))
        known.append(((width // p) ** 2, "width_twice", tr("you used W for both sides; this case is a non-square "
                                                           "{height} x {width} image: N = (H/P)(W/P).",
                                                           height=height, width=width)))
    known += [(height // p, "one_side", tr("that is H/P, the patches along one side; N = (H/P)(W/P).")),
              (width // p, "one_side", tr("that is W/P, the patches along one side; N = (H/P)(W/P)."))]
    off_by_one = {n - 1, (height // p + 1) * (width // p + 1), (height // p - 1) * (width // p - 1)}
    for value, code, hint in known:
        if got == value:
            return code, hint
    if got in off_by_one:
        return "off_by_one", tr("off by one: a side of length H holds exactly H/P patches (no +1 or -1, no padding).")
    return None


def check_num_patches(function: Callable[[int, int, int], Any]) -> Feedback:
    """Check ``function(height, width, patch_size) -> N`` (N = HW / P^2, an int)."""
    for height, width, p, expected in NUM_PATCHES_CASES:
        got, problem = run_for_number(function, tr("N"), height, width, p)
        if problem is not None:
            return problem
        case = {"height": height, "width": width, "patch_size": p, "expected": expected, "received": got}
        if isinstance(got, float) and got == expected:
            return Feedback(False, tr("right value for H={height}, W={width}, P={p} but a float ({got}); N counts "
                                      "patches and sizes tensors, so return an int: use `//`.", height=height,
                                      width=width, p=p, got=got),
                            {**case, "mistake": "float"})
        if got != expected:
            found = _num_patches_mistake(height, width, p, got)
            code, hint = found if found else ("unknown", tr("N = (H/P) x (W/P) = HW / P^2."))
            return Feedback(False, tr("for H={height}, W={width}, P={p} expected N = {expected}, got {got}: {hint}",
                                      height=height, width=width, p=p, expected=expected, got=got, hint=hint),
                            {**case, "mistake": code})
    return Feedback(True, tr("N = HW / P^2 on {count} cases, including a non-square image.",
                             count=len(NUM_PATCHES_CASES)))


def reference_patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P^2 C) with explicit loops: patches row by row, values in (row, col, channel)."""
    batch, _, height, width = images.shape
    rows = []
    for i in range(height // p):
        for j in range(width // p):
            block = images[:, :, i * p:(i + 1) * p, j * p:(j + 1) * p]  # (B, C, P, P)
            rows.append(block.permute(0, 2, 3, 1).reshape(batch, -1))  # (B, P^2 C)
    return torch.stack(rows, dim=1)  # (B, N, P^2 C)


def _patchify_mistakes() -> tuple[tuple[str, str, str], ...]:
    """(einops pattern that reproduces the mistake, code, hint), most specific first."""
    return (
        ("b c (h p1) (w p2) -> b (h w) (c p1 p2)", "channels_first",
         tr("the values inside each patch are in (c p1 p2) order (channel first). The convention here, as in "
            "vit-pytorch, is (p1 p2 c), the order of an H x W x C picture; the Conv2d -> Linear weight conversion "
            "relies on it.")),
        ("b c (h p1) (w p2) -> b (h w) (p2 p1 c)", "patch_transposed",
         tr("each patch is transposed inside: (p2 p1 c) instead of (p1 p2 c); read a patch row by row.")),
        ("b c (h p1) (w p2) -> b (w h) (p1 p2 c)", "grid_transposed",
         tr("the patches are in column order (w h); the sequence reads the grid row by row, left to right: (h w).")),
        ("b c (h p1) (w p2) -> b (w h) (c p1 p2)", "grid_transposed_channels_first",
         tr("two things: the grid is read column by column (use (h w)) and patch values are channel first (use p1 p2 "
            "c).")),
        ("b c (p1 h) (p2 w) -> b (h w) (p1 p2 c)", "strided",
         tr("you split H as (p1 h) instead of (h p1): that takes every (H/P)-th pixel instead of a contiguous P x P "
            "block.")),
    )


def check_patchify(function: Callable[[torch.Tensor, int], Any]) -> Feedback:
    """Check ``function(images (B, C, H, W), patch_size) -> (B, N, P^2 C)`` on a non-square batch."""
    batch, channels, height, width, p = 2, 3, 8, 12, 4
    images = torch.arange(batch * channels * height * width, dtype=torch.float32).reshape(batch, channels, height,
                                                                                          width)
    expected = reference_patchify(images, p)
    got, problem = run_for_tensor(function, images.clone(), p, returns=tr("a tensor of shape (B, N, P^2 C)"))
    if problem is not None:
        return problem
    n, dim = (height // p) * (width // p), p * p * channels
    shape = {"expected_shape": (batch, n, dim), "received_shape": tuple(got.shape), "case": "B=2, C=3, H=8, W=12, P=4"}
    if tuple(got.shape) != (batch, n, dim):
        patch_not_flat = tr("flatten each patch into one vector of P^2 C values.")
        hints = {(batch, dim, n): ("transposed", tr("tokens must be rows: (B, N, P^2 C), not (B, P^2 C, N).")),
                 (n, dim): ("no_batch", tr("you dropped the batch dimension B.")),
                 (batch, height // p, width // p, dim): ("grid_not_flat",
                                                         tr("flatten the grid (h w) into one axis N.")),
                 (batch, n, p, p, channels): ("patch_not_flat", patch_not_flat),
                 (batch, n, channels, p, p): ("patch_not_flat", patch_not_flat)}
        code, hint = hints.get(tuple(got.shape), ("shape", tr("expected (B, N, P^2 C) with N = HW / P^2.")))
        return Feedback(False, tr("for B=2, C=3, H=8, W=12, P=4 expected shape {expected}, got {shape}: {hint}",
                                  expected=(batch, n, dim), shape=tuple(got.shape), hint=hint),
                        {**shape, "mistake": code})
    got = got.detach().to(torch.float32)
    if torch.equal(got, expected):
        return Feedback(True, tr("(B, N, P^2 C) with patches row by row and values in (p1 p2 c) order."), shape)
    if torch.equal(got, images.reshape(batch, n, dim)):
        return Feedback(False, tr("a plain reshape does not cut patches: the values of one row of pixels end up in "
                                  "one token. Move the axes first (einops: 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)')."),
                        {**shape, "mistake": "reshape_only"})
    for pattern, code, hint in _patchify_mistakes():
        if torch.equal(got, rearrange(images, pattern, p1=p, p2=p)):
            return Feedback(False, hint, {**shape, "mistake": code})
    if torch.equal(got.sort(dim=-1).values.sort(dim=1).values, expected.sort(dim=-1).values.sort(dim=1).values):
        return Feedback(False, tr("each token holds the right pixels but in another order; compare with "
                                  "'b c (h p1) (w p2) -> b (h w) (p1 p2 c)'."), {**shape, "mistake": "order"})
    return Feedback(False, tr("right shape, wrong values: token k must hold the pixels of patch (k // (W/P), "
                              "k % (W/P))."), {**shape, "mistake": "values"})


def reference_conv_embedding(images: torch.Tensor, conv_weight: torch.Tensor, conv_bias: torch.Tensor) -> torch.Tensor:
    """The Conv2d patch embedding (kernel = stride = P) as a sequence: (B, C, H, W) -> (B, N, D), tokens row by row."""
    p = conv_weight.shape[-1]
    return F.conv2d(images, conv_weight, conv_bias, stride=p).flatten(2).transpose(1, 2)


def _unfold_mistakes(images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
                     ) -> list[tuple[torch.Tensor, str, str]]:
    """(the answer a typical mistake gives, its code, the hint), most specific first."""
    dim, p = weight.shape[0], weight.shape[-1]
    columns = F.unfold(images, kernel_size=p, stride=p)  # (B, C P^2, N), each column in (c p1 p2) order
    right = weight.reshape(dim, -1) @ columns  # (B, D, N)
    patchify_order = rearrange(weight, "d c p1 p2 -> d (p1 p2 c)") @ columns
    kernel_transposed = rearrange(weight, "d c p1 p2 -> d (c p2 p1)") @ columns
    grid_h, grid_w = images.shape[-2] // p, images.shape[-1] // p
    column_order = rearrange(right + bias[:, None], "b d (h w) -> b (w h) d", h=grid_h, w=grid_w)
    return [
        (patchify_order.transpose(1, 2) + bias, "patchify_order",
         tr("you flattened the kernel in patchify's (p1 p2 c) order, but F.unfold lays out each patch channel first, "
            "(c p1 p2), the same order as the kernel's own axes: here conv_weight.reshape(D, -1) is the matching "
            "matrix.")),
        (kernel_transposed.transpose(1, 2) + bias, "kernel_transposed",
         tr("each P x P kernel is transposed (p2 p1): flatten the kernel as it is, conv_weight.reshape(D, -1).")),
        (F.linear(reference_patchify(images, p), weight.reshape(dim, -1), bias), "patchify_with_reshape",
         tr("you multiplied patchify's patches, in (p1 p2 c) order, by the kernel flattened channel first (c p1 p2): "
            "the two orders do not match. Take the patches from F.unfold, which flattens them channel first like the "
            "kernel.")),
        (right.transpose(1, 2), "no_bias", tr("the bias is missing: add conv_bias (one value per output feature) to "
                                              "every token.")),
        (column_order, "grid_transposed", tr("the tokens are in column order; F.unfold already reads the patches row "
                                             "by row, left to right, like patchify: keep its order.")),
    ]


def check_unfold_embedding(function: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> Feedback:
    """Check ``function(images (B, C, H, W), conv_weight (D, C, P, P), conv_bias (D,)) -> (B, N, D)``: the
    Conv2d patch embedding computed as ``F.unfold`` plus one matrix product."""
    generator = torch.Generator().manual_seed(0)
    batch, channels, height, width, p, dim = 2, 3, 8, 12, 4, 5
    images = torch.randn(batch, channels, height, width, generator=generator, dtype=torch.float64)
    weight = torch.randn(dim, channels, p, p, generator=generator, dtype=torch.float64)
    bias = torch.randn(dim, generator=generator, dtype=torch.float64)
    expected = reference_conv_embedding(images, weight, bias)  # (B, N, D)
    got, problem = run_for_tensor(function, images.clone(), weight.clone(), bias.clone(),
                                  returns=tr("a tensor of shape (B, N, D)"))
    if problem is not None:
        return hint_on_crash(problem, tr("F.unfold(images, kernel_size=P, stride=P) is (B, C P^2, N); multiply it by "
                                         "the (D, C P^2) matrix conv_weight.reshape(D, -1) to get (B, D, N), then "
                                         "transpose to (B, N, D) before adding the bias of shape (D,)."),
                             mentions=("size", "shape", "dimension"))
    n = (height // p) * (width // p)
    shape = {"expected_shape": (batch, n, dim), "received_shape": tuple(got.shape),
             "case": "B=2, C=3, H=8, W=12, P=4, D=5"}
    if tuple(got.shape) != (batch, n, dim):
        hints = {(batch, dim, n): ("transposed", tr("that is (B, D, N): one column per token. The sequence has one "
                                                    "row per token: transpose the last two axes to (B, N, D).")),
                 (batch, dim, height // p, width // p): ("grid_not_flat", tr("that is the Conv2d's (B, D, H/P, W/P) "
                                                                            "grid; the tokens form one axis N: "
                                                                            "(B, N, D).")),
                 (n, dim): ("no_batch", tr("you dropped the batch dimension B."))}
        code, hint = hints.get(tuple(got.shape), ("shape", tr("expected (B, N, D) with N = HW / P^2.")))
        return Feedback(False, tr("for {case} expected shape {expected}, got {shape}: {hint}", case=shape["case"],
                                  expected=(batch, n, dim), shape=tuple(got.shape), hint=hint),
                        {**shape, "mistake": code})
    got = got.detach().to(torch.float64)
    if close(got, expected):
        return Feedback(True, tr("F.unfold cuts the patches (channel first, (c p1 p2)), so the kernel needs no "
                                 "permute: one product with conv_weight.reshape(D, -1) plus the bias gives the "
                                 "Conv2d's output."), shape)
    for answer, code, hint in _unfold_mistakes(images, weight, bias):
        if close(got, answer):
            return Feedback(False, hint, {**shape, "mistake": code})
    return Feedback(False, tr("right shape, wrong values: token k must equal conv_weight.reshape(D, -1) @ (column k "
                              "of F.unfold(images, P, stride=P)) + conv_bias."), {**shape, "mistake": "values"})
