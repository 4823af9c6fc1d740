"""Checks for the lesson that trains a tiny ViT: optimizer steps per epoch, the warm-up + cosine
learning-rate schedule, and accuracy from logits.

Each check runs the student's function on a few cases, compares with a closed form written here,
and when the answer is wrong matches it against what typical mistakes give (rounding up instead of
down, a warm-up that starts at 0, a full instead of a half cosine, argmax over the batch axis, a
count instead of a fraction, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from vit_edu.data.digits import load_digits_split
from vit_edu.exercises.feedback import Feedback, run_for_number
from vit_edu.language import tr
from vit_edu.training.recipes import COURSE_RECIPES

# --------------------------------------------------------------------------- steps per epoch
STEPS_CASES = [dict(num_examples=1347, batch_size=128, drop_last=True),
               dict(num_examples=1347, batch_size=128, drop_last=False),
               dict(num_examples=1024, batch_size=128, drop_last=False),
               dict(num_examples=8000, batch_size=128, drop_last=True),
               dict(num_examples=100, batch_size=128, drop_last=False)]


def reference_steps_per_epoch(num_examples: int, batch_size: int, drop_last: bool) -> int:
    """floor(n / B) full batches, plus one partial batch when it is kept and non-empty."""
    full, rest = divmod(num_examples, batch_size)
    return full + (1 if rest and not drop_last else 0)


def check_steps_per_epoch(function: Callable[[int, int, bool], Any]) -> Feedback:
    """Check ``function(num_examples, batch_size, drop_last)`` -> optimizer steps in one epoch."""
    for case in STEPS_CASES:
        # positional: students name the parameters freely
        result, problem = run_for_number(function, tr("the number of steps"), *case.values())
        if problem is not None:
            return problem
        n, b, drop = case["num_examples"], case["batch_size"], case["drop_last"]
        want = reference_steps_per_epoch(n, b, drop)
        if result == want:
            continue
        details = {**case, "expected": want, "received": result, "mistake": "unknown"}
        if not float(result).is_integer() and math.isclose(result, n / b):
            return Feedback(False, tr("for {case} you returned {result:g}: a number of steps is whole; the batches "
                                      "are n / B rounded (down when the last partial batch is dropped, up otherwise).",
                                      case=case, result=result), {**details, "mistake": "fraction"})
        if drop and result == math.ceil(n / b):
            return Feedback(False, tr("for {case} expected {want}, got {result:g}: with drop_last=True the last, "
                                      "smaller batch is skipped, so round n / B down.", case=case, want=want,
                                      result=result), {**details, "mistake": "ceil"})
        if not drop and result == n // b:
            return Feedback(False, tr("for {case} expected {want}, got {result:g}: with drop_last=False the last, "
                                      "smaller batch is still a step, so round n / B up.", case=case, want=want,
                                      result=result), {**details, "mistake": "floor"})
        if result == n // b + 1:
            return Feedback(False, tr("for {case} expected {want}, got {result:g}: you always add one batch; when B "
                                      "divides n there is no partial batch.", case=case, want=want, result=result),
                            {**details, "mistake": "plus_one"})
        if result == n * b or result == b // max(1, n):
            return Feedback(False, tr("for {case} expected {want}, got {result:g}: divide the number of examples by "
                                      "the batch size.", case=case, want=want, result=result),
                            {**details, "mistake": "wrong_operation"})
        return Feedback(False, tr("for {case} expected {want}, got {result:g}.", case=case, want=want, result=result),
                        details)
    n = len(load_digits_split().train_labels)  # the split the digits recipe trains on
    b = COURSE_RECIPES["digits"].training["batch_size"]
    return Feedback(True, tr("right: an epoch is floor(n / B) steps, plus one if a partial last batch is kept "
                             "(vit_edu.training.loop drops it, so the digits recipe's epoch of {n} images in batches "
                             "of {b} is {steps} steps).", n=n, b=b, steps=n // b))


# --------------------------------------------------------------------------- warm-up + cosine schedule
SCHEDULE_CASES = [dict(total_steps=100, warmup_steps=10, peak=1e-3),
                  dict(total_steps=300, warmup_steps=20, peak=3e-3),
                  dict(total_steps=50, warmup_steps=1, peak=0.5)]


def reference_learning_rate(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Warm-up: peak * (step + 1) / warmup; then 0.5 * peak * (1 + cos(pi * progress)), progress in [0, 1]."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _schedule_mistakes(step: int, total_steps: int, warmup_steps: int, peak: float) -> list[tuple[float, str, str]]:
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    mistakes = []
    if step < warmup_steps:
        mistakes += [
            (peak * step / warmup_steps, "warmup_from_zero",
             tr("your warm-up starts at 0: the first step would not move the weights at all. Use (step + 1) / "
                "warmup.")),
            (peak, "no_warmup", tr("you skipped the warm-up: the learning rate should rise linearly to the peak over "
                                   "the first warmup_steps steps.")),
            (0.5 * peak * (1 + math.cos(math.pi * step / total_steps)), "no_warmup",
             tr("you skipped the warm-up: the cosine should start only after warmup_steps.")),
        ]
    else:
        mistakes += [
            (0.5 * peak * (1 + math.cos(math.pi * step / total_steps)), "cosine_from_zero",
             tr("your cosine counts from step 0; it should start at the end of the warm-up: "
                "progress = (step - warmup) / (total - warmup).")),
            (0.5 * peak * (1 + math.cos(2 * math.pi * progress)), "full_cosine",
             tr("you used a full cosine period (2 pi), so the rate comes back up; half a period (pi) goes from the "
                "peak down to 0.")),
            (peak * math.cos(math.pi * progress), "no_shift",
             tr("you forgot to shift and halve the cosine: 0.5 * peak * (1 + cos(pi * progress)) stays in [0, "
                "peak].")),
            (peak * (1 - progress), "linear_decay", tr("that is a linear decay; use the half cosine.")),
        ]
    return mistakes


def check_learning_rate_schedule(function: Callable[[int, int, int, float], Any]) -> Feedback:
    """Check ``function(step, total_steps, warmup_steps, peak)`` -> learning rate for that step."""
    for case in SCHEDULE_CASES:
        for step in range(case["total_steps"]):
            result, problem = run_for_number(function, tr("the learning rate"), step, *case.values())
            if problem is not None:
                return problem
            want = reference_learning_rate(step, **case)
            if math.isclose(result, want, rel_tol=1e-6, abs_tol=1e-12 * case["peak"]):
                continue
            details = {**case, "step": step, "expected": want, "received": result, "mistake": "unknown"}
            for value, code, hint in _schedule_mistakes(step, **case):
                if math.isclose(result, value, rel_tol=1e-6, abs_tol=1e-12 * case["peak"]):
                    return Feedback(False, tr("at step {step} of {case}: expected {want:.4g}, got {result:.4g}. "
                                              "{hint}", step=step, case=case, want=want, result=result, hint=hint),
                                    {**details, "mistake": code})
            return Feedback(False, tr("at step {step} of {case}: expected {want:.4g}, got {result:.4g}. During the "
                                      "warm-up: peak * (step + 1) / warmup; after it: 0.5 * peak * (1 + cos(pi * "
                                      "progress)).", step=step, case=case, want=want, result=result), details)
    return Feedback(True, tr("right: a linear warm-up to the peak, then half a cosine down to 0."))


# --------------------------------------------------------------------------- accuracy from logits
def _accuracy_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    cases = []
    for batch, classes in ((10, 10), (12, 10), (7, 4)):  # B = K first, so argmax(dim=0) runs
        logits = torch.randn(batch, classes, generator=generator) * 3  # (B, K)
        labels = torch.randint(0, classes, (batch,), generator=generator)  # (B,)
        labels[: batch // 2] = logits[: batch // 2].argmax(dim=1)  # about half right
        cases.append((logits, labels))
    return cases


def check_accuracy(function: Callable[[torch.Tensor, torch.Tensor], Any]) -> Feedback:
    """Check ``function(logits (B, K), labels (B,))`` -> top-1 accuracy as a fraction in [0, 1]."""
    for logits, labels in _accuracy_cases():
        result, problem = run_for_number(function, tr("the accuracy"), logits.clone(), labels.clone())
        if problem is not None:
            return problem
        correct = sum(int(row.index(max(row)) == label) for row, label in zip(logits.tolist(), labels.tolist()))
        batch = len(labels)
        want = correct / batch
        if math.isclose(result, want, abs_tol=1e-6):
            continue
        details = {"batch": batch, "classes": logits.shape[1], "expected": want, "received": result,
                   "mistake": "unknown"}
        if math.isclose(result, 100 * want, abs_tol=1e-4):
            return Feedback(False, tr("you returned {result:.4g}, a percentage; return a fraction in [0, 1] "
                                      "({want:.4g}).", result=result, want=want), {**details, "mistake": "percent"})
        if math.isclose(result, correct):
            return Feedback(False, tr("you returned {result:g}, the number of correct predictions; divide by the "
                                      "batch size B = {batch}.", result=result, batch=batch),
                            {**details, "mistake": "count"})
        wrong_axis = logits.argmax(dim=0)  # (K,) the per-class argmax over the batch
        if wrong_axis.shape == labels.shape and math.isclose(
                result, (wrong_axis == labels).float().mean().item(), abs_tol=1e-6):
            return Feedback(False, tr("you took the argmax over the batch axis (dim=0); the predicted class of each "
                                      "image is the argmax over the K classes (dim=1)."),
                            {**details, "mistake": "axis"})
        if math.isclose(result, 1 - want, abs_tol=1e-6):
            return Feedback(False, tr("you returned the error rate {result:.4g}; accuracy is 1 - that.", result=result),
                            {**details, "mistake": "error_rate"})
        return Feedback(False, tr("expected {want:.4g}, got {result:.4g}: predict with logits.argmax(dim=1), compare "
                                  "with labels, and average.", want=want, result=result), details)
    return Feedback(True, tr("right: accuracy = mean(argmax_k logits == label). The softmax is not needed: it does not "
                             "change which class is largest."))
