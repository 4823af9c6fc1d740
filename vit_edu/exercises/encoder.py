"""Checks for the encoder lesson (paper Eq. 2-4): GELU, the pre-norm block, the shapes of every stage.

Each check runs the student's function, compares with a reference written here, and when the
answer is wrong compares it with the answers typical mistakes produce (the tanh approximation,
post-norm, a missing residual, a forgotten class token, ...) to say which one it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vit_edu.block import EncoderBlock
from vit_edu.exercises.feedback import Feedback, judge, run_for_tensor, run_student_code

_STEP_BY_STEP = "Compare your code with the equation step by step."


# --------------------------------------------------------------------------- GELU
def _gelu_mistakes(x: torch.Tensor) -> dict[str, tuple[torch.Tensor, str]]:
    """{code: (the output the mistake gives, the hint for it)}."""
    phi = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    return {
        "tanh_approximation": (
            0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
            "that is the tanh approximation of GELU (used by GPT-2 and the original JAX ViT code); it differs from "
            "the exact GELU by up to ~5e-4. Write the exact one, as timm, transformers and vit_edu use it: "
            "x * Phi(x) with Phi(x) = (1 + erf(x / sqrt(2))) / 2."),
        "sigmoid_approximation": (
            x * torch.sigmoid(1.702 * x),
            "that is the sigmoid approximation x * sigmoid(1.702 x); use the exact x * Phi(x) = "
            "x * (1 + erf(x / sqrt(2))) / 2."),
        "relu": (
            torch.relu(x),
            "that is ReLU (max(0, x)); GELU weights x by the Gaussian CDF: x * Phi(x), smooth and slightly negative "
            "for x < 0."),
        "missing_sqrt2": (
            0.5 * x * (1 + torch.erf(x)),
            "the argument of erf must be x / sqrt(2): Phi(x) = (1 + erf(x / sqrt(2))) / 2 is the CDF of a standard "
            "normal."),
        "missing_x": (phi, "you returned Phi(x), the Gaussian CDF; GELU is x * Phi(x)."),
        "missing_half": (x * (1 + torch.erf(x / math.sqrt(2))), "the factor 1/2 is missing: Phi(x) = "
                         "(1 + erf(x / sqrt(2))) / 2."),
    }


def check_gelu(function: Callable[[torch.Tensor], torch.Tensor]) -> Feedback:
    """Check ``function(x) -> GELU(x)``: the exact GELU x Phi(x) of the MLP (Eq. 3), as in timm and transformers."""
    x = torch.linspace(-5, 5, 201, dtype=torch.float64).reshape(3, 67)
    expected = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    result, problem = run_for_tensor(function, x.clone())
    if problem is not None:
        return problem
    return judge(result, expected, _gelu_mistakes(x), right="exact GELU, x * Phi(x), on 201 points in [-5, 5].",
                 what="GELU(x)", advice=_STEP_BY_STEP)


# --------------------------------------------------------------------------- pre-norm block
def _block_parts(seed: int) -> tuple[torch.Tensor, EncoderBlock]:
    generator = torch.Generator().manual_seed(seed)
    block = EncoderBlock(dim=16, heads=4, head_dim=4, mlp_dim=32).eval()
    with torch.no_grad():
        for param in block.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * 0.3)
        block.norm1.weight.add_(1.0)
        block.norm2.weight.add_(1.0)
    x = 1.0 + 3.0 * torch.randn(2, 5, 16, generator=generator)  # (B, T, D), not normalised
    return x, block


def _block_mistakes(x: torch.Tensor, b: EncoderBlock) -> dict[str, tuple[torch.Tensor, str]]:
    """{code: (the output the mistake gives, the hint for it)}."""
    n1, n2, attn, mlp = b.norm1, b.norm2, b.attn, b.mlp
    h = n1(x)
    z = h + attn(h)
    post = n1(x + attn(x))
    mid = x + attn(n1(x))
    first = x + mlp(n2(x))
    return {
        "post_norm": (
            n2(post + mlp(post)),
            "that is the post-norm block of the original Transformer, LN(x + F(x)). ViT is pre-norm (Eq. 2-3): "
            "x = x + attn(norm1(x)), then x = x + mlp(norm2(x)); the LayerNorm sits inside the branch."),
        "no_residual": (
            mlp(n2(attn(n1(x)))),
            "the residual connections are missing: add each sub-layer's output to its input, "
            "x = x + attn(norm1(x)) and x = x + mlp(norm2(x))."),
        "missing_first_residual": (
            attn(n1(x)) + mlp(n2(attn(n1(x)))),
            "the first residual is missing: z' = z + MSA(LN(z)) (Eq. 2), not MSA(LN(z))."),
        "missing_second_residual": (
            mlp(n2(mid)),
            "the second residual is missing: z = z' + MLP(LN(z')) (Eq. 3), not MLP(LN(z'))."),
        "residual_from_normalised": (
            n2(z) + mlp(n2(z)),
            "the residual adds the *normalised* input; it must add the un-normalised x: x = x + attn(norm1(x)). "
            "The identity path never passes through a LayerNorm."),
        "parallel": (
            x + attn(n1(x)) + mlp(n2(x)),
            "both branches read the block input x (a 'parallel' block); in ViT the MLP reads the output of the "
            "attention step: z' = z + MSA(LN(z)), then z' + MLP(LN(z'))."),
        "norms_swapped": (
            (x + attn(n2(x))) + mlp(n1(x + attn(n2(x)))),
            "norm1 and norm2 are swapped: norm1 belongs to the attention branch, norm2 to the MLP."),
        "mlp_first": (
            first + attn(n1(first)),
            "the MLP comes first; ViT applies attention first (Eq. 2), then the MLP (Eq. 3)."),
        "no_layernorm": (
            (x + attn(x)) + mlp(x + attn(x)),
            "the LayerNorms are missing: each branch normalises its input first, attn(norm1(x))."),
    }


def check_prenorm_block(function: Callable[..., torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(x, norm1, attn, norm2, mlp) -> block output`` (Eq. 2-3) on x of shape (2, 5, 16)."""
    x, block = _block_parts(seed)
    with torch.no_grad():
        expected = block(x)  # (B, T, D), vit_edu.EncoderBlock
        mistakes = _block_mistakes(x, block)
        result, problem = run_for_tensor(function, x.clone(), block.norm1, block.attn, block.norm2, block.mlp)
    if problem is not None:
        return problem
    return judge(result, expected, mistakes, right="pre-norm block: z' = z + MSA(LN(z)), z = z' + MLP(LN(z')), "
                 "matches EncoderBlock.", what="the block output", advice=_STEP_BY_STEP, atol=1e-5)


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
        ("patches", (b, n, p * p)): "a patch has P^2 C values: multiply by the C = 3 channels.",
        ("patches", (b, n, d)): "that is after the projection; the flattened patches have P^2 C values each.",
        ("patches", (b, t, p * p * 3)): "the patches do not include the class token yet: N, not N + 1.",
        ("tokens", (b, n, d)): "z_0 has N + 1 tokens: the class token is prepended to the N patches.",
        ("qkv", (b, t, d)): "q, k and v come out of one projection: 3 D features per token.",
        ("qkv", (b, n, 3 * d)): "the class token is part of the sequence: T = N + 1 tokens.",
        ("attention_weights", (b, t, t)): "every head has its own T x T weights: (B, heads, T, T).",
        ("attention_weights", (b, k, n, n)): "the class token takes part in attention: T = N + 1.",
        ("attention_weights", (b, k, t, d // k)): "(B, heads, T, D/k) is the shape of q, k, v per head; the weights "
                                                  "compare every token with every token: (B, heads, T, T).",
        ("mlp_hidden", (b, t, d)): "the hidden layer of the MLP has M = mlp_dim features, not D.",
        ("mlp_hidden", (b, t, 4 * d)): "M is mlp_dim, given as an argument (4 D in the paper's models, not here).",
        ("pooled", (b, t, d)): "pooling keeps one vector per image: the class token's output, (B, D).",
        ("logits", (b, t, case["num_classes"])): "the head sees the pooled vector, one per image: (B, K).",
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
            return Feedback(False, f"return a dict {{stage: shape}} with keys {STAGES}, got {type(result).__name__}.",
                            {"mistake": "type"})
        missing = [s for s in STAGES if s not in result]
        if missing:
            return Feedback(False, f"missing stage(s) {missing}; the dict needs all of {STAGES}.",
                            {"mistake": "missing", "missing": missing})
        for stage in STAGES:
            got = result[stage]
            if got is None:
                return not_done_stage(stage)
            try:
                got = tuple(int(v) for v in got)
            except (TypeError, ValueError):
                return Feedback(False, f"{stage}: a shape is a tuple of ints, got {got!r}.", {"mistake": "type"})
            if got != expected[stage]:
                hint = _shape_hint(stage, got, case)
                return Feedback(False, f"{stage} for {case}: expected {expected[stage]}, got {got}. {hint}".rstrip(),
                                {"mistake": stage, "hint": bool(hint), "expected": expected[stage], "received": got})
    return Feedback(True, f"all {len(STAGES)} stages right for a small model and the vit-pytorch example.")


def not_done_stage(stage: str) -> Feedback:
    """Feedback for a stage the student left as ``None``."""
    return Feedback(False, f"the shape of {stage!r} is still None: fill it in.", {"mistake": "not_done",
                                                                                   "not_done": True})
