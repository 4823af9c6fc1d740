"""Checks for the attention-maps lesson: where one patch looks, rollout without the residual, energy-based pointing.

Each check runs the student's function on small random inputs, compares the answer with an
independent reference and, when it is wrong, with the answers that typical mistakes produce
(the class token's offset forgotten, row and column swapped, column 0 read instead of a row, no
head average, the identity kept in rollout, the factors multiplied in the wrong order, negative
values counted as energy, ...) to say which one it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vit_edu.analysis.attention_maps import attention_rollout
from vit_edu.exercises.feedback import Feedback, hint_on_crash, judge, run_for_tensor
from vit_edu.language import tr


def _random_attentions(layers: int, batch: int, heads: int, tokens: int, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [(3 * torch.randn(batch, heads, tokens, tokens, generator=generator, dtype=torch.float64)).softmax(-1)
            for _ in range(layers)]  # L x (B, k, T, T), rows sum to 1


# ------------------------------------------------------------------------ one patch's map
def check_patch_map(function: Callable[..., torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(attentions, layer, row, col, grid) -> (B, grid[0], grid[1])``: where the patch in grid
    cell (row, col) looks in ``layer``, averaged over the heads, without the class token's column, as a grid.

    The grid is not square (3 x 4), so swapping rows and columns shows.
    """
    grid, layer, row, col = (3, 4), 1, 1, 2
    tokens = grid[0] * grid[1] + 1
    attentions = _random_attentions(layers=3, batch=2, heads=4, tokens=tokens, seed=seed)
    batch = attentions[0].shape[0]
    mean = attentions[layer].mean(dim=1)  # (B, T, T)
    query = row * grid[1] + col + 1  # token 0 is the class token, patch p is token p + 1
    as_grid = lambda values: values.reshape(batch, *grid)  # noqa: E731  (B, N) -> (B, H/P, W/P)
    expected = as_grid(mean[:, query, 1:])
    result, problem = run_for_tensor(function, [a.clone() for a in attentions], layer, row, col, grid)
    if problem is not None:
        return hint_on_crash(problem, tr("drop the class token's column ([..., 1:]) before reshaping the N patch "
                                "weights to (B, grid[0], grid[1])."), mentions=("shape", "size"))
    mistakes = {
        "forgot_class_offset": (as_grid(mean[:, query - 1, 1:]), tr("you read row p = row * W + col of A, which is "
                                   "the row of the token *before* your patch: token 0 is the class token, so patch p "
                                   "is token p + 1.")),
        "row_col_swapped": (as_grid(mean[:, col * grid[1] + row + 1, 1:]), tr("rows and columns are swapped: patches "
                               "are numbered row by row, p = row * grid[1] + col.")),
        "column_major": (as_grid(mean[:, col * grid[0] + row + 1, 1:]), tr("you numbered the patches column by column; "
                            "they go row by row, p = row * grid[1] + col.")),
        "class_token_row": (as_grid(mean[:, 0, 1:]), tr("that is the class token's map (row 0); the patch's own row is "
                               "token p + 1.")),
        "column_instead_of_row": (as_grid(mean[:, 1:, query]), tr("you read a column of A (how much every patch looks "
                                     "at your patch); where your patch looks is its row, A[:, p + 1, 1:].")),
        "kept_class_column": (mean[:, query], tr("you kept column 0, the weight on the class token: the map covers the "
                                 "N patches only, so drop it with [..., 1:] and reshape to the grid.")),
        "flat": (mean[:, query, 1:], tr("the values are right but flat, (B, N); reshape them to the patch grid, "
                    "(B, grid[0], grid[1]).")),
        "transposed_grid": (mean[:, query, 1:].reshape(batch, grid[1], grid[0]), tr("you reshaped to (B, grid[1], "
                               "grid[0]); the grid has grid[0] rows of grid[1] patches.")),
        "no_head_mean": (attentions[layer][:, :, query, 1:].reshape(batch, -1, *grid), tr("you kept one map per head; "
                            "average over the heads (dim=1 of (B, k, T, T)) first.")),
        "head_0_only": (as_grid(attentions[layer][:, 0, query, 1:]), tr("you took head 0 only; average over all k "
                           "heads (dim=1).")),
        "renormalised": (as_grid(mean[:, query, 1:] / mean[:, query, 1:].sum(dim=-1, keepdim=True)),
                         tr("you renormalised the map to sum to 1; keep the raw weights.")),
        "previous_layer": (as_grid(attentions[layer - 1].mean(dim=1)[:, query, 1:]), tr("that is the map of layer - 1; "
                              "layers are 0-indexed: attentions[layer].")),
        "next_layer": (as_grid(attentions[layer + 1].mean(dim=1)[:, query, 1:]), tr("that is the map of layer + 1; "
                          "layers are 0-indexed: attentions[layer].")),
    }
    return judge(result, expected, mistakes, right=tr("patch (row, col) is token row * W + col + 1; its row of the "
                    "head-averaged A, without the class column, reshaped to the grid, is where it looks."))


# ------------------------------------------------------------------ rollout without the residual
def _row_spread(relevance: torch.Tensor) -> float:
    """The largest difference between two rows of any (T, T) matrix in the batch, as distributions
    (total variation: half the L1 distance); 0 when every row is the same."""
    pairs = (relevance[:, :, None, :] - relevance[:, None, :, :]).abs().sum(dim=-1) / 2  # (B, T, T)
    return pairs.max().item()


def check_rollout_without_residual(function: Callable[[list[torch.Tensor]], torch.Tensor],
                                   seed: int = 0) -> Feedback:
    """Check ``function(attentions) -> (B, T, T)``: the plain product of the head-averaged attention of all
    layers, later layers on the left, *without* the identity of rollout: A_L ... A_2 A_1.

    The test attention is like a trained model's: a sharp first layer, then nearly even ones. When
    the answer is right, the message shows that its rows have become almost the same, while
    rollout's (with the identity) still differ.
    """
    generator = torch.Generator().manual_seed(seed)
    sharpness = (4.0, 1.0, 1.0, 1.0)  # logits' scale per layer: one sharp layer, then flatter ones
    attentions = [(scale * torch.randn(2, 3, 7, 7, generator=generator, dtype=torch.float64)).softmax(dim=-1)
                  for scale in sharpness]  # L x (B, k, T, T)
    means = [a.mean(dim=1) for a in attentions]  # L x (B, T, T)
    expected = means[3] @ means[2] @ means[1] @ means[0]
    result, problem = run_for_tensor(function, [a.clone() for a in attentions])
    if problem is not None:
        return problem
    per_head = attentions[3] @ attentions[2] @ attentions[1] @ attentions[0]  # (B, k, T, T)
    maxima = [a.amax(dim=1) for a in attentions]
    mistakes = {
        "with_identity": (attention_rollout(attentions), tr("that is rollout *with* the residual, rownorm(A + I); "
                             "this exercise leaves the identity out: multiply the head-averaged A_l themselves.")),
        "wrong_order": (means[0] @ means[1] @ means[2] @ means[3], tr("the product is in the wrong order: later layers "
                           "multiply on the left, R = A_L ... A_2 A_1 (R <- A_l @ R).")),
        "last_layer_only": (means[3], tr("that is the last layer's A only; multiply the layers together.")),
        "first_layer_only": (means[0], tr("that is the first layer's A only: does your loop return too early?")),
        "per_head_product": (per_head.mean(dim=1), tr("you multiplied each head's matrices and averaged at the end; "
                                "average the heads of each layer first, then multiply.")),
        "no_head_mean": (per_head, tr("you kept one product per head, (B, k, T, T); average over the heads (dim=1) "
                            "of each layer first.")),
        "max_fusion": (maxima[3] @ maxima[2] @ maxima[1] @ maxima[0], tr("you fused the heads with the max; this "
                          "exercise uses the mean over heads.")),
        "elementwise": (means[3] * means[2] * means[1] * means[0], tr("`*` multiplies entry by entry; the mixing "
                           "matrices compose by matrix product, `@`.")),
        "mean_of_layers": (torch.stack(means).mean(dim=0), tr("you averaged the layers; information flows through "
                              "them one after another, so multiply them.")),
    }
    feedback = judge(result, expected, mistakes, right=tr("R = A_L ... A_1, the head-averaged attention of every "
                        "layer, later layers on the left."))
    if not feedback.passed:
        return feedback
    plain, rollout = _row_spread(expected), _row_spread(attention_rollout(attentions))
    return Feedback(True, tr("{message} Look at its rows: any two of them differ by at most {plain:.0%} "
                             "(as distributions), against {rollout:.0%} for rollout with the identity. Without the "
                             "residual, every token ends with almost the same mixture of the input, so row 0 no "
                             "longer says what the class token in particular drew on.",
                             message=feedback.message, plain=plain, rollout=rollout),
                    {**feedback.details, "row_spread": plain, "rollout_row_spread": rollout})


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
        "negatives_counted": ((maps * masks).sum(-1) / maps.sum(-1), tr("negative values count against the energy: "
                                 "keep only the positive part first, maps.clamp(min=0).")),
        "no_division": ((positive * masks).sum(-1), tr("that is the mass on the object, not its share: divide by the "
                           "total positive mass of the map.")),
        "outside_share": ((positive * ~masks).sum(-1) / positive.sum(-1), tr("that is the share *outside* the object; "
                             "use the patches where patch_masks is True.")),
        "batch_mean": (expected.mean(), tr("return one score per image, shape (B,); average later.")),
        "pointing_game": ((maps.argmax(-1, keepdim=True) == torch.arange(16)).logical_and(masks).any(-1).double(),
                          tr("that is the pointing game (is the top patch on the object?); energy pointing is the "
                             "share of the map's positive mass on the object.")),
        "fraction_of_patches": (masks.double().mean(-1), tr("that is the chance level, the fraction of patches on the "
                                   "object; weight each patch by the map's positive value.")),
    }
    return judge(result, expected, mistakes, right=tr("positive mass on the object / all positive mass, one number per "
                    "image."))
