"""Checks for the transfer lesson (pre-train, then fine-tune): a new zero-initialised head, freezing all
but the head for a linear probe, and the paper's linear few-shot classifier in closed form (ridge).

Each check builds a small ViT or data set of its own, runs the student's function on a copy,
compares with a reference (the package's own functions) and recognises typical mistakes: the old
head kept, a random instead of a zero head, ``model.eval()`` taken for freezing, the class token or
position embeddings left trainable, {0, 1} instead of {-1, 1} targets, uncentred features, a
penalised bias, a forgotten λ or a transposed W.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vit_edu.exercises.feedback import Feedback, function_name, hint_on_crash, run_student_code
from vit_edu.language import tr
from vit_edu.model import ViT


def _small_vit(num_classes: int = 4, seed: int = 0) -> ViT:
    return ViT(image_size=16, patch_size=4, num_classes=num_classes, dim=12, depth=2, heads=2, mlp_dim=24, seed=seed)


# ------------------------------------------------------------------------ new head
def check_new_head(function: Callable[[ViT, int], ViT]) -> Feedback:
    """Check ``function(model, num_classes) -> model`` with a zero-initialised D x K head (paper §3.2)."""
    model, num_classes = _small_vit(num_classes=4), 7
    original = {k: v.clone() for k, v in model.state_dict().items()}
    old_head = model.head
    result, problem = run_student_code(function, model, num_classes)
    if problem is not None:
        return problem
    if result is None:
        return Feedback(False, tr("`{name}` returned None: return the model at the end.", name=function_name(function)),
                        {"mistake": "none"})
    if not isinstance(result, nn.Module) or not isinstance(getattr(result, "head", None), nn.Module):
        return Feedback(False, tr("return the model (a ViT), got {kind}.", kind=type(result).__name__),
                        {"mistake": "type"})
    head = result.head
    dim = model.config.dim
    if head is old_head or (isinstance(head, nn.Linear) and head.out_features == 4):
        return Feedback(False, tr("the model still has its pre-trained head with 4 outputs: replace `model.head` by a "
                                  "new nn.Linear(D, num_classes) = nn.Linear({dim}, {num_classes}).", dim=dim,
                                  num_classes=num_classes), {"mistake": "old head"})
    if not isinstance(head, nn.Linear):
        return Feedback(False, tr("the new head should be one nn.Linear layer, got {kind}.", kind=type(head).__name__),
                        {"mistake": "not linear"})
    if head.in_features != dim or head.out_features != num_classes:
        return Feedback(False, tr("the head maps {inputs} -> {outputs}; it must map the D = {dim} "
                                  "features to K = {num_classes} classes: nn.Linear(model.config.dim, num_classes).",
                                  inputs=head.in_features, outputs=head.out_features, dim=dim, num_classes=num_classes),
                        {"mistake": "shape", "shape": (head.in_features, head.out_features)})
    if head.bias is None:
        return Feedback(False, tr("keep the bias (nn.Linear's default bias=True) and set it to zero."),
                        {"mistake": "bias"})
    if head.weight.abs().max() > 0:
        return Feedback(False, tr("the new head is randomly initialised; the paper attaches a *zero-initialised* layer "
                           "(§3.2): nn.init.zeros_(head.weight), so every class starts equally likely."),
                        {"mistake": "random weight"})
    if head.bias.abs().max() > 0:
        return Feedback(False, tr("the head's weight is zero but its bias is not: zero the bias too."),
                        {"mistake": "random bias"})
    changed = [k for k, v in result.state_dict().items() if not k.startswith("head.")
               and (k not in original or not torch.equal(v, original[k]))]
    if changed:
        return Feedback(False, tr("the pre-trained weights changed ({name}, ...); only the head is new: keep "
                                  "everything else as it is.", name=changed[0]),
                        {"mistake": "backbone", "changed": changed})
    logits = result(torch.rand(2, 3, 16, 16)) if isinstance(result, ViT) else None
    if logits is not None and logits.shape != (2, num_classes):
        return Feedback(False, tr("the model's logits have shape {shape}, expected (B, K) = (2, {num_classes}).",
                                  shape=tuple(logits.shape), num_classes=num_classes), {"mistake": "logits"})
    return Feedback(True, tr("a zero-initialised {dim} x {num_classes} head on the pre-trained features: at the start "
                             "every logit is 0, so the model says 1/K for every class and the first gradients come "
                             "from the labels alone.", dim=dim, num_classes=num_classes), {"mistake": None})


# ------------------------------------------------------------------- linear probe
def check_freeze_all_but_head(function: Callable[[nn.Module], nn.Module]) -> Feedback:
    """Check ``function(model) -> model``: every parameter outside ``head`` frozen, the head trainable."""
    model = _small_vit()
    result, problem = run_student_code(function, model)
    if problem is not None:
        return problem
    model = model if result is None else result
    if not isinstance(model, nn.Module):
        return Feedback(False, tr("return the model, got {kind}.", kind=type(result).__name__), {"mistake": "type"})
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    head = {name for name, _ in model.named_parameters() if name.startswith("head.")}
    backbone_left = sorted(trainable - head)
    details = {"trainable": sorted(trainable)}
    if trainable == head:
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return Feedback(True, tr("only head.weight and head.bias train ({trained} of {total} "
                                 "parameters): a linear probe on frozen features.", trained=trained,
                                 total=model.num_parameters()), {**details, "mistake": None})
    if len(backbone_left) == len(list(model.parameters())) - len(head):
        if not model.training:
            return Feedback(False, tr("nothing is frozen: model.eval() only switches dropout and similar layers to "
                                      "test behaviour; freezing means parameter.requires_grad = False."),
                            {**details, "mistake": "eval"})
        if not trainable & head:
            return Feedback(False, tr("you froze the head and left the rest trainable: it is the other way round."),
                            {**details, "mistake": "inverted"})
        return Feedback(False, tr("nothing is frozen: loop over model.named_parameters() and set requires_grad = "
                                  "False for every parameter whose name does not start with 'head.'."),
                        {**details, "mistake": "none"})
    if not trainable:
        return Feedback(False, tr("everything is frozen, the head too: the head must learn, keep its requires_grad "
                                  "True."),
                        {**details, "mistake": "all"})
    if head - trainable:
        return Feedback(False, tr("{names} is frozen: both head.weight and head.bias must train.",
                                  names=sorted(head - trainable)),
                        {**details, "mistake": "head part"})
    if set(backbone_left) <= {"cls_token", "pos_embed"}:
        return Feedback(False, tr("{names} still train: the class token and position embeddings are parameters "
                                  "of the model itself, not of a layer; model.named_parameters() lists them too.",
                                  names=backbone_left),
                        {**details, "mistake": "embeddings"})
    if set(backbone_left) <= {"norm.weight", "norm.bias"}:
        return Feedback(False, tr("the final LayerNorm still trains: it is part of the features (Eq. 4, "
                                  "y = LN(z_L^0)); freeze it too."), {**details, "mistake": "norm"})
    return Feedback(False, tr("these still train: {names}{more}; freeze every parameter except head.weight and "
                              "head.bias.", names=backbone_left[:4], more=" ..." if len(backbone_left) > 4 else ""),
                    {**details, "mistake": "some"})


# ------------------------------------------------------------- linear few-shot, closed form
def _solve(x: torch.Tensor, y: torch.Tensor, l2: float) -> torch.Tensor:
    """(X^T X + l2 I)^-1 X^T Y in float64."""
    eye = torch.eye(x.shape[1], dtype=torch.float64)
    return torch.linalg.solve(x.T @ x + l2 * eye, x.T @ y)


def _ridge_mistakes(features: torch.Tensor, labels: torch.Tensor, num_classes: int, l2: float
                    ) -> dict[str, tuple[torch.Tensor, torch.Tensor, str]]:
    """{code: (W, b) a typical mistake gives, and its hint}, most specific first; features in float64."""
    x = features.double()
    one_hot = F.one_hot(labels, num_classes).double()
    y = 2 * one_hot - 1
    x_mean, y_mean = x.mean(dim=0), y.mean(dim=0)
    xc, yc = x - x_mean, y - y_mean
    w = _solve(xc, yc, l2)
    w01 = _solve(xc, one_hot - one_hot.mean(dim=0), l2)
    w_raw = _solve(x, y, l2)
    augmented = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    w_aug = _solve(augmented, y, l2)
    w_free = torch.linalg.lstsq(xc, yc).solution
    return {
        "zero_one_targets": (w01, one_hot.mean(dim=0) - x_mean @ w01,
                             tr("your targets are one-hot in {0, 1}; the paper's are in {-1, 1}: +1 for the class, "
                                "-1 for the others (2 * one_hot - 1). (Here that only scales W by 1/2 and shifts b, so "
                                "the predicted classes would agree; the targets of the paper's evaluation are still "
                                "±1.)")),
        "no_centring": (w_raw, torch.zeros(num_classes, dtype=torch.float64),
                        tr("you solved (X^T X + λI)^-1 X^T Y on the raw features, with no bias: centre X and Y first "
                           "(subtract their column means), then b = mean(Y) - mean(X) W.")),
        "no_centring_bias": (w_raw, y_mean - x_mean @ w_raw,
                             tr("W comes from the raw features: centre X and Y first (subtract their column means), "
                                "so that W is fitted with the bias left free, then b = mean(Y) - mean(X) W.")),
        "bias_penalised": (w_aug[:-1], w_aug[-1],
                           tr("you appended a column of ones and penalised the bias with λ too; the paper's ridge "
                              "leaves the bias free: centre X and Y, solve for W, then b = mean(Y) - mean(X) W.")),
        "no_l2": (w_free, y_mean - x_mean @ w_free,
                  tr("that is plain least squares: add λ to the diagonal, (Xc^T Xc + λ I)^-1 Xc^T Yc.")),
        "bias_is_mean": (w, y_mean,
                         tr("W is right; the bias is mean(Y) - mean(X) W, not mean(Y) alone (the features are not "
                            "centred at test time).")),
        "bias_sign": (w, y_mean + x_mean @ w, tr("W is right; the bias is mean(Y) - mean(X) W: mind the sign.")),
    }


def check_ridge_head(function: Callable[[torch.Tensor, torch.Tensor, int, float], tuple], seed: int = 0
                     ) -> Feedback:
    """Check ``function(features, labels, num_classes, l2) -> (W, b)``: the paper's linear few-shot classifier (§4.1).

    The reference is :func:`vit_edu.training.fewshot.ridge_fit`: targets in {-1, 1}^K, features and
    targets centred, W = (Xc^T Xc + λI)^-1 Xc^T Yc of shape (D, K), b = mean(Y) - mean(X) W of shape (K,).
    """
    from vit_edu.training.fewshot import ridge_fit

    num_classes, per_class, dim, l2 = 4, 6, 5, 2.0
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class)  # (n,)
    centres = 1.5 * torch.randn(num_classes, dim, generator=generator)
    noise = torch.randn(len(labels), dim, generator=generator)
    features = (3.0 + centres[labels] + noise).float()  # (n, D), far from centred
    fit = ridge_fit(features, labels, num_classes, (l2,))
    expected_w, expected_b = fit.weight[0], fit.bias[0]  # (D, K), (K,)
    result, problem = run_student_code(function, features.clone(), labels.clone(), num_classes, l2)
    if problem is not None:
        return hint_on_crash(problem, tr("features is (n, D) and the targets (n, K), so X^T X is (D, D) and W is "
                                         "(D, K)."),
                             mentions=("shape", "size", "dimension"))
    name = function_name(function)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        got = tr("{count} values", count=len(result)) if isinstance(result, (tuple, list)) else type(result).__name__
        return Feedback(False, tr("`{name}` must return two tensors, (W, b); got {got}.", name=name, got=got),
                        {"mistake": "return"})
    parts = []
    for part in result:
        if isinstance(part, np.ndarray):
            part = torch.from_numpy(part)
        if part is None:
            return Feedback(False, tr("`{name}` returned None for W or b: return both, (W, b).", name=name),
                            {"mistake": "none"})
        if not isinstance(part, torch.Tensor):
            return Feedback(False, tr("`{name}` must return two tensors (W, b), got {kind}.", name=name,
                                      kind=type(part).__name__),
                            {"mistake": "type"})
        parts.append(part.detach().double())
    weight, bias = parts
    if bias.numel() == num_classes:
        bias = bias.reshape(num_classes)
    details = {"shape": tuple(weight.shape), "expected_shape": (dim, num_classes), "bias_shape": tuple(bias.shape)}

    def same(a: torch.Tensor, b: torch.Tensor) -> bool:  # float32 answers are fine
        return a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)

    if same(weight, expected_w) and same(bias, expected_b):
        accuracy = ((features.double() @ weight + bias).argmax(dim=1) == labels).double().mean().item()
        return Feedback(True, tr("W (D, K) = {shape} and b (K,) equal the closed form; on its own "
                                 "{count} labelled images the fit classifies {accuracy:.0%} right. No gradient step.",
                                 shape=tuple(weight.shape), count=len(labels), accuracy=accuracy),
                        {**details, "mistake": None})
    if same(weight, expected_w.T):
        return Feedback(False, tr("W is transposed: make it (D, K) = {shape}, so that the scores are "
                                  "features @ W + b.", shape=(dim, num_classes)), {**details, "mistake": "transposed"})
    for code, (w, b, hint) in _ridge_mistakes(features, labels, num_classes, l2).items():
        if same(weight, w) and same(bias, b):
            return Feedback(False, hint, {**details, "mistake": code})
    if weight.shape != expected_w.shape:
        return Feedback(False, tr("W has shape {shape}, expected (D, K) = {expected}.", shape=tuple(weight.shape),
                                  expected=(dim, num_classes)),
                        {**details, "mistake": "shape"})
    if bias.shape != expected_b.shape:
        return Feedback(False, tr("b has shape {shape}, expected (K,) = ({num_classes},).", shape=tuple(bias.shape),
                                  num_classes=num_classes),
                        {**details, "mistake": "bias_shape"})
    if same(weight, expected_w):
        return Feedback(False, tr("W is right but b is not: b = mean(Y) - mean(X) W, with Y the ±1 targets."),
                        {**details, "mistake": "bias"})
    return Feedback(False, tr("W differs from (Xc^T Xc + λI)^-1 Xc^T Yc: build the ±1 targets (2 * one_hot - 1), "
                       "centre features and targets, and add λ to the diagonal of Xc^T Xc."),
                    {**details, "mistake": "values"})


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy, so a student's in-place changes do not touch the lesson's own model."""
    return copy.deepcopy(model)
