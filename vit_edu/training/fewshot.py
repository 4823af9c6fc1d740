"""The paper's linear few-shot evaluation (§4.1): closed-form regularised least squares on frozen features.

To compare pre-trained models quickly, the paper does not fine-tune. It takes the frozen
representation (the input of the head) of a few labelled images per class and solves a
regularised least-squares problem that maps each representation to a target vector in
{-1, 1}^K (+1 for its class, -1 for the others). The class of a test image is the largest of its
K predicted scores. Nothing is trained by gradient descent:

    W, b = argmin  sum_i || W f_i + b - y_i ||^2 + lambda ||W||^2      (b is not penalised)

- :func:`representation`: the frozen features f (B, D): a ViT's pooled, normalised token (the
  head's input, Eq. 4); a CNN's globally averaged feature map.
- :func:`ridge_fit`, :func:`ridge_predict`: the closed form, for several lambdas at once.
- :func:`leave_one_out_errors`: each lambda's leave-one-out squared error, from the one fit (the
  shortcut e_i / (1 - h_ii) of a linear smoother), used to choose lambda from the labelled
  images alone: the test images never choose anything.
- :func:`fewshot_accuracy`: all of it in one call.

``sklearn.linear_model.RidgeClassifierCV`` solves the same problem (the tests compare with it);
this module keeps the algebra visible and in torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from vit_edu.checks import check_int

# lambda candidates: 10^-4 .. 10^6; the leave-one-out error picks one per evaluation.
DEFAULT_L2 = tuple(10.0 ** power for power in range(-4, 7))


class RidgeFit(NamedTuple):
    """Closed-form ridge solutions for several lambdas: ``weight`` (n_l2, D, K), ``bias`` (n_l2, K)."""

    l2: tuple[float, ...]
    weight: torch.Tensor
    bias: torch.Tensor


class FewShotResult(NamedTuple):
    """The outcome of :func:`fewshot_accuracy`: test accuracy, the lambda chosen, its leave-one-out error."""

    accuracy: float
    l2: float
    loo_error: float


@torch.no_grad()
def representation(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The frozen features a linear head reads: (B, C, H, W) -> (B, D), in eval mode, batched.

    A ViT (a model with ``forward_features`` and ``pool``) gives its pooled token after the final
    LayerNorm; a CNN (a model with ``features``) gives the global average of its feature map.
    """
    if hasattr(model, "forward_features") and hasattr(model, "pool"):
        def encode(batch: torch.Tensor) -> torch.Tensor:
            return model.pool(model.forward_features(batch))
    elif hasattr(model, "features"):
        def encode(batch: torch.Tensor) -> torch.Tensor:
            return model.features(batch).mean(dim=(2, 3))
    else:
        raise TypeError(f"model must be a ViT (forward_features and pool) or a CNN (features), "
                        f"got {type(model).__name__}.")
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a 4-D tensor (B, C, H, W), got {shape}.")
    check_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    try:
        return torch.cat([encode(images[start:start + batch_size]) for start in range(0, len(images), batch_size)])
    finally:
        model.train(was_training)


def _check_features(features: object, labels: object | None = None, name: str = "features") -> None:
    if not isinstance(features, torch.Tensor) or features.ndim != 2 or not features.is_floating_point():
        shape = f"{features.dtype} tensor of shape {tuple(features.shape)}" if isinstance(features, torch.Tensor) \
            else type(features).__name__
        raise TypeError(f"{name} must be a 2-D float tensor (n, D) of frozen features, got a {shape}.")
    if labels is None:
        return
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point():
        raise TypeError("labels must be a 1-D integer tensor of class indices.")
    if len(labels) != len(features):
        raise ValueError(f"{name} has {len(features)} rows but labels has {len(labels)}; one label per image.")


def _check_l2(l2: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(value) for value in l2)
    if not values or not all(value > 0 for value in values):
        raise ValueError(f"l2 must be a non-empty sequence of positive lambdas, got {l2!r}; e.g. (0.1, 1.0, 10.0).")
    return values


def signed_targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One row per label in {-1, 1}^K: +1 at the label, -1 elsewhere (the paper's targets)."""
    check_int(num_classes, "num_classes")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {labels.min().item()}..{labels.max().item()}.")
    return 2.0 * nn.functional.one_hot(labels, num_classes).double() - 1.0


class _Centred(NamedTuple):
    mean: torch.Tensor  # (D,) feature mean
    target_mean: torch.Tensor  # (K,)
    basis: torch.Tensor  # (D, D) eigenvectors of Xc^T Xc
    spectrum: torch.Tensor  # (D,) its eigenvalues
    projected: torch.Tensor  # (n, D) Xc V
    targets: torch.Tensor  # (n, K) centred targets


def _decompose(features: torch.Tensor, targets: torch.Tensor) -> _Centred:
    # Centring X and Y leaves the intercept out of the penalty; one eigendecomposition serves every lambda.
    x = features.double()
    mean, target_mean = x.mean(dim=0), targets.mean(dim=0)
    centred = x - mean
    spectrum, basis = torch.linalg.eigh(centred.T @ centred)  # (D,), (D, D)
    return _Centred(mean, target_mean, basis, spectrum.clamp(min=0.0), centred @ basis, targets - target_mean)


def ridge_fit(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
              l2: Sequence[float] = DEFAULT_L2) -> RidgeFit:
    """Closed-form ridge regression from ``features`` (n, D) to {-1, 1}^K targets, for every lambda of ``l2``.

    W = (Xc^T Xc + lambda I)^-1 Xc^T Yc and b = mean(Y) - mean(X) W, with Xc, Yc the centred
    features and targets (computed in float64).
    """
    _check_features(features, labels)
    values = _check_l2(l2)
    parts = _decompose(features, signed_targets(labels, num_classes))
    rotated = parts.projected.T @ parts.targets  # (D, K) = V^T Xc^T Yc
    shrink = 1.0 / (parts.spectrum[None, :] + torch.tensor(values, dtype=torch.float64)[:, None])  # (n_l2, D)
    weight = torch.einsum("de,le,ek->ldk", parts.basis, shrink, rotated)  # (n_l2, D, K)
    bias = parts.target_mean[None] - torch.einsum("d,ldk->lk", parts.mean, weight)  # (n_l2, K)
    return RidgeFit(values, weight, bias)


def ridge_predict(fit: RidgeFit, features: torch.Tensor, index: int = 0) -> torch.Tensor:
    """Predicted classes (n,) of ``features`` (n, D) with the ``index``-th lambda of ``fit``."""
    _check_features(features)
    if features.shape[1] != fit.weight.shape[1]:
        raise ValueError(f"features have D = {features.shape[1]} but the fit was made on D = {fit.weight.shape[1]}.")
    scores = features.double() @ fit.weight[index] + fit.bias[index]  # (n, K)
    return scores.argmax(dim=1)


def leave_one_out_errors(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                         l2: Sequence[float] = DEFAULT_L2) -> torch.Tensor:
    """Mean squared leave-one-out error (n_l2,) of the ridge fit of every lambda, without n refits.

    Ridge with an unpenalised intercept is a linear smoother, y_hat = H y with
    H = 11^T / n + Xc (Xc^T Xc + lambda I)^-1 Xc^T, so the prediction for image i from a fit on
    the others has residual (y_i - y_hat_i) / (1 - H_ii).
    """
    _check_features(features, labels)
    values = _check_l2(l2)
    n = len(features)
    if n < 3:
        raise ValueError(f"leave-one-out needs at least 3 labelled images, got {n}.")
    parts = _decompose(features, signed_targets(labels, num_classes))
    errors = []
    for value in values:
        shrink = 1.0 / (parts.spectrum + value)  # (D,)
        fitted = (parts.projected * shrink) @ (parts.projected.T @ parts.targets)  # (n, K), centred
        leverage = 1.0 / n + (parts.projected ** 2 * shrink).sum(dim=1)  # (n,) = H_ii
        residual = (parts.targets - fitted) / (1.0 - leverage)[:, None]
        errors.append(residual.pow(2).mean())
    return torch.stack(errors)


def fewshot_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                     test_labels: torch.Tensor, num_classes: int, l2: Sequence[float] = DEFAULT_L2) -> FewShotResult:
    """Linear few-shot accuracy: fit ridge on the labelled features, lambda chosen by leave-one-out, test.

    Args:
        train_features, train_labels: the few labelled images' frozen features (n, D) and classes (n,).
        test_features, test_labels: held-out images' features (m, D) and classes (m,).
        num_classes: K.
        l2: the lambdas to choose from (by the smallest leave-one-out squared error; ties: the larger lambda).
    """
    _check_features(test_features, test_labels, "test_features")
    values = _check_l2(l2)
    errors = leave_one_out_errors(train_features, train_labels, num_classes, values)
    best = max(range(len(values)), key=lambda i: (-round(errors[i].item(), 12), values[i]))
    fit = ridge_fit(train_features, train_labels, num_classes, (values[best],))
    predicted = ridge_predict(fit, test_features)
    accuracy = (predicted == test_labels).double().mean().item()
    return FewShotResult(accuracy, values[best], errors[best].item())
