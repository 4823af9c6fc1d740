"""Checks for the parameter-counting lesson (paper Table 1): one attention layer, the position
embeddings, and the whole model.

Each check runs the student's function on a few configurations, compares with the closed form, and
when the count is wrong matches the difference against what typical mistakes leave out or add
(biases, the output projection, the class token's position, the LayerNorms, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vit_edu.exercises.feedback import Feedback, run_for_number


def _check(function: Callable[..., Any], cases: list[dict[str, int]], expected: Callable[..., int],
           mistakes: Callable[..., list[tuple[int, str, str]]], done: str) -> Feedback:
    for case in cases:
        result, problem = run_for_number(function, "the parameter count", **case)
        if problem is not None:
            return problem
        if isinstance(result, float) and not result.is_integer():
            return Feedback(False, f"a parameter count is a whole number, got {result}; use `//` for divisions.",
                            {"mistake": "fraction", "received": result})
        result = int(result)
        want = expected(**case)
        if result != want:
            details = {**case, "expected": want, "received": result, "mistake": "unknown"}
            for value, code, hint in mistakes(**case):
                if result == value:
                    return Feedback(False, f"for {case} expected {want:,}, got {result:,}: {hint}",
                                    {**details, "mistake": code})
            dim = case.get("dim", 1)
            gap = want - result
            hint = f" That is {gap / dim:+g} x D." if gap % dim == 0 else ""
            return Feedback(False, f"for {case} expected {want:,}, got {result:,} (short by {gap:,}).{hint} "
                                   "Go through the components one by one.", details)
    return Feedback(True, done)


# --------------------------------------------------------------------------- attention of one block
ATTENTION_CASES = [dict(dim=48, heads=3), dict(dim=768, heads=12), dict(dim=1024, heads=16)]


def _attention_mistakes(dim: int, heads: int) -> list[tuple[int, str, str]]:
    d = dim
    return [
        (4 * d * d, "no_biases", "you left out the biases: the qkv projection has 3D of them and the output "
                                 "projection D, so 4D^2 + 4D."),
        (3 * d * d + 3 * d, "no_output_projection", "you left out the output projection U_msa (D x D weights "
                                                    "and D biases) that mixes the concatenated heads (Eq. 8)."),
        (3 * d * d, "no_output_projection", "you left out the output projection (D^2 + D) and the biases (3D)."),
        (4 * d * d + d, "no_qkv_bias", "you left out the 3D biases of q, k and v (vit-pytorch has none, the paper's "
                                       "model has them)."),
        (4 * d * d + 3 * d, "no_output_bias", "you left out the D biases of the output projection."),
        (heads * (4 * d * d + 4 * d), "times_heads",
         "you multiplied by the number of heads: the heads split the D features (D/k each), so all heads together "
         "have one D x 3D matrix."),
        (heads * (3 * d * d + 3 * d) + d * d + d, "full_width_heads", "each head's q, k and v have D/k features, not "
                                                                      "D: together the heads have 3D^2 weights."),
        (4 * d * d + 6 * d, "with_layernorm", "you included the LayerNorm (2D); count it with the block's norms."),
        (d * d + d, "single_projection", "q, k and v each have a projection (3D^2 + 3D), plus the output one."),
    ]


def check_attention_parameters(function: Callable[[int, int], Any]) -> Feedback:
    """Check ``function(dim, heads) -> parameters of one multi-head self-attention layer`` (4D^2 + 4D)."""
    return _check(function, ATTENTION_CASES, lambda dim, heads: 4 * dim * dim + 4 * dim, _attention_mistakes,
                  "4D^2 + 4D: q, k, v and the output projection with their biases; the number of heads "
                  "does not change it.")


# --------------------------------------------------------------------------- position embeddings
POSITION_CASES = [dict(image_size=48, patch_size=8, dim=40), dict(image_size=224, patch_size=16, dim=768),
                  dict(image_size=256, patch_size=32, dim=1024)]


def _position_mistakes(image_size: int, patch_size: int, dim: int) -> list[tuple[int, str, str]]:
    n = (image_size // patch_size) ** 2
    return [
        (n * dim, "forgot_class_token", "you forgot the class token: it gets a position embedding too, so there "
                                        "are N + 1 rows of D."),
        ((n + 2) * dim, "class_token_twice", "(N + 2) D: the class token's own vector (x_class) is a separate "
                                             "parameter; E_pos has N + 1 rows."),
        ((image_size // patch_size + 1) * dim, "not_squared", "you used H/P patches; an H x H image has (H/P)^2."),
        ((n + 1) * patch_size**2 * 3, "patch_dim", "each position embedding has D values (it is added to a "
                                                   "D-dimensional token), not P^2 C."),
        (n + 1, "no_dim", "that is the number of positions; each one is a vector of D numbers."),
        ((image_size * image_size + 1) * dim, "pixels", "one embedding per patch, not per pixel: N = HW / P^2."),
    ]


def check_position_parameters(function: Callable[[int, int, int], Any]) -> Feedback:
    """Check ``function(image_size, patch_size, dim) -> parameters of E_pos`` ((N + 1) D)."""
    return _check(function, POSITION_CASES,
                  lambda image_size, patch_size, dim: ((image_size // patch_size) ** 2 + 1) * dim,
                  _position_mistakes, "(N + 1) D: one learned D-vector per patch position and one for the class token.")


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
        (d, "one_d", "one D-vector is missing: the class token, its position embedding, or the patch-projection bias."),
        (2 * d, "final_norm", "2D is missing: the final LayerNorm of Eq. 4 (or two of: class token, its position, "
                              "the patch bias)."),
        (4 * d * L, "block_norms_or_attention_biases", "4DL is missing: the two LayerNorms of every block (2D each), "
                                                       "or the 4D attention biases of every block."),
        (4 * d * L + 2 * d, "all_norms", "all LayerNorms are missing: 2 per block (4D) and the final one (2D)."),
        (3 * d * L, "qkv_bias", "the q, k, v biases (3D per block) are missing."),
        (L * (m + d), "mlp_biases", "the MLP biases (M + D per block) are missing."),
        (k, "head_bias", "the head's K biases are missing."),
        (d * k + k, "head", "the classification head (D K + K) is missing."),
        (block, "one_block", "one block is missing: there are L blocks (range(L), not range(L - 1))."),
        ((n + 1) * d, "positions", "the position embeddings, (N + 1) D, are missing."),
        (patch_dim * d + d, "patch_projection", "the patch projection E (P^2 C D + D) is missing."),
        (patch_dim * d, "patch_projection", "the patch projection's weights P^2 C D are missing (C is the number of "
                                            "channels)."),
        ((patch_size**2 * (channels - 1)) * d, "channels", "you left out the channels: a patch has P^2 C values."),
        (L * (4 * d * d + 4 * d), "attention", "the attention layers (4D^2 + 4D per block) are missing."),
        (L * (2 * d * m + m + d), "mlp", "the MLPs (2DM + M + D per block) are missing."),
    ]
    extra = [
        (2 * patch_dim + 2 * d, "vit_pytorch_norms", "you added LayerNorms around the patch projection (2 P^2 C + 2D); "
                                                    "vit-pytorch has them, the paper's ViT does not."),
        (2 * patch_dim + 2 * d - 3 * d * L, "vit_pytorch", "that is vit-pytorch's count (LayerNorms around the patch "
                                                          "projection, no qkv bias); the paper's model differs."),
        (d * d + d, "pre_logits", "you added a D x D hidden layer to the head: the paper uses it only in "
                                  "pre-training; the fine-tuned model has a single Linear head."),
        (block, "extra_block", "one block too many: there are L blocks."),
    ]
    return [(total - gap, code, hint) for gap, code, hint in missing if gap] + [
        (total + gap, code, hint) for gap, code, hint in extra if gap]


def check_total_parameters(function: Callable[..., Any]) -> Feedback:
    """Check ``function(image_size, patch_size, channels, dim, depth, mlp_dim, num_classes) -> total``."""
    return _check(function, TOTAL_CASES, reference_total, _total_mistakes,
                  "every component counted: the same totals as the instantiated models (86,567,656 for B/16).")
