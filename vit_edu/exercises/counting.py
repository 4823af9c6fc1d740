"""Checks for the parameter-counting lesson (paper Table 1, §3.1): variations of the lesson's counts.

- :func:`check_no_class_token_parameters`: a ViT without a class token (mean pooling, fixed sin-cos
  positions, as in "Better plain ViT baselines", Beyer et al., 2022);
- :func:`check_encoder_flops`: the FLOPs of the L blocks for a rectangular image and any MLP width;
- :func:`check_hybrid_embedding_parameters`: the embedding of a hybrid, which cuts patches out of a
  CNN feature map (§3.1, "Hybrid Architecture").

Each check runs the student's function on a few configurations, compares with the closed form, and
when the answer is wrong matches it against what typical mistakes give (the class token or the
learned positions kept, N instead of N + 1 tokens, multiply-adds instead of FLOPs, 3 image channels
instead of the feature map's, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vit_edu.exercises.feedback import Feedback, run_for_number
from vit_edu.language import tr


def _check(function: Callable[..., Any], cases: list[dict[str, int]], expected: Callable[..., int],
           mistakes: Callable[..., list[tuple[int, str, str]]], done: str, flops: bool = False) -> Feedback:
    """Run ``function`` on ``cases``; ``flops``: the answer is a FLOP count, not a parameter count."""
    for case in cases:
        # positional: students name the parameters freely
        what = tr("the FLOP count") if flops else tr("the parameter count")
        result, problem = run_for_number(function, what, *case.values())
        if problem is not None:
            return problem
        if isinstance(result, float) and not result.is_integer():
            if flops:
                message = tr("a FLOP count is a whole number, got {result}; use `//` for divisions.", result=result)
            else:
                message = tr("a parameter count is a whole number, got {result}; use `//` for divisions.",
                             result=result)
            return Feedback(False, message, {"mistake": "fraction", "received": result})
        result = int(result)
        want = expected(**case)
        if result != want:
            details = {**case, "expected": want, "received": result, "mistake": "unknown"}
            for value, code, hint in mistakes(**case):
                if result == value:
                    return Feedback(False, tr("for {case} expected {want:,}, got {result:,}: {hint}", case=case,
                                              want=want, result=result, hint=hint), {**details, "mistake": code})
            dim = case.get("dim", 1)
            gap = want - result
            hint = tr(" That is {times:+g} x D.", times=gap / dim) if gap % dim == 0 else ""
            off = tr("short by {gap:,}", gap=gap) if gap > 0 else tr("{gap:,} too many", gap=-gap)
            return Feedback(False, tr("for {case} expected {want:,}, got {result:,} ({off}).{hint} Go through the "
                                      "components one by one.", case=case, want=want, result=result, off=off,
                                      hint=hint), details)
    return Feedback(True, done)


# --------------------------------------------------------------------------- the whole model
TOTAL_CASES = [dict(image_size=32, patch_size=8, channels=1, dim=48, depth=3, mlp_dim=80, num_classes=10),
               dict(image_size=224, patch_size=16, channels=3, dim=768, depth=12, mlp_dim=3072, num_classes=1000)]


def reference_total(image_size: int, patch_size: int, channels: int, dim: int, depth: int, mlp_dim: int,
                    num_classes: int) -> int:
    """The closed form of the parameter-counting lesson, written out."""
    d, m, k = dim, mlp_dim, num_classes
    n = (image_size // patch_size) ** 2
    block = (4 * d * d + 4 * d) + (2 * d * m + m + d) + 4 * d
    return (patch_size**2 * channels * d + d) + d + (n + 1) * d + depth * block + 2 * d + (d * k + k)


def _total_mistakes(image_size: int, patch_size: int, channels: int, dim: int, depth: int, mlp_dim: int,
                    num_classes: int) -> list[tuple[int, str, str]]:
    d, m, k, L = dim, mlp_dim, num_classes, depth
    n, patch_dim = (image_size // patch_size) ** 2, patch_size**2 * channels
    total = reference_total(image_size, patch_size, channels, dim, depth, mlp_dim, num_classes)
    block = (4 * d * d + 4 * d) + (2 * d * m + m + d) + 4 * d
    missing = [
        (d, "one_d", tr("one D-vector is missing: the class token, its position embedding, or the patch-projection "
                        "bias.")),
        (2 * d, "final_norm", tr("2D is missing: the final LayerNorm of Eq. 4 (or two of: class token, its position, "
                                 "the patch bias).")),
        (4 * d * L, "block_norms_or_attention_biases", tr("4DL is missing: the two LayerNorms of every block (2D "
                                                          "each), or the 4D attention biases of every block.")),
        (4 * d * L + 2 * d, "all_norms", tr("all LayerNorms are missing: 2 per block (4D) and the final one (2D).")),
        (3 * d * L, "qkv_bias", tr("the q, k, v biases (3D per block) are missing.")),
        (L * (m + d), "mlp_biases", tr("the MLP biases (M + D per block) are missing.")),
        (k, "head_bias", tr("the head's K biases are missing.")),
        (d * k + k, "head", tr("the classification head (D K + K) is missing.")),
        (block, "one_block", tr("one block is missing: there are L blocks (range(L), not range(L - 1)).")),
        ((n + 1) * d, "positions", tr("the position embeddings, (N + 1) D, are missing.")),
        (patch_dim * d + d, "patch_projection", tr("the patch projection E (P^2 C D + D) is missing.")),
        (patch_dim * d, "patch_projection", tr("the patch projection's weights P^2 C D are missing (C is the number "
                                               "of channels).")),
        ((patch_size**2 * (channels - 1)) * d, "channels", tr("you left out the channels: a patch has P^2 C values.")),
        (L * (4 * d * d + 4 * d), "attention", tr("the attention layers (4D^2 + 4D per block) are missing.")),
        (L * (2 * d * m + m + d), "mlp", tr("the MLPs (2DM + M + D per block) are missing.")),
    ]
    extra = [
        (2 * patch_dim + 2 * d, "vit_pytorch_norms", tr("you added LayerNorms around the patch projection (2 P^2 C + "
                                                       "2D); vit-pytorch has them, the paper's ViT does not.")),
        (2 * patch_dim + 2 * d - 3 * d * L, "vit_pytorch", tr("that is vit-pytorch's count (LayerNorms around the "
                                                             "patch projection, no qkv bias); the paper's model "
                                                             "differs.")),
        (d * d + d, "pre_logits", tr("you added a D x D hidden layer to the head: the paper uses it only in "
                                     "pre-training; the fine-tuned model has a single Linear head.")),
        (block, "extra_block", tr("one block too many: there are L blocks.")),
    ]
    return [(total - gap, code, hint) for gap, code, hint in missing if gap] + [
        (total + gap, code, hint) for gap, code, hint in extra if gap]


# --------------------------------------------------------------------------- a ViT without a class token
def reference_no_class_token(image_size: int, patch_size: int, channels: int, dim: int, depth: int, mlp_dim: int,
                             num_classes: int) -> int:
    """The paper's count without the class token (D) and without learned positions ((N + 1) D)."""
    n = (image_size // patch_size) ** 2
    return reference_total(image_size, patch_size, channels, dim, depth, mlp_dim, num_classes) - dim - (n + 1) * dim


_SHARED_MISTAKES = ("block_norms_or_attention_biases", "all_norms", "qkv_bias", "mlp_biases", "head_bias", "head",
                    "one_block", "patch_projection", "channels", "attention", "mlp", "vit_pytorch_norms",
                    "pre_logits", "extra_block")


def _no_class_token_mistakes(image_size: int, patch_size: int, channels: int, dim: int, depth: int, mlp_dim: int,
                             num_classes: int) -> list[tuple[int, str, str]]:
    case = dict(image_size=image_size, patch_size=patch_size, channels=channels, dim=dim, depth=depth,
                mlp_dim=mlp_dim, num_classes=num_classes)
    d, n = dim, (image_size // patch_size) ** 2
    want = reference_no_class_token(**case)
    paper = reference_total(**case)
    specific = [
        (paper, "paper_count", tr("that is the paper's ViT, with a class token (D) and learned positions ((N + 1) D); "
                                  "this model has neither.")),
        (want + d, "kept_class_token", tr("D too many: without a class token there is no x_class vector.")),
        (want + (n + 1) * d, "kept_positions", tr("the sin-cos positions are computed from each patch's row and "
                                                  "column, not learned: they have no parameters.")),
        (want + n * d, "kept_positions", tr("the sin-cos positions are computed from each patch's row and column, not "
                                            "learned: they have no parameters (not even for the N patches).")),
        (want - 2 * d, "final_norm", tr("2D is missing: the final LayerNorm stays; it normalises the tokens before "
                                        "they are averaged.")),
        (want - d, "patch_bias", tr("D is missing: the patch projection keeps its bias (P^2 C D + D).")),
    ]
    removed = paper - want
    shared = [(value - removed, code, hint) for value, code, hint in _total_mistakes(**case)
              if code in _SHARED_MISTAKES]
    return specific + shared


def check_no_class_token_parameters(function: Callable[..., Any]) -> Feedback:
    """Check ``function(image_size, patch_size, channels, dim, depth, mlp_dim, num_classes)`` -> parameters of a
    ViT with mean pooling, no class token and fixed sin-cos position embeddings."""
    return _check(function, TOTAL_CASES, reference_no_class_token, _no_class_token_mistakes,
                  tr("the paper's count minus the class token (D) and the learned positions ((N + 1) D): {count:,} "
                     "for B/16, 0.2 % fewer than the paper's model.", count=reference_no_class_token(**TOTAL_CASES[1])))


# --------------------------------------------------------------------------- encoder FLOPs
FLOPS_CASES = [dict(height=48, width=32, patch_size=8, dim=40, depth=3, mlp_dim=72),
               dict(height=224, width=224, patch_size=16, dim=768, depth=12, mlp_dim=3072),
               dict(height=384, width=640, patch_size=16, dim=768, depth=12, mlp_dim=3072)]


def _encoder_flops(tokens: int, dim: int, depth: int, mlp_dim: int) -> int:
    t, d, m = tokens, dim, mlp_dim
    return depth * (2 * t * d * 3 * d + 2 * 2 * t * t * d + 2 * t * d * d + 2 * 2 * t * d * m)


def reference_encoder_flops(height: int, width: int, patch_size: int, dim: int, depth: int, mlp_dim: int) -> int:
    """FLOPs (a multiply-add = 2) of the L blocks: qkv, q k^T and A v, the output projection, the MLP."""
    tokens = (height // patch_size) * (width // patch_size) + 1
    return _encoder_flops(tokens, dim, depth, mlp_dim)


def _flops_mistakes(height: int, width: int, patch_size: int, dim: int, depth: int, mlp_dim: int
                    ) -> list[tuple[int, str, str]]:
    d, m, L = dim, mlp_dim, depth
    n = (height // patch_size) * (width // patch_size)
    t = n + 1
    want = reference_encoder_flops(height, width, patch_size, dim, depth, mlp_dim)
    return [
        (want // 2, "multiply_adds", tr("that is the number of multiply-adds; a multiply-add counts as 2 FLOPs.")),
        (_encoder_flops(n, d, L, m), "no_class_token", tr("the class token is part of the sequence: T = N + 1 "
                                                          "tokens.")),
        (_encoder_flops((height // patch_size) ** 2 + 1, d, L, m), "square", tr("the image is not square: N = (H/P) "
                                                                               "(W/P), not (H/P)^2.")),
        (_encoder_flops((width // patch_size) ** 2 + 1, d, L, m), "square", tr("the image is not square: N = (H/P) "
                                                                              "(W/P), not (W/P)^2.")),
        (want - L * 4 * t * t * d, "no_quadratic", tr("attention's own products are missing: q k^T and A v cost "
                                                      "2 T^2 D FLOPs each.")),
        (want - L * 2 * t * t * d, "one_attention_product", tr("one of attention's two products is missing: q k^T "
                                                               "*and* A v, 2 T^2 D FLOPs each.")),
        (want - L * 2 * t * d * d, "no_output_projection", tr("the output projection U_msa (2 T D^2) is missing.")),
        (want - L * 2 * t * d * m, "one_mlp_layer", tr("one MLP layer is missing: fc1 and fc2 cost 2 T D M each.")),
        (_encoder_flops(t, d, L, 4 * d), "four_d", tr("the MLP width is mlp_dim; use M, not 4D.")),
        (want // L, "one_block", tr("that is one block; the encoder has L of them.")),
        (want + L * 2 * t * d * d, "qkv_four", tr("the q, k, v projection maps D to 3D (2 T D 3D FLOPs) and the "
                                                  "output projection D to D: 4 of those matrices in all, not 5.")),
    ]


def check_encoder_flops(function: Callable[..., Any]) -> Feedback:
    """Check ``function(height, width, patch_size, dim, depth, mlp_dim)`` -> FLOPs of the L encoder blocks."""
    b16 = reference_encoder_flops(**FLOPS_CASES[1])
    return _check(function, FLOPS_CASES, reference_encoder_flops, _flops_mistakes,
                  tr("L (8 T D^2 + 4 T^2 D + 4 T D M) with T = (H/P)(W/P) + 1: {gflops:.1f} GFLOPs for the blocks "
                     "of B/16 at 224 px.", gflops=b16 / 1e9), flops=True)


# --------------------------------------------------------------------------- the embedding of a hybrid
HYBRID_CASES = [dict(feature_size=8, feature_channels=96, patch_size=2, dim=40),
                dict(feature_size=14, feature_channels=1024, patch_size=1, dim=768),
                dict(feature_size=24, feature_channels=1024, patch_size=1, dim=1024)]


def reference_hybrid_embedding(feature_size: int, feature_channels: int, patch_size: int, dim: int) -> int:
    """Patch projection P^2 C' D + D, class token D, positions (N + 1) D with N = (F / P)^2."""
    n = (feature_size // patch_size) ** 2
    return patch_size**2 * feature_channels * dim + dim + dim + (n + 1) * dim


def _hybrid_mistakes(feature_size: int, feature_channels: int, patch_size: int, dim: int) -> list[tuple[int, str, str]]:
    f, c, p, d = feature_size, feature_channels, patch_size, dim
    n = (f // p) ** 2
    want = reference_hybrid_embedding(f, c, p, d)
    return [
        (want - p * p * (c - 3) * d, "image_channels", tr("a patch of the feature map has C' = feature_channels values "
                                                         "per position, not the image's 3.")),
        (want - (p * p - p) * c * d, "patch_not_squared", tr("a P x P patch has P^2 C' values, not P C'.")),
        (reference_hybrid_embedding(f, c, 1, d), "patch_size_ignored", tr("the patches are P x P positions of the "
                                                                         "feature map: P^2 C' values each, N = "
                                                                         "(F/P)^2.")),
        (want - d, "one_d", tr("one D-vector is missing: the class token or the bias of the projection.")),
        (want - 2 * d, "two_d", tr("2D is missing: the class token *and* the projection's bias.")),
        (want - d * (n + 1), "no_positions", tr("the position embeddings ((N + 1) D) are missing.")),
        (want - (n + 1) * d + (f // p + 1) * d, "not_squared", tr("the feature map is F x F: N = (F/P)^2 patches.")),
        (want - p * p * c * d, "no_projection", tr("the projection's weights P^2 C' D are missing.")),
    ]


def check_hybrid_embedding_parameters(function: Callable[..., Any]) -> Feedback:
    """Check ``function(feature_size, feature_channels, patch_size, dim)`` -> parameters of a hybrid's embedding."""
    r50 = reference_hybrid_embedding(**HYBRID_CASES[1])
    pixels = reference_hybrid_embedding(224, 3, 16, 768)  # B/16: the "feature map" is the image itself
    return _check(function, HYBRID_CASES, reference_hybrid_embedding, _hybrid_mistakes,
                  tr("P^2 C' D + D + D + (N + 1) D: {r50:,} for a 14 x 14 x 1024 feature map and ViT-B, against "
                     "{pixels:,} for B/16's embedding of 16 x 16 pixel patches: the same 196 patches, but 1,024 "
                     "values each instead of 768.", r50=r50, pixels=pixels))
