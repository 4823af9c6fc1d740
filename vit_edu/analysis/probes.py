"""Can one patch tell "object" from "clutter"? Linear vs non-linear probes on raw patch pixels.

A ViT's first layer is linear in the pixels of a patch (the patching lesson), and its first non-linearity
(the MLP of block 1) comes after one round of attention. So what the class token can look for in
layer 1 is limited to what a *linear* function of the P x P x C patch values can see. This module
measures that on the synthetic shapes: patches entirely inside the object against patches that
do not touch it, classified by a logistic regression (linear) and by a one-hidden-layer MLP
(non-linear), on equal numbers of both kinds so that chance is 50%.

With objects of any hue on grey clutter the linear probe stays far below the MLP: "coloured"
points in every direction away from the grey axis of RGB space, and no single direction (no
linear function) separates all of them from grey. With hues from red to yellow it is
near-perfect. That is why the course's shapes recipe uses warm hues (see :mod:`vit_edu.training.recipes`).

:func:`first_layer_view` looks at the same first layer from the model's side, before any
training: how alike the patch tokens are after block 1's LayerNorm, and how far the class token's
attention is from uniform. It shows why the initialisation and the input scale decide whether a
tiny ViT leaves the chance plateau quickly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from vit_edu.data.shapes import make_shapes
from vit_edu.patches import patchify


class ProbeResult(NamedTuple):
    """Balanced test accuracies (chance 0.5) of the two probes, and the number of patches used."""

    linear: float
    mlp: float
    num_patches: int


def object_patch_probe(
    hue_range: tuple[float, float] = (0.0, 360.0), *, num_images: int = 600, patch_size: int = 4,
    image_size: int = 32, seed: int = 0, **shape_options,
) -> ProbeResult:
    """Train both probes on the patches of ``make_shapes(num_images, ...)`` and test them on held-out images.

    Args:
        hue_range: the objects' hue range in degrees, passed to :func:`~vit_edu.data.shapes.make_shapes`.
        num_images: images generated; the first half trains the probes, the second half tests them.
        patch_size: P; the image is cut into P x P patches as in the ViT.
        image_size: S of the generated images.
        seed: seeds the images, the balancing subsample and the MLP.
        **shape_options: further :func:`make_shapes` arguments (``object_size``, ``rotate``, ...).

    Returns:
        :class:`ProbeResult` with balanced accuracies in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 20:
        raise ValueError(f"num_images must be an int >= 20 (half train, half test), got {num_images!r}.")
    if image_size % patch_size:
        raise ValueError(f"patch_size {patch_size} must divide image_size {image_size}.")
    data = make_shapes(num_images, image_size=image_size, seed=seed, hue_range=hue_range, **shape_options)
    grid = image_size // patch_size
    pixels = patchify(data.images, patch_size).numpy()  # (n, N, P*P*3)
    coverage = data.masks.reshape(num_images, grid, patch_size, grid, patch_size).float().mean(dim=(2, 4))
    coverage = coverage.reshape(num_images, -1).numpy()  # (n, N): share of each patch's pixels on the object
    rng = np.random.default_rng(seed)

    def balanced(rows: slice) -> tuple[np.ndarray, np.ndarray]:
        inside = pixels[rows][coverage[rows] == 1.0]
        outside = pixels[rows][coverage[rows] == 0.0]
        count = min(len(inside), len(outside))
        if count < 10:
            raise ValueError("too few patches lie entirely inside the objects; use larger objects or more images.")
        inside = inside[rng.choice(len(inside), count, replace=False)]
        outside = outside[rng.choice(len(outside), count, replace=False)]
        return np.concatenate([inside, outside]), np.repeat([1, 0], count)

    half = num_images // 2
    train_x, train_y = balanced(slice(0, half))
    test_x, test_y = balanced(slice(half, num_images))
    linear = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=seed).fit(train_x, train_y)
    return ProbeResult(float(linear.score(test_x, test_y)), float(mlp.score(test_x, test_y)),
                       len(train_x) + len(test_x))


class FirstLayerView(NamedTuple):
    """What block 1 of a (fresh) ViT sees; both numbers are means over the images."""

    token_similarity: float  # mean cosine similarity of two patch tokens after block 1's LayerNorm
    attention_from_uniform: float  # total-variation distance of the class token's attention from uniform


@torch.no_grad()
def first_layer_view(model, images: torch.Tensor) -> FirstLayerView:
    """How distinct block 1's patch tokens are, and how focused its class-token attention is.

    Args:
        model: a :class:`vit_edu.ViT` (with at least one block).
        images: (B, C, H, W) in the scale the model is fed (e.g. [0, 1] or [-1, 1]).

    Returns:
        :class:`FirstLayerView`. ``token_similarity`` near 1 means every patch looks the same to
        block 1 (one shared component, e.g. the mean brightness, dominates the embedding);
        ``attention_from_uniform`` is 0.5 * sum |a - 1/N| over the N patches, averaged over heads and
        images: 0 for uniform attention, close to 1 when it sits on a single patch.
    """
    if not hasattr(model, "blocks") or len(model.blocks) == 0:
        raise TypeError("model must be a vit_edu ViT with at least one encoder block.")
    was_training = model.training
    model.eval()
    try:
        model.check_images(images)
        block = model.blocks[0]
        normed = block.norm1(model.embed(images))  # (B, T, D): what block 1's attention reads
        unit = F.normalize(normed[:, 1:], dim=-1)  # patch tokens only
        n = unit.shape[1]
        cosine = unit @ unit.transpose(1, 2)  # (B, N, N)
        similarity = (cosine.sum(dim=(1, 2)) - n) / (n * (n - 1))  # off-diagonal mean, (B,)
        _, weights = block.attn(normed, return_attention=True)  # (B, heads, T, T), block 1 only
        row = weights[:, :, 0, 1:]  # (B, heads, N): the class token's weights on the patches
        row = row / row.sum(dim=-1, keepdim=True)
        distance = 0.5 * (row - 1.0 / n).abs().sum(dim=-1)  # (B, heads)
    finally:
        model.train(was_training)
    return FirstLayerView(float(similarity.mean()), float(distance.mean()))
