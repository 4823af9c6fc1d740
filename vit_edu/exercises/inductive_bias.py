"""Checks for the inductive-bias lesson: the receptive field of a stack with strides, an equivariance error.

Each check runs the student's function on a few cases, compares it with an independent
reference written here, and when it is wrong compares it with what typical mistakes give
(receptive fields that ignore the strides, use a layer's own stride, forget the overlap or the
centre pixel; invariance measured instead of equivariance, the output shifted the wrong way,
the wrong axis, no normalisation).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vit_edu.exercises.feedback import Feedback, run_for_number
from vit_edu.language import then, tr

# --------------------------------------------------------------------------- receptive field
# (kernel sizes, strides) of stacks: stride-1 convolutions, the lesson's stack with a 2x2 max-pool, ViT's patch
# embedding, a strided stem, all-strided layers, a pool between two wide convolutions.
_FIELD_CASES = (
    ((3,), (1,)),
    ((3, 3, 3, 3), (1, 1, 1, 1)),
    ((3, 3, 2, 3, 3), (1, 1, 2, 1, 1)),
    ((4,), (4,)),
    ((7, 3, 3), (2, 2, 1)),
    ((3, 3, 3), (2, 2, 2)),
    ((5, 2, 5), (1, 2, 1)),
)


def _field(kernels: tuple[int, ...], strides: tuple[int, ...], *, jump: str = "earlier", centre: int = 1,
           widths: tuple[int, ...] | None = None) -> int:
    """1 + sum_l (k_l - 1) * prod_{i<l} s_i, and the variants that typical mistakes compute.

    ``jump`` says what multiplies layer l's widening: the product of the ``"earlier"`` strides (right),
    of the strides up to and including its ``"own"``, of ``"all"`` strides, or ``"none"``.
    """
    widths = tuple(k - 1 for k in kernels) if widths is None else widths
    products = {"earlier": lambda l: math.prod(strides[:l]), "own": lambda l: math.prod(strides[:l + 1]),
                "all": lambda l: math.prod(strides), "none": lambda l: 1}[jump]
    return centre + sum(width * products(l) for l, width in enumerate(widths))


def _field_variants(kernels: tuple[int, ...], strides: tuple[int, ...]) -> dict[str, int]:
    return {
        "stride_ignored": _field(kernels, strides, jump="none"),
        "own_stride": _field(kernels, strides, jump="own"),
        "total_stride": _field(kernels, strides, jump="all"),
        "no_centre": _field(kernels, strides, centre=0),
        "no_overlap": _field(kernels, strides, centre=0, widths=kernels),
        "kernel_product": math.prod(kernels),
    }


def _field_hints() -> dict[str, str]:
    """{mistake: its hint}, in the order the mistakes are tried (in the course's current language)."""
    return {
        "stride_ignored": tr("you added k - 1 per layer and ignored the strides: after a layer of stride s, one step "
                             "of the next layer spans s input pixels, so its k - 1 extra cells count s times (the "
                             "product of all earlier strides)."),
        "own_stride": tr("you multiplied each layer's k - 1 by its own stride as well; a layer's stride only spaces "
                         "out the layers *after* it: use the product of the earlier strides."),
        "total_stride": tr("you multiplied every layer's k - 1 by the product of all strides; the first layer works "
                           "on input pixels (jump 1), and each later layer by the product of the strides before it."),
        "no_centre": tr("you counted the pixels each layer adds but not the one you start from: add 1."),
        "no_overlap": tr("you added the kernel sizes; neighbouring windows overlap, so each layer adds only k - 1 new "
                         "cells (times the product of the earlier strides), on top of the 1 starting pixel."),
        "kernel_product": tr("receptive fields do not multiply kernel sizes: each layer widens the field by k - 1 "
                             "cells of its input grid."),
    }


def check_strided_receptive_field(function: Callable[[list[int], list[int]], int]) -> Feedback:
    """Check ``function(kernel_sizes, strides)``: the side, in input pixels, of the window one output cell of a
    stack of layers sees, r = 1 + sum_l (k_l - 1) prod_{i<l} s_i (a pooling layer is a layer: k = s = 2)."""
    answers = []
    for kernels, strides in _FIELD_CASES:
        value, problem = run_for_number(function, tr("the side of the field in pixels"), list(kernels),
                                        list(strides))
        if problem is not None:
            return problem
        details = {"kernel_sizes": list(kernels), "strides": list(strides), "expected": _field(kernels, strides),
                   "result": value}
        answers.append((details, value))
    wrong = [(details, value) for details, value in answers if value != details["expected"]]
    if not wrong:
        return Feedback(True, tr("1 + sum_l (k_l - 1) * (product of the earlier strides): each layer widens the "
                                 "field by k - 1 cells of its input grid, and a cell there spans as many pixels as the "
                                 "strides before it multiply to."))
    details, value = wrong[0]
    case = tr("(kernel_sizes={kernel_sizes}, strides={strides}: expected {expected}, got {value}.)",
              kernel_sizes=details["kernel_sizes"], strides=details["strides"], expected=details["expected"],
              value=value)
    for mistake, hint in _field_hints().items():  # a mistake is diagnosed only if it explains every case
        if all(value == _field_variants(tuple(d["kernel_sizes"]), tuple(d["strides"]))[mistake]
                        for d, value in answers):
            return Feedback(False, f"{hint}{then(case)}", {**details, "mistake": mistake})
    return Feedback(False, tr("the field is not right for every stack {case} Start from one output cell and walk "
                              "back layer by layer: each adds k - 1 cells of its input grid, and a cell there is as "
                              "many pixels wide as the product of the strides before it.", case=case), details)


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


def _equivariance_hints() -> dict[str, str]:
    """{mistake: its hint} (in the course's current language)."""
    return {
        "invariance": tr("you compared f(shift(x)) with f(x): that measures *invariance* (平移不变性). Equivariance "
                         "(平移等变性) compares f(shift(x)) with shift(f(x)): shift the output too."),
        "wrong_direction": tr("you shifted the output the other way; use the same shift (same sign) on input and "
                              "output."),
        "wrong_axis": tr("you shifted along the height; the shift is horizontal, along the last axis (dims=-1)."),
        "absolute": tr("you returned the absolute difference; divide by ||f(x)|| to get a relative error."),
        "wrong_norm": tr("divide by ||f(x)|| (the unshifted output), not by ||f(shift(x))||."),
    }


def check_equivariance_error(function: Callable[..., float], seed: int = 0) -> Feedback:
    """Check ``function(f, images, shift)`` = ||f(T x) - T f(x)|| / ||f(x)|| for horizontal circular shifts T."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(2, 2, 8, 8, generator=generator, dtype=torch.float64)
    for name, f in _test_maps(generator).items():
        for shift in (1, 3):
            values = _variants(f, images, shift)
            value, problem = run_for_number(function, tr("the equivariance error"), f, images.clone(), shift)
            if problem is not None:
                return problem
            details = {"map": name, "shift": shift, "expected": values["right"], "result": value}
            if math.isclose(value, values["right"], rel_tol=1e-6, abs_tol=1e-9):
                continue
            for mistake, variant in values.items():
                if mistake != "right" and math.isclose(value, variant, rel_tol=1e-6, abs_tol=1e-9):
                    return Feedback(False, _equivariance_hints()[mistake], {**details, "mistake": mistake})
            what = tr("a circular convolution (exactly equivariant, so ~0)") if name == "equivariant" else \
                tr("a convolution plus a position-dependent map")
            return Feedback(False, tr("for {what} with shift {shift} the error is {error:.4g}; you returned "
                                      "{value:.4g}. Compute f(roll(x)) and roll(f(x)) along dims=-1, then "
                                      "||difference|| / ||f(x)||.", what=what, shift=shift, error=values["right"],
                                      value=value), details)
    return Feedback(True, tr("||f(T x) - T f(x)|| / ||f(x)||: ~0 for the convolution, clearly not 0 once positions "
                             "are added."))
