"""Checks for the inductive-bias lesson: the receptive field of a conv stack, an equivariance error.

Each check runs the student's function on a few cases, compares it with an independent
reference written here, and when it is wrong compares it with what typical mistakes give
(receptive fields that forget the overlap or the centre pixel; invariance measured instead of
equivariance, the output shifted the wrong way, the wrong axis, no normalisation).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vit_edu.exercises.feedback import Feedback, run_for_number

# --------------------------------------------------------------------------- receptive field
_FIELD_CASES = ((1, 3), (2, 3), (3, 3), (4, 5), (10, 3), (3, 7), (6, 2))  # (L, k)


def _field_variants(layers: int, kernel: int) -> dict[str, int]:
    return {
        "no_overlap": layers * kernel,
        "no_centre": layers * (kernel - 1),
        "radius": 1 + layers * (kernel - 1) // 2,
        "half_width": layers * (kernel - 1) // 2,
        "product": kernel**layers,
        "one_layer_short": 1 + (layers - 1) * (kernel - 1),
    }


_FIELD_HINTS = {
    "no_overlap": "you added the kernel sizes, L * k; neighbouring windows overlap, so each extra layer adds only "
                  "k - 1 new pixels.",
    "no_centre": "you counted the k - 1 pixels that each layer adds but not the pixel you start from: add 1.",
    "radius": "that is the radius (how far the field reaches on one side of the centre); the question asks for the "
              "side length, 1 + L (k - 1).",
    "half_width": "that is how far the field reaches on one side; the side length is 1 + L (k - 1).",
    "product": "receptive fields do not multiply for stride-1 layers: each layer widens the field by k - 1 pixels.",
    "one_layer_short": "you counted one layer too few: L layers each add k - 1 pixels to the single starting pixel.",
}


def check_receptive_field(function: Callable[[int, int], int]) -> Feedback:
    """Check ``function(num_layers, kernel_size)``: side of the receptive field of L stride-1 k x k convolutions."""
    answers = []
    for layers, kernel in _FIELD_CASES:
        value, problem = run_for_number(function, "the side of the field in pixels", layers, kernel)
        if problem is not None:
            return problem
        details = {"num_layers": layers, "kernel_size": kernel, "expected": 1 + layers * (kernel - 1),
                   "result": value}
        answers.append((details, value))
    wrong = [(details, value) for details, value in answers if value != details["expected"]]
    if not wrong:
        return Feedback(True, "1 + L (k - 1): each stride-1 layer widens the field by k - 1 pixels, linearly in depth.")
    details, value = wrong[0]
    layers, kernel, expected = details["num_layers"], details["kernel_size"], details["expected"]
    for mistake in _FIELD_HINTS:  # a mistake is diagnosed only if it explains every case
        if all(value == _field_variants(d["num_layers"], d["kernel_size"])[mistake] for d, value in answers):
            return Feedback(False, _FIELD_HINTS[mistake] + f" (L={layers}, k={kernel}: expected {expected}, "
                            f"got {value}.)", {**details, "mistake": mistake})
    return Feedback(False, f"for L={layers} layers of k={kernel} the field is {expected} pixels wide; you "
                    f"returned {value}. Start from one output pixel and widen by k - 1 per layer.", details)


# --------------------------------------------------------------------------- equivariance error
def _roll(x: torch.Tensor, shift: int, dim: int = -1) -> torch.Tensor:
    """Circular shift by slicing (independent of torch.roll)."""
    shift %= x.shape[dim]
    if shift == 0:
        return x.clone()
    index = [slice(None)] * x.ndim
    head, tail = list(index), list(index)
    head[dim], tail[dim] = slice(-shift, None), slice(None, -shift)
    return torch.cat([x[tuple(head)], x[tuple(tail)]], dim=dim)


def _test_maps(generator: torch.Generator) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    weight = torch.randn(4, 2, 3, 3, generator=generator, dtype=torch.float64) / 3
    bias = torch.randn(1, 4, 8, 8, generator=generator, dtype=torch.float64)

    def conv(x: torch.Tensor) -> torch.Tensor:  # circular 3x3 convolution: exactly equivariant
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), weight)

    return {"equivariant": conv, "positional": lambda x: conv(x) + bias}  # + a position-dependent map


def _variants(f: Callable, images: torch.Tensor, shift: int) -> dict[str, float]:
    out, out_shifted_input = f(images), f(_roll(images, shift))
    norm = out.norm().item()
    diff = lambda a, b: (a - b).norm().item()  # noqa: E731
    return {
        "right": diff(out_shifted_input, _roll(out, shift)) / norm,
        "invariance": diff(out_shifted_input, out) / norm,
        "wrong_direction": diff(out_shifted_input, _roll(out, -shift)) / norm,
        "wrong_axis": diff(f(_roll(images, shift, -2)), _roll(out, shift, -2)) / norm,
        "absolute": diff(out_shifted_input, _roll(out, shift)),
        "wrong_norm": diff(out_shifted_input, _roll(out, shift)) / out_shifted_input.norm().item(),
    }


_EQUIVARIANCE_HINTS = {
    "invariance": "you compared f(shift(x)) with f(x): that measures *invariance* (平移不变性). Equivariance "
                  "(平移等变性) compares f(shift(x)) with shift(f(x)): shift the output too.",
    "wrong_direction": "you shifted the output the other way; use the same shift (same sign) on input and output.",
    "wrong_axis": "you shifted along the height; the shift is horizontal, along the last axis (dims=-1).",
    "absolute": "you returned the absolute difference; divide by ||f(x)|| to get a relative error.",
    "wrong_norm": "divide by ||f(x)|| (the unshifted output), not by ||f(shift(x))||.",
}


def check_equivariance_error(function: Callable[..., float], seed: int = 0) -> Feedback:
    """Check ``function(f, images, shift)`` = ||f(T x) - T f(x)|| / ||f(x)|| for horizontal circular shifts T."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(2, 2, 8, 8, generator=generator, dtype=torch.float64)
    for name, f in _test_maps(generator).items():
        for shift in (1, 3):
            values = _variants(f, images, shift)
            value, problem = run_for_number(function, "the equivariance error", f, images.clone(), shift)
            if problem is not None:
                return problem
            details = {"map": name, "shift": shift, "expected": values["right"], "result": value}
            if math.isclose(value, values["right"], rel_tol=1e-6, abs_tol=1e-9):
                continue
            for mistake, variant in values.items():
                if mistake != "right" and math.isclose(value, variant, rel_tol=1e-6, abs_tol=1e-9):
                    return Feedback(False, _EQUIVARIANCE_HINTS[mistake], {**details, "mistake": mistake})
            what = "a circular convolution (exactly equivariant, so ~0)" if name == "equivariant" else \
                "a convolution plus a position-dependent map"
            return Feedback(False, f"for {what} with shift {shift} the error is {values['right']:.4g}; you returned "
                            f"{value:.4g}. Compute f(roll(x)) and roll(f(x)) along dims=-1, then "
                            "||difference|| / ||f(x)||.", details)
    return Feedback(True, "||f(T x) - T f(x)|| / ||f(x)||: ~0 for the convolution, clearly not 0 once positions "
                    "are added.")
