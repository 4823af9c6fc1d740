"""Checks for the encoder lesson (paper Eq. 2-4): a parallel block, the parameters of one block, the
shapes of every stage.

Each check runs the student's function, compares with a reference written here, and when the
answer is wrong compares it with the answers typical mistakes produce (the sequential block, a
residual added twice, a LayerNorm without its bias, a forgotten class token, ...) to say which one it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vit_edu.block import EncoderBlock
from vit_edu.exercises.feedback import (
    Feedback,
    hint_on_crash,
    judge,
    run_for_number,
    run_for_tensor,
    run_student_code,
)
from vit_edu.language import tr


# --------------------------------------------------------------------------- parallel block
def _block_parts(seed: int) -> tuple[torch.Tensor, EncoderBlock]:
    """A small block with random weights (LayerNorm gains near 1) and an input that is not normalised."""
    generator = torch.Generator().manual_seed(seed)
    block = EncoderBlock(dim=16, heads=4, head_dim=4, mlp_dim=32).eval()
    with torch.no_grad():
        for param in block.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * 0.3)
        block.norm1.weight.add_(1.0)
        block.norm2.weight.add_(1.0)
    x = 1.0 + 3.0 * torch.randn(2, 5, 16, generator=generator)  # (B, T, D), not normalised
    return x, block


def reference_parallel_block(x: torch.Tensor, norm, attn, mlp) -> torch.Tensor:
    """The parallel block of ViT-22B: both branches read the same LN(x), and both are added to x."""
    h = norm(x)
    return x + attn(h) + mlp(h)


def _parallel_mistakes(x: torch.Tensor, norm, attn, mlp) -> dict[str, tuple[torch.Tensor, str]]:
    """{code: (the output the mistake gives, the hint for it)}."""
    h = norm(x)
    a, m = attn(h), mlp(h)
    z = x + a
    return {
        "sequential": (
            z + mlp(norm(z)),
            tr("that is the lesson's sequential pre-norm block: the MLP reads the output of the attention step. In "
               "the parallel block both branches read the same LN(x), computed once: x + MSA(LN(x)) + MLP(LN(x)).")),
        "mlp_reads_attention": (
            x + a + mlp(a),
            tr("the MLP reads the attention output; in the parallel block it reads LN(x), like the attention does.")),
        "residual_twice": (
            2 * x + a + m,
            tr("x is added twice (once per branch); the block has one residual: x + MSA(LN(x)) + MLP(LN(x)).")),
        "no_residual": (
            a + m,
            tr("the residual is missing: add the block input x to the two branches.")),
        "residual_from_normalised": (
            h + a + m,
            tr("the residual adds the *normalised* input LN(x); it must add the un-normalised x, so that the identity "
               "path never passes through a LayerNorm.")),
        "no_layernorm": (
            x + attn(x) + mlp(x),
            tr("the LayerNorm is missing: both branches read LN(x), not x.")),
        "averaged": (
            x + (a + m) / 2,
            tr("you averaged the two branches; the block adds both in full: x + MSA(LN(x)) + MLP(LN(x)).")),
        "only_attention": (z, tr("the MLP branch is missing: x + MSA(LN(x)) + MLP(LN(x)).")),
        "only_mlp": (x + m, tr("the attention branch is missing: x + MSA(LN(x)) + MLP(LN(x)).")),
    }


def check_parallel_block(function: Callable[..., torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(x, norm, attn, mlp) -> x + attn(norm(x)) + mlp(norm(x))`` on x of shape (2, 5, 16)."""
    x, block = _block_parts(seed)
    parts = (block.norm1, block.attn, block.mlp)
    with torch.no_grad():
        expected = reference_parallel_block(x, *parts)
        mistakes = _parallel_mistakes(x, *parts)
        result, problem = run_for_tensor(function, x.clone(), *parts)
    if problem is not None:
        return hint_on_crash(problem, tr("every part maps (B, T, D) to (B, T, D): call norm, attn and mlp on tensors "
                                         "of that shape and add the results."), mentions=("size", "shape", "dimension"))
    return judge(result, expected, mistakes, right=tr("parallel block: x + MSA(LN(x)) + MLP(LN(x)), both branches "
                 "reading one LayerNorm, as in ViT-22B."), what=tr("the block output"),
                 advice=tr("Compare your code with the equation step by step."), atol=1e-5)


# --------------------------------------------------------------------------- parameters of one block
BLOCK_CASES = (dict(dim=48, mlp_dim=80, qkv_bias=True), dict(dim=40, mlp_dim=72, qkv_bias=False),
               dict(dim=1024, mlp_dim=2048, qkv_bias=True), dict(dim=768, mlp_dim=3072, qkv_bias=False))


def reference_block_parameters(dim: int, mlp_dim: int, qkv_bias: bool) -> int:
    """Two LayerNorms (4D), attention (4D^2 + D, plus 3D with qkv biases), MLP (2DM + M + D)."""
    d, m = dim, mlp_dim
    return 4 * d + (4 * d * d + d + (3 * d if qkv_bias else 0)) + (2 * d * m + m + d)


def _block_parameter_mistakes(dim: int, mlp_dim: int, qkv_bias: bool) -> list[tuple[int, str, str]]:
    d, m = dim, mlp_dim
    want = reference_block_parameters(d, m, qkv_bias)
    biases = (3 * d if qkv_bias else 0) + d + m + d
    one_layer = tr("one MLP layer is missing: fc1 is D x M plus M biases, fc2 M x D plus D.")
    mistakes = [
        (want - 4 * d, "no_norms", tr("the two LayerNorms are missing: each has a gain and a bias of D numbers, 4D in "
                                      "all.")),
        (want - 2 * d, "half_the_norms", tr("2D is missing: there are two LayerNorms (before attention and before the "
                                            "MLP), each with a gain *and* a bias of D numbers.")),
        (want + 2 * d, "final_norm", tr("2D too many: the final LayerNorm (Eq. 4) belongs to the model, once, not to "
                                        "every block.")),
        (want - biases, "no_biases", tr("the biases of the linear layers are missing (qkv if qkv_bias, the output "
                                        "projection, fc1 and fc2).")),
        (want - (d * d + d), "no_output_projection", tr("the attention's output projection (D x D weights and D "
                                                        "biases) is missing.")),
        (want - (d * m + m), "one_mlp_layer", one_layer),
        (want - (d * m + d), "one_mlp_layer", one_layer),
        (reference_block_parameters(d, 4 * d, qkv_bias), "four_d", tr("you used M = 4D; here M is mlp_dim (the "
                                                                      "README model has M = 2D).")),
    ]
    if qkv_bias:
        mistakes.append((want - 3 * d, "qkv_bias_missing", tr("the 3D biases of q, k and v are missing: with "
                                                             "qkv_bias=True each of the 3D outputs has a bias.")))
    else:
        mistakes.append((want + 3 * d, "qkv_bias_ignored", tr("with qkv_bias=False (as in vit-pytorch) the q, k, v "
                                                             "projection has no biases: leave out the 3D.")))
    return [(value, code, hint) for value, code, hint in mistakes if value != want]


def check_block_parameters(function: Callable[[int, int, bool], Any]) -> Feedback:
    """Check ``function(dim, mlp_dim, qkv_bias) -> parameters of one pre-norm encoder block``."""
    for case in BLOCK_CASES:
        result, problem = run_for_number(function, tr("the number of parameters"), *case.values())
        if problem is not None:
            return problem
        want = reference_block_parameters(**case)
        if result == want:
            continue
        details = {**case, "expected": want, "received": result, "mistake": "unknown"}
        if isinstance(result, float) and not result.is_integer():
            return Feedback(False, tr("a parameter count is a whole number, got {result}.", result=result),
                            {**details, "mistake": "fraction"})
        for value, code, hint in _block_parameter_mistakes(**case):
            if result == value:
                return Feedback(False, tr("for {case} expected {want:,}, got {result:,}: {hint}", case=case, want=want,
                                          result=int(result), hint=hint), {**details, "mistake": code})
        gap = want - result
        off = tr("short by {gap:,}", gap=gap) if gap > 0 else tr("{gap:,} too many", gap=-gap)
        return Feedback(False, tr("for {case} expected {want:,}, got {result:,} ({off}). Count the parts one by one: "
                                  "norm1, attention (qkv and output projection), norm2, fc1, fc2.", case=case,
                                  want=want, result=result, off=off), details)
    return Feedback(True, tr("4D + (4D^2 + 4D) + (2DM + M + D) with qkv biases, 3D less without: {count:,} per block "
                             "for the README model.", count=reference_block_parameters(1024, 2048, True)))


# --------------------------------------------------------------------------- shapes of every stage
STAGES = ("patches", "tokens", "qkv", "attention_weights", "mlp_hidden", "pooled", "logits")
# A small case whose numbers all differ (so each mistake has one explanation), then the vit-pytorch example.
SHAPE_CASES = (dict(batch=3, image_size=48, patch_size=8, dim=40, heads=5, mlp_dim=72, num_classes=10),
               dict(batch=2, image_size=256, patch_size=32, dim=1024, heads=16, mlp_dim=2048, num_classes=1000))


def stage_shapes(batch: int, image_size: int, patch_size: int, dim: int, heads: int, mlp_dim: int,
                 num_classes: int, channels: int = 3) -> dict[str, tuple[int, ...]]:
    """Reference shapes of each stage of a ViT forward pass (T = N + 1 tokens)."""
    n = (image_size // patch_size) ** 2
    t = n + 1
    return {"patches": (batch, n, patch_size * patch_size * channels), "tokens": (batch, t, dim),
            "qkv": (batch, t, 3 * dim), "attention_weights": (batch, heads, t, t), "mlp_hidden": (batch, t, mlp_dim),
            "pooled": (batch, dim), "logits": (batch, num_classes)}


def _shape_hint(stage: str, got: tuple, case: dict[str, int]) -> str:
    b, p, d, k = case["batch"], case["patch_size"], case["dim"], case["heads"]
    n = (case["image_size"] // p) ** 2
    t = n + 1
    known = {
        ("patches", (b, n, p * p)): tr("a patch has P^2 C values: multiply by the C = 3 channels."),
        ("patches", (b, n, d)): tr("that is after the projection; the flattened patches have P^2 C values each."),
        ("patches", (b, t, p * p * 3)): tr("the patches do not include the class token yet: N, not N + 1."),
        ("tokens", (b, n, d)): tr("z_0 has N + 1 tokens: the class token is prepended to the N patches."),
        ("qkv", (b, t, d)): tr("q, k and v come out of one projection: 3 D features per token."),
        ("qkv", (b, n, 3 * d)): tr("the class token is part of the sequence: T = N + 1 tokens."),
        ("attention_weights", (b, t, t)): tr("every head has its own T x T weights: (B, heads, T, T)."),
        ("attention_weights", (b, k, n, n)): tr("the class token takes part in attention: T = N + 1."),
        ("attention_weights", (b, k, t, d // k)): tr("(B, heads, T, D/k) is the shape of q, k, v per head; the "
                                                     "weights compare every token with every token: (B, heads, T, T)."),
        ("mlp_hidden", (b, t, d)): tr("the hidden layer of the MLP has M = mlp_dim features, not D."),
        ("mlp_hidden", (b, t, 4 * d)): tr("M is mlp_dim, given as an argument (4 D in the paper's models, not here)."),
        ("pooled", (b, t, d)): tr("pooling keeps one vector per image: the class token's output, (B, D)."),
        ("logits", (b, t, case["num_classes"])): tr("the head sees the pooled vector, one per image: (B, K)."),
    }
    return known.get((stage, tuple(got)), "")


def check_stage_shapes(function: Callable[..., dict]) -> Feedback:
    """Check ``function(batch, image_size, patch_size, dim, heads, mlp_dim, num_classes) -> {stage: shape}``.

    The stages are :data:`STAGES`; shapes may be tuples, lists or ``torch.Size``.
    """
    for case in SHAPE_CASES:
        expected = stage_shapes(**case)
        result, problem = run_student_code(function, **case)
        if problem is not None:
            return problem
        if not isinstance(result, dict):
            return Feedback(False, tr("return a dict {{stage: shape}} with keys {stages}, got {type}.", stages=STAGES,
                                      type=type(result).__name__), {"mistake": "type"})
        missing = [s for s in STAGES if s not in result]
        if missing:
            return Feedback(False, tr("missing stage(s) {missing}; the dict needs all of {stages}.", missing=missing,
                                      stages=STAGES), {"mistake": "missing", "missing": missing})
        for stage in STAGES:
            got = result[stage]
            if got is None:
                return not_done_stage(stage)
            try:
                got = tuple(int(v) for v in got)
            except (TypeError, ValueError):
                return Feedback(False, tr("{stage}: a shape is a tuple of ints, got {got!r}.", stage=stage, got=got),
                                {"mistake": "type"})
            if got != expected[stage]:
                hint = _shape_hint(stage, got, case)
                return Feedback(False, tr("{stage} for {case}: expected {expected}, got {got}. {hint}", stage=stage,
                                          case=case, expected=expected[stage], got=got, hint=hint).rstrip(),
                                {"mistake": stage, "hint": bool(hint), "expected": expected[stage], "received": got})
    return Feedback(True, tr("all {count} stages right for a small model and the vit-pytorch example.",
                             count=len(STAGES)))


def not_done_stage(stage: str) -> Feedback:
    """Feedback for a stage the student left as ``None``."""
    return Feedback(False, tr("the shape of {stage!r} is still None: fill it in.", stage=stage),
                    {"mistake": "not_done", "not_done": True})
