"""Checks for the patching lesson (paper Eq. 1): the number of patches N, patchify, conv -> linear weight.

Each check runs the student's function on small cases, compares with a reference written here with
plain loops (independent of ``vit_edu.patchify``), and names the typical mistake when it finds one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from einops import rearrange

from vit_edu.exercises.feedback import Feedback, run_for_number, run_for_tensor

# (H, W, P, N): square and non-square images, several patch sizes.
NUM_PATCHES_CASES = ((224, 224, 16, 196), (256, 256, 32, 64), (384, 384, 16, 576), (224, 224, 14, 256),
                     (64, 96, 16, 24))


def _num_patches_mistake(height: int, width: int, p: int, got: Any) -> tuple[str, str] | None:
    """(code, hint) for a known wrong N, or None."""
    n = (height // p) * (width // p)
    known = [
        (n + 1, "class_token", "that is N + 1, the sequence length once the class token is added; "
                               "N counts only the patches."),
        (height * width / p, "not_squared", "you divided by P, not P^2: a patch covers P x P pixels, so "
                                            "N = HW / P^2."),
        (height * width // p, "not_squared", "you divided by P, not P^2: a patch covers P x P pixels, so "
                                             "N = HW / P^2."),
        (n * 3, "channels", "you multiplied by C = 3: channels belong to each patch's length P^2 C, not to N."),
        (height * width, "pixels", "that is the number of pixels HW; divide by the P^2 pixels of one patch."),
        (p * p * 3, "patch_dim", "that is the patch dimension P^2 C, the length of one patch vector, not N."),
        (height // p + width // p, "added", "you added the patches per column and per row; multiply them."),
    ]
    if height != width:
        known.append(((height // p) ** 2, "height_twice", f"you used H for both sides; this case is a non-square "
                                                          f"{height} x {width} image: N = (H/P)(W/P)."))
        known.append(((width // p) ** 2, "width_twice", f"you used W for both sides; this case is a non-square "
                                                        f"{height} x {width} image: N = (H/P)(W/P)."))
    known += [(height // p, "one_side", "that is H/P, the patches along one side; N = (H/P)(W/P)."),
              (width // p, "one_side", "that is W/P, the patches along one side; N = (H/P)(W/P).")]
    off_by_one = {n - 1, (height // p + 1) * (width // p + 1), (height // p - 1) * (width // p - 1)}
    for value, code, hint in known:
        if got == value:
            return code, hint
    if got in off_by_one:
        return "off_by_one", "off by one: a side of length H holds exactly H/P patches (no +1 or -1, no padding)."
    return None


def check_num_patches(function: Callable[[int, int, int], Any]) -> Feedback:
    """Check ``function(height, width, patch_size) -> N`` (N = HW / P^2, an int)."""
    for height, width, p, expected in NUM_PATCHES_CASES:
        got, problem = run_for_number(function, "N", height, width, p)
        if problem is not None:
            return problem
        case = {"height": height, "width": width, "patch_size": p, "expected": expected, "received": got}
        if isinstance(got, float) and got == expected:
            return Feedback(False, f"right value for H={height}, W={width}, P={p} but a float ({got}); N counts "
                                   "patches and sizes tensors, so return an int: use `//`.",
                            {**case, "mistake": "float"})
        if got != expected:
            found = _num_patches_mistake(height, width, p, got)
            code, hint = found if found else ("unknown", "N = (H/P) x (W/P) = HW / P^2.")
            return Feedback(False, f"for H={height}, W={width}, P={p} expected N = {expected}, got {got}: {hint}",
                            {**case, "mistake": code})
    return Feedback(True, f"N = HW / P^2 on {len(NUM_PATCHES_CASES)} cases, including a non-square image.")


def reference_patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, P^2 C) with explicit loops: patches row by row, values in (row, col, channel)."""
    batch, _, height, width = images.shape
    rows = []
    for i in range(height // p):
        for j in range(width // p):
            block = images[:, :, i * p:(i + 1) * p, j * p:(j + 1) * p]  # (B, C, P, P)
            rows.append(block.permute(0, 2, 3, 1).reshape(batch, -1))  # (B, P^2 C)
    return torch.stack(rows, dim=1)  # (B, N, P^2 C)


_PATCHIFY_MISTAKES = (  # (einops pattern that reproduces the mistake, code, hint)
    ("b c (h p1) (w p2) -> b (h w) (c p1 p2)", "channels_first",
     "the values inside each patch are in (c p1 p2) order (channel first). The convention here, as in vit-pytorch, "
     "is (p1 p2 c), the order of an H x W x C picture; the Conv2d -> Linear weight conversion relies on it."),
    ("b c (h p1) (w p2) -> b (h w) (p2 p1 c)", "patch_transposed",
     "each patch is transposed inside: (p2 p1 c) instead of (p1 p2 c); read a patch row by row."),
    ("b c (h p1) (w p2) -> b (w h) (p1 p2 c)", "grid_transposed",
     "the patches are in column order (w h); the sequence reads the grid row by row, left to right: (h w)."),
    ("b c (h p1) (w p2) -> b (w h) (c p1 p2)", "grid_transposed_channels_first",
     "two things: the grid is read column by column (use (h w)) and patch values are channel first (use p1 p2 c)."),
    ("b c (p1 h) (p2 w) -> b (h w) (p1 p2 c)", "strided",
     "you split H as (p1 h) instead of (h p1): that takes every (H/P)-th pixel instead of a contiguous P x P block."),
)


def check_patchify(function: Callable[[torch.Tensor, int], Any]) -> Feedback:
    """Check ``function(images (B, C, H, W), patch_size) -> (B, N, P^2 C)`` on a non-square batch."""
    batch, channels, height, width, p = 2, 3, 8, 12, 4
    images = torch.arange(batch * channels * height * width, dtype=torch.float32).reshape(batch, channels, height,
                                                                                          width)
    expected = reference_patchify(images, p)
    got, problem = run_for_tensor(function, images.clone(), p, returns="a tensor of shape (B, N, P^2 C)")
    if problem is not None:
        return problem
    n, dim = (height // p) * (width // p), p * p * channels
    shape = {"expected_shape": (batch, n, dim), "received_shape": tuple(got.shape), "case": "B=2, C=3, H=8, W=12, P=4"}
    if tuple(got.shape) != (batch, n, dim):
        hints = {(batch, dim, n): ("transposed", "tokens must be rows: (B, N, P^2 C), not (B, P^2 C, N)."),
                 (n, dim): ("no_batch", "you dropped the batch dimension B."),
                 (batch, height // p, width // p, dim): ("grid_not_flat", "flatten the grid (h w) into one axis N."),
                 (batch, n, p, p, channels): ("patch_not_flat", "flatten each patch into one vector of P^2 C values."),
                 (batch, n, channels, p, p): ("patch_not_flat", "flatten each patch into one vector of P^2 C values.")}
        code, hint = hints.get(tuple(got.shape), ("shape", "expected (B, N, P^2 C) with N = HW / P^2."))
        return Feedback(False, f"for B=2, C=3, H=8, W=12, P=4 expected shape {(batch, n, dim)}, got "
                               f"{tuple(got.shape)}: {hint}", {**shape, "mistake": code})
    got = got.detach().to(torch.float32)
    if torch.equal(got, expected):
        return Feedback(True, "(B, N, P^2 C) with patches row by row and values in (p1 p2 c) order.", shape)
    if torch.equal(got, images.reshape(batch, n, dim)):
        return Feedback(False, "a plain reshape does not cut patches: the values of one row of pixels end up in "
                               "one token. Move the axes first (einops: 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)').",
                        {**shape, "mistake": "reshape_only"})
    for pattern, code, hint in _PATCHIFY_MISTAKES:
        if torch.equal(got, rearrange(images, pattern, p1=p, p2=p)):
            return Feedback(False, hint, {**shape, "mistake": code})
    if torch.equal(got.sort(dim=-1).values.sort(dim=1).values, expected.sort(dim=-1).values.sort(dim=1).values):
        return Feedback(False, "each token holds the right pixels but in another order; compare with "
                               "'b c (h p1) (w p2) -> b (h w) (p1 p2 c)'.", {**shape, "mistake": "order"})
    return Feedback(False, "right shape, wrong values: token k must hold the pixels of patch (k // (W/P), k % (W/P)).",
                    {**shape, "mistake": "values"})


def reference_linear_weight(conv_weight: torch.Tensor) -> torch.Tensor:
    """Conv2d kernel (D, C, P, P) -> Linear weight (D, P^2 C) in (p1 p2 c) order, by explicit indexing."""
    dim, channels, p, _ = conv_weight.shape
    weight = torch.empty(dim, p * p * channels, dtype=conv_weight.dtype)
    for i in range(p):
        for j in range(p):
            for c in range(channels):
                weight[:, (i * p + j) * channels + c] = conv_weight[:, c, i, j]
    return weight


def check_conv_to_linear(function: Callable[[torch.Tensor], Any]) -> Feedback:
    """Check ``function(conv_weight (D, C, P, P)) -> linear_weight (D, P^2 C)`` for patches in (p1 p2 c) order."""
    dim, channels, p = 5, 3, 4
    kernel = torch.arange(dim * channels * p * p, dtype=torch.float32).reshape(dim, channels, p, p)
    expected = reference_linear_weight(kernel)
    got, problem = run_for_tensor(function, kernel.clone(), returns="a tensor of shape (D, P^2 C)")
    if problem is not None:
        return problem
    shape = {"expected_shape": (dim, p * p * channels), "received_shape": tuple(got.shape)}
    if tuple(got.shape) == (p * p * channels, dim):
        return Feedback(False, "transposed: nn.Linear stores its weight as (out_features, in_features) = (D, P^2 C).",
                        {**shape, "mistake": "transposed"})
    if tuple(got.shape) != (dim, p * p * channels):
        return Feedback(False, f"expected shape (D, P^2 C) = {(dim, p * p * channels)}, got {tuple(got.shape)}.",
                        {**shape, "mistake": "shape"})
    got = got.detach().to(torch.float32)
    if torch.equal(got, expected):
        return Feedback(True, "one row of E per output channel, in the (p1 p2 c) order of patchify.", shape)
    if torch.equal(got, kernel.reshape(dim, -1)):
        return Feedback(False, "conv_weight.reshape(D, -1) gives (c p1 p2) order, but patchify makes patches in "
                               "(p1 p2 c) order: move the channel axis last before flattening.",
                        {**shape, "mistake": "channels_first"})
    if torch.equal(got, rearrange(kernel, "d c p1 p2 -> d (p2 p1 c)")):
        return Feedback(False, "the P x P kernel is transposed: flatten rows then columns, (p1 p2 c).",
                        {**shape, "mistake": "kernel_transposed"})
    return Feedback(False, "right shape, wrong values: column (i P + j) C + c must hold conv_weight[:, c, i, j].",
                    {**shape, "mistake": "values"})
