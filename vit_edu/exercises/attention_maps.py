"""Checks for the attention-maps lesson: the class-token map, one rollout step, energy-based pointing.

Each check runs the student's function on small random inputs, compares the answer with an
independent reference and, when it is wrong, with the answers that typical mistakes produce
(the class column kept, column 0 read instead of row 0, no head average, the identity or the
renormalisation forgotten in rollout, the factors multiplied in the wrong order, negative values
counted as energy, ...) to say which one it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vit_edu.analysis.attention_maps import attention_rollout
from vit_edu.exercises.feedback import Feedback, judge, run_for_tensor


def _random_attentions(layers: int, batch: int, heads: int, tokens: int, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [(3 * torch.randn(batch, heads, tokens, tokens, generator=generator, dtype=torch.float64)).softmax(-1)
            for _ in range(layers)]  # L x (B, k, T, T), rows sum to 1


# ------------------------------------------------------------------ class-token map
def check_class_token_map(function: Callable[[list[torch.Tensor], int], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(attentions, layer) -> (B, N)``: row 0 of layer ``layer``'s A, averaged over
    heads, without the class token's own column."""
    attentions = _random_attentions(layers=3, batch=2, heads=4, tokens=10, seed=seed)
    layer = 1
    mean = attentions[layer].mean(dim=1)  # (B, T, T)
    expected = mean[:, 0, 1:]  # (B, N)
    result, problem = run_for_tensor(function, [a.clone() for a in attentions], layer)
    if problem is not None:
        return problem
    mistakes = {
        "kept_class_column": (mean[:, 0], "you kept column 0, the class token's weight on itself: the map covers the "
                              "N patches only, so drop it with [..., 1:]."),
        "column_instead_of_row": (mean[:, 1:, 0], "you read column 0 (how much each patch looks at the class token); "
                                  "the class token's view is row 0: A[:, 0, 1:] after averaging the heads."),
        "no_head_mean": (attentions[layer][:, :, 0, 1:], "you kept one map per head, (B, k, N); average over the "
                         "heads (dim=1) first."),
        "head_0_only": (attentions[layer][:, 0, 0, 1:], "you took head 0 only; average over all k heads (dim=1)."),
        "renormalised": (expected / expected.sum(dim=-1, keepdim=True), "you renormalised the map to sum to 1; keep "
                         "the raw weights (they sum to 1 minus the class token's weight on itself)."),
        "previous_layer": (attentions[layer - 1].mean(dim=1)[:, 0, 1:], "that is the map of layer - 1; layers are "
                           "0-indexed: attentions[layer]."),
        "next_layer": (attentions[layer + 1].mean(dim=1)[:, 0, 1:], "that is the map of layer + 1; layers are "
                       "0-indexed: attentions[layer]."),
        "mean_over_batch": (attentions[layer].mean(dim=0)[:, 0, 1:], "you averaged over the batch (dim=0); the heads "
                            "are dim=1 of (B, k, T, T)."),
    }
    return judge(result, expected, mistakes, right="row 0 of A averaged over the heads, without the class column: "
                 "the class token's map over the N patches.")


# ------------------------------------------------------------------------ rollout step
def check_rollout_step(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(attention, rollout) -> (B, T, T)``: one step of attention rollout,
    R_l = rownorm(mean_heads(A_l) + I) R_(l-1), with A_l (B, k, T, T) and R_(l-1) (B, T, T).

    Reference: ``vit_edu.attention_rollout`` over two layers equals one step on top of its
    one-layer result.
    """
    first, second = _random_attentions(layers=2, batch=2, heads=3, tokens=6, seed=seed)
    previous = attention_rollout([first])  # (B, T, T), R_1
    expected = attention_rollout([first, second])  # (B, T, T), R_2
    result, problem = run_for_tensor(function, second.clone(), previous.clone())
    if problem is not None:
        return problem
    eye = torch.eye(second.shape[-1], dtype=second.dtype)
    mean = second.mean(dim=1)  # (B, T, T)
    a_hat = (mean + eye) / (mean + eye).sum(dim=-1, keepdim=True)
    mistakes = {
        "no_identity": (mean @ previous, "the identity is missing: add I to the head-averaged A (the residual "
                        "connection carries each token's own value forward), then renormalise the rows."),
        "no_renormalisation": ((mean + eye) @ previous, "after adding I the rows sum to 2: divide each row by its "
                               "sum (or use 0.5 (A + I)) before multiplying."),
        "wrong_order": (previous @ a_hat, "the product is in the wrong order: later layers multiply on the left, "
                        "R_l = A_hat_l @ R_(l-1)."),
        "column_normalised": (((mean + eye) / (mean + eye).sum(dim=-2, keepdim=True)) @ previous,
                              "you normalised the columns; normalise the rows (dim=-1), each query's weights "
                              "sum to 1."),
        "max_fusion": ((lambda m: (m + eye) / (m + eye).sum(-1, keepdim=True))(second.amax(dim=1)) @ previous,
                       "you fused the heads with the max; this exercise uses the mean over heads (dim=1)."),
        "a_hat_only": (a_hat, "you returned A_hat_l only; multiply it with the previous rollout: A_hat_l @ R_(l-1)."),
    }
    return judge(result, expected, mistakes, right="A_hat = rownorm(mean_h A + I), R_l = A_hat R_(l-1): equal to "
                 "vit_edu.attention_rollout.")


# ---------------------------------------------------------------------- energy pointing
def check_energy_pointing(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(maps, patch_masks) -> (B,)``: the share of each map's positive mass
    sum(max(m, 0)) that lies on patches overlapping the object. The maps have negative entries
    (as gradient-based maps can)."""
    generator = torch.Generator().manual_seed(seed)
    maps = torch.randn(4, 16, generator=generator, dtype=torch.float64) + 0.3  # (B, N), some negative
    masks = torch.rand(4, 16, generator=generator) < 0.3  # (B, N) bool
    masks[:, 0] = True
    positive = maps.clamp(min=0)
    expected = (positive * masks).sum(-1) / positive.sum(-1)  # (B,)
    result, problem = run_for_tensor(function, maps.clone(), masks.clone())
    if problem is not None:
        return problem
    mistakes = {
        "negatives_counted": ((maps * masks).sum(-1) / maps.sum(-1), "negative values count against the energy: "
                              "keep only the positive part first, maps.clamp(min=0)."),
        "no_division": ((positive * masks).sum(-1), "that is the mass on the object, not its share: divide by the "
                        "total positive mass of the map."),
        "outside_share": ((positive * ~masks).sum(-1) / positive.sum(-1), "that is the share *outside* the object; "
                          "use the patches where patch_masks is True."),
        "batch_mean": (expected.mean(), "return one score per image, shape (B,); average later."),
        "pointing_game": ((maps.argmax(-1, keepdim=True) == torch.arange(16)).logical_and(masks).any(-1).double(),
                          "that is the pointing game (is the top patch on the object?); energy pointing is the "
                          "share of the map's positive mass on the object."),
        "fraction_of_patches": (masks.double().mean(-1), "that is the chance level, the fraction of patches on the "
                                "object; weight each patch by the map's positive value."),
    }
    return judge(result, expected, mistakes, right="positive mass on the object / all positive mass, one number per "
                 "image.")
