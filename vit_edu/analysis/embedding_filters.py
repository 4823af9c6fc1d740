"""Principal components of the patch-embedding filters (paper §4.5, Fig. 7 left).

The patch embedding E of Eq. 1 maps a patch of P^2 C values to D numbers. Output d is the dot
product of the patch with one *filter*: column d of E, which, read in the patch's own layout, is a
small C x P x P picture (the Conv2d form stores exactly these pictures, ``(D, C, P, P)``). The paper
takes the D learned filters of ViT-L/32 and shows their top principal components, which "resemble
plausible basis functions for a low-dimensional representation of the fine structure within each
patch".

Principal component analysis of the filters, written as the rows of a (D, C P^2) matrix F:

    F_c = F - mean over the D rows,   F_c = U S V^T (singular value decomposition),

component i is row i of V^T (a unit vector of C P^2 values, reshaped to (C, P, P)), and the share
of the filters' total variance it explains is s_i^2 / sum_j s_j^2. At most min(D, C P^2)
components exist.

Shapes: filters (D, C, P_h, P_w) -> components (k, C, P_h, P_w), explained-variance ratios (k,).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from vit_edu.checks import check_int
from vit_edu.model import ViT
from vit_edu.patches import PatchEmbedding, conv_weight_from_linear


class FilterComponents(NamedTuple):
    """The principal components of D filters, largest variance first.

    Attributes:
        components: (k, C, P_h, P_w), each of unit length; the sign of each is chosen so that its
            entry of largest magnitude is positive (a component and its negative span the same line).
        explained_variance_ratio: (k,), the share of the filters' total variance along each
            component; the k shares of all min(D, C P_h P_w) components sum to 1.
        mean: (C, P_h, P_w), the mean filter that was subtracted first.
    """

    components: torch.Tensor
    explained_variance_ratio: torch.Tensor
    mean: torch.Tensor


def _patch_embedding(model: nn.Module) -> PatchEmbedding:
    if isinstance(model, PatchEmbedding):
        return model
    if isinstance(model, ViT):
        return model.patch_embed
    raise TypeError(f"model must be a vit_edu ViT or a PatchEmbedding, got {type(model).__name__}.")


@torch.no_grad()
def patch_embedding_filters(model: nn.Module, input_std: float | list[float] | tuple[float, ...] | None = None
                            ) -> torch.Tensor:
    """The D filters of a patch embedding as pictures, (D, C, P_h, P_w), whichever form stores them.

    Args:
        model: a :class:`~vit_edu.model.ViT` or a :class:`~vit_edu.patches.PatchEmbedding`, ``"conv"``
            or ``"linear"`` form (the linear weight (D, P_h P_w C) is rearranged to the conv layout).
        input_std: the standard deviation that
            :meth:`~vit_edu.patches.PatchEmbedding.fold_input_normalization` folded into E (one number
            or one per channel; a course recipe's ``input_normalization[1]``). Folding divided channel c
            of every filter by it; multiplying back gives the filters the model learned on normalised
            inputs, comparable with its initialisation. ``None``: the filters as stored.

    Returns:
        a float64 copy, detached from the model.
    """
    embedding = _patch_embedding(model)
    weight = embedding.proj.weight.detach().to(torch.float64)
    if embedding.form == "linear":
        weight = conv_weight_from_linear(weight, embedding.patch_size, embedding.channels)  # (D, C, P_h, P_w)
    filters = weight.clone()  # (D, C, P_h, P_w)
    if input_std is not None:
        std = torch.as_tensor(input_std, dtype=torch.float64).flatten()
        if std.numel() not in (1, embedding.channels):
            raise ValueError(f"input_std must be one number or {embedding.channels} (one per channel), "
                             f"got {std.numel()} values.")
        if not bool((std > 0).all()):
            raise ValueError(f"input_std must be > 0, got {std.tolist()}.")
        filters *= std.expand(embedding.channels).view(1, -1, 1, 1)
    return filters


@torch.no_grad()
def filter_components(filters: torch.Tensor, k: int | None = None) -> FilterComponents:
    """Principal components of D filters by the SVD of the centred (D, C P_h P_w) matrix.

    Args:
        filters: (D, C, P_h, P_w), e.g. from :func:`patch_embedding_filters`; D >= 2.
        k: how many components to return, 1 <= k <= min(D, C P_h P_w); ``None``: all of them.

    Raises:
        ValueError: for a tensor of the wrong shape, non-finite values, identical filters
            (no variance to explain) or ``k`` out of range.
    """
    if not isinstance(filters, torch.Tensor):
        raise TypeError(f"filters must be a torch.Tensor of shape (D, C, P_h, P_w), got {type(filters).__name__}.")
    if filters.ndim != 4 or filters.shape[0] < 2 or filters.numel() == 0:
        raise ValueError(f"filters must have shape (D, C, P_h, P_w) with D >= 2 filters, got {tuple(filters.shape)}; "
                         "pass patch_embedding_filters(model).")
    if not bool(torch.isfinite(filters).all()):
        raise ValueError("filters contain NaN or infinite values.")
    num_filters, channels, height, width = filters.shape
    size = channels * height * width
    available = min(num_filters, size)
    if k is None:
        k = available
    check_int(k, "k")
    if k > available:
        raise ValueError(f"k must be at most min(D, C*P_h*P_w) = min({num_filters}, {size}) = {available}, "
                         f"got {k}.")
    flat = filters.detach().to(torch.float64).reshape(num_filters, size)  # (D, C P_h P_w)
    mean = flat.mean(dim=0)  # (C P_h P_w,)
    centred = flat - mean  # (D, C P_h P_w)
    _, singular_values, vh = torch.linalg.svd(centred, full_matrices=False)  # S (available,), Vh (available, size)
    variance = singular_values**2
    total = variance.sum()
    if not bool(total > 0):
        raise ValueError("all filters are identical: they have no variance to split into components.")
    components = vh[:k]  # (k, C P_h P_w)
    largest = components.abs().argmax(dim=1, keepdim=True)  # (k, 1)
    components = components * torch.sign(components.gather(1, largest))  # largest entry positive
    return FilterComponents(
        components=components.reshape(k, channels, height, width),  # (k, C, P_h, P_w)
        explained_variance_ratio=variance[:k] / total,  # (k,)
        mean=mean.reshape(channels, height, width),  # (C, P_h, P_w)
    )


def patch_embedding_components(model: nn.Module, k: int | None = None,
                               input_std: float | list[float] | tuple[float, ...] | None = None) -> FilterComponents:
    """Fig. 7 (left) for a model: the top ``k`` principal components of its patch-embedding filters.

    ``filter_components(patch_embedding_filters(model, input_std), k)``; see those two functions.
    """
    return filter_components(patch_embedding_filters(model, input_std), k)
