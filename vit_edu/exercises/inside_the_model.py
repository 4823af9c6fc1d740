"""Checks for the inside-the-model lesson: the logit lens of the class token, Spearman's rank correlation.

Each check runs the student's function on a small input made here, compares the answer with an
independent reference (the blocks' outputs caught by forward hooks during ``model(images)``;
``scipy.stats.spearmanr``) and, when it is wrong, with the answers that typical mistakes produce
(the final LayerNorm left out, the stream read before each block instead of after it, the patch
tokens averaged, probabilities instead of logits; Pearson's correlation of the values, ordinal
ranks that ignore ties, the tie-free shortcut formula, ...) to say which one it is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vit_edu.exercises.feedback import Feedback, hint_on_crash, judge, run_for_tensor
from vit_edu.language import tr
from vit_edu.model import ViT


# ------------------------------------------------------------------------ the logit lens
def _lens_model(seed: int) -> tuple[ViT, torch.Tensor]:
    """A small ViT (L = 3, K = 5) whose final LayerNorm, positions and head all matter, and 3 images.

    The weights are perturbed so that no part is an identity: the final LayerNorm has gains far
    from 1 and a bias, and the class token and E_pos are not zero.
    """
    generator = torch.Generator().manual_seed(seed)
    model = ViT(image_size=16, patch_size=4, num_classes=5, dim=32, depth=3, heads=4, mlp_dim=64,
                weight_init="timm", seed=seed).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
        model.norm.weight.copy_(0.5 + torch.rand(model.norm.weight.shape, generator=generator))  # gains 0.5-1.5
        model.norm.bias.copy_(0.5 * torch.randn(model.norm.bias.shape, generator=generator))
        model.head.weight.mul_(20.0)  # scores of a few units, so that softmax and logits differ clearly
    images = torch.rand(3, 3, 16, 16, generator=generator)  # (B, C, H, W)
    return model, images


def _streams(model: ViT, images: torch.Tensor) -> list[torch.Tensor]:
    """z_0, z_1, ..., z_L of ``model(images)``, caught by hooks on the embedding and on every block."""
    caught: list[torch.Tensor] = []
    hooks = [block.register_forward_hook(lambda _m, _i, out: caught.append(out.detach())) for block in model.blocks]
    try:
        with torch.no_grad():
            model(images)
            z_0 = model.embed(images)  # (B, T, D)
    finally:
        for hook in hooks:
            hook.remove()
    return [z_0, *caught]  # L + 1 tensors (B, T, D)


def check_class_token_lens(function: Callable[[ViT, torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(model, images) -> (L, B, K)``: the class scores the model's own final LayerNorm and
    head read from the class token after every block, head(LN(z_l^0)) for l = 1..L.

    The reference takes the blocks' outputs from hooks during ``model(images)``; its last row is
    ``model(images)`` itself.
    """
    model, images = _lens_model(seed)
    streams = _streams(model, images)  # z_0 ... z_L, each (B, T, D)
    head, norm = model.head, model.norm
    with torch.no_grad():
        read = torch.stack([head(norm(z)) for z in streams])  # (L + 1, B, T, K): every token, every boundary
        output = model(images)  # (B, K)
        unnormed = torch.stack([head(z[:, 0]) for z in streams[1:]])  # (L, B, K)
        no_positions = torch.cat([model.cls_token.expand(len(images), -1, -1), model.patch_embed(images)], dim=1)
        without_positions = []  # the lens when z_0 lacks E_pos: (B, K) after each block
        for block in model.blocks:
            no_positions = block(no_positions)  # (B, T, D)
            without_positions.append(head(norm(no_positions[:, 0])))
    expected = read[1:, :, 0]  # (L, B, K)
    with torch.no_grad():
        result, problem = run_for_tensor(function, model, images.clone())
    if problem is not None:
        return hint_on_crash(problem, tr("take z_0 = model.embed(images), pass it through each block of model.blocks "
                                "in turn, and after each one read model.head(model.norm(z[:, 0]))."),
                             mentions=("shape", "size", "attribute"))
    result = result.detach()
    mistakes = {
        "no_final_norm": (unnormed, tr("the head reads LN(z), not z: apply the final LayerNorm model.norm before "
                             "model.head, as the model does for its own output (Eq. 4).")),
        "before_each_block": (read[:-1, :, 0], tr("you read the stream *before* each block (z_0 ... z_(L-1)); read it "
                                 "after each block, so that the last row is the model's own output.")),
        "with_embeddings": (read[:, :, 0], tr("you also read z_0, the embedded input before block 1: that gives L + 1 "
                               "rows; the lens has one row per block, read after it.")),
        "patch_mean": (read[1:, :, 1:].mean(dim=2), tr("you averaged the patch tokens' scores; this model answers "
                          "from the class token, token 0 (pool='cls').")),
        "token_mean": (read[1:].mean(dim=2), tr("you averaged all tokens' scores; read the class token alone, "
                          "token 0 of the stream.")),
        "probabilities": (read[1:, :, 0].softmax(dim=-1), tr("those are probabilities (a softmax); return the "
                             "logits, the head's raw scores, as model(images) does.")),
        "all_tokens": (read[1:], tr("you kept every token, (L, B, T, K); the lens of the class token is token 0 "
                          "only: z[:, 0].")),
        "batch_first": (expected.transpose(0, 1), tr("the values are right but the axes are (B, L, K); stack the "
                           "layers first: (L, B, K).")),
        "output_repeated": (output.expand_as(expected), tr("every row is the model's final output; read the stream "
                               "after *each* block, not only after the last.")),
        "forgot_positions": (torch.stack(without_positions), tr("your z_0 lacks the position embeddings: build it "
                                "with model.embed(images), which adds the class token *and* E_pos.")),
    }
    return judge(result, expected, mistakes, atol=1e-5, what=tr("your lens"),
                 right=tr("after every block the final LayerNorm and the head read the class token; the last row is "
                    "exactly model(images)."),
                 advice=tr("Start from z = model.embed(images) and apply the blocks one by one."))


# ------------------------------------------------------------------------ Spearman's rank correlation
def _spearman_maps(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (B, N) = (5, 16) float64 maps with many ties (values rounded to one decimal), none constant.

    Row 0 of ``second`` is an increasing but not linear function of row 0 of ``first`` (rho = 1,
    Pearson's r < 1); row 1 is a decreasing one (rho = -1).
    """
    generator = torch.Generator().manual_seed(seed)
    first = (torch.rand(5, 16, generator=generator, dtype=torch.float64) * 2).round(decimals=1)
    second = (torch.rand(5, 16, generator=generator, dtype=torch.float64) * 2).round(decimals=1)
    second[2:] = (0.6 * first[2:] + 0.4 * second[2:]).round(decimals=1)  # related, not equal
    second[0] = first[0] ** 3
    second[1] = (-first[1]).exp()
    return first, second


def _scipy_spearman(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Spearman's rho of each row pair by scipy (the reference) -> (B,) float64."""
    from scipy.stats import spearmanr

    return torch.tensor([spearmanr(a, b).statistic for a, b in zip(first.numpy(), second.numpy())],
                        dtype=torch.float64)


def _pearson(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Pearson's r of each row pair, (B, N) x2 -> (B,)."""
    a, b = first - first.mean(-1, keepdim=True), second - second.mean(-1, keepdim=True)
    return (a * b).sum(-1) / (a.square().sum(-1) * b.square().sum(-1)).sqrt()


def _ordinal_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N along the last axis, ties broken by position (no averaging)."""
    order = torch.sort(values, dim=-1, stable=True).indices
    return order.argsort(dim=-1).double() + 1


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N along the last axis, ties sharing their average rank (scipy.stats.rankdata's default)."""
    from scipy.stats import rankdata

    return torch.from_numpy(np.asarray(rankdata(values.numpy(), axis=-1), dtype=np.float64))


def _shortcut(first_ranks: torch.Tensor, second_ranks: torch.Tensor) -> torch.Tensor:
    """1 - 6 sum d^2 / (n (n^2 - 1)): Spearman's rho only when there are no ties."""
    n = first_ranks.shape[-1]
    return 1 - 6 * (first_ranks - second_ranks).square().sum(-1) / (n * (n**2 - 1))


def check_spearman(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], seed: int = 0) -> Feedback:
    """Check ``function(first, second) -> (B,)``: Spearman's rank correlation of each row of two (B, N) maps,
    tied values sharing their average rank.

    The reference is ``scipy.stats.spearmanr``, row by row. The maps have many ties, so a ranking
    that breaks ties by position, or the tie-free shortcut formula, gives other values.
    """
    first, second = _spearman_maps(seed)
    expected = _scipy_spearman(first, second)  # (B,)
    result, problem = run_for_tensor(function, first.clone(), second.clone())
    if problem is not None:
        return hint_on_crash(problem, tr("rank each map along its last axis (dim=-1), then take Pearson's "
                                "correlation of the two rank rows."), mentions=("shape", "size", "dimension"))
    result = result.detach()
    ranked = _average_ranks(first), _average_ranks(second)
    ordinal = _ordinal_ranks(first), _ordinal_ranks(second)
    over_batch = _pearson(_ordinal_ranks(first.T).T, _ordinal_ranks(second.T).T)
    mistakes = {
        "pearson_of_values": (_pearson(first, second), tr("that is Pearson's correlation of the values themselves; "
                                 "Spearman's rho is Pearson's correlation of their *ranks*.")),
        "ordinal_ranks": (_pearson(*ordinal), tr("equal values must share one rank, the average of the places they "
                                                 "take (rank_i = #smaller + (#equal + 1) / 2); argsort().argsort() "
                                                 "breaks ties by position.")),
        # (with ordinal ranks the shortcut equals Pearson's r of the ranks: the mistake above covers it)
        "shortcut_formula": (_shortcut(*ranked), tr("the shortcut 1 - 6 sum d^2 / (n (n^2 - 1)) is exact only "
                                "without ties, and maps have ties; compute Pearson's correlation of the ranks.")),
        "ranked_over_batch": (over_batch, tr("you ranked along the batch axis; rank the N values of each map, "
                                 "along the last axis (dim=-1).")),
        "covariance": ((ranked[0] - ranked[0].mean(-1, keepdim=True)).mul(ranked[1] - ranked[1].mean(-1, keepdim=True))
                       .mean(-1), tr("that is the covariance of the ranks; divide by both standard deviations "
                          "to get a correlation in [-1, 1].")),
        "batch_mean": (expected.mean(), tr("return one correlation per map, shape (B,); average them later.")),
    }
    feedback = judge(result, expected, mistakes, atol=1e-9, what=tr("your rho"),
                     right=tr("rho is Pearson's correlation of the average ranks."),
                     advice=tr("Check the ranks of one row against scipy.stats.rankdata."))
    if not feedback.passed:
        return feedback
    pearson_cubed = _pearson(first[:1], second[:1]).item()
    return Feedback(True, tr("{message} It sees only the order: for a map and its cube rho = "
                             "{rho:.2f}, while Pearson's r = {pearson:.2f}. That is why the sanity check "
                             "uses it: two maps that rank the patches alike count as the same explanation, whatever "
                             "their scale.", message=feedback.message, rho=result[0].item(), pearson=pearson_cubed),
                    {**feedback.details, "pearson_of_cube": pearson_cubed})
