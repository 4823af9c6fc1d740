"""The paper's hybrid architecture (§3.1): a ViT whose patches come from a CNN's feature map.

    "As an alternative to raw image patches, the input sequence can be formed from feature maps of a
    CNN. [...] As a special case, the patches can have spatial size 1x1, which means that the input
    sequence is obtained by simply flattening the spatial dimensions of the feature map and
    projecting to the Transformer dimension."

:class:`HybridViT` is that special case at course scale: a small convolutional *stem* (the layers of
:class:`~vit_edu.training.cnn.SmallCNN` without its pooling and head: 3 x 3 convolutions, BatchNorm,
ReLU, a 2 x 2 max-pool between them) turns a (B, C, H, W) image into a (B, c, H / s, W / s) feature
map, and a ViT with ``patch_size=1`` and ``channels=c`` reads every cell of that map as one token:

    images (B, C, H, W) -> stem -> (B, c, H/s, W/s) -> ViT(patch_size=1) -> logits (B, K)

With ``stride`` s equal to a plain ViT's patch size P, the hybrid has exactly as many tokens as the
ViT it is compared with; the difference is only *what* a token is: a linear map of raw pixels
(ViT) or of features that a few local, translation-equivariant convolutions computed (hybrid).
The paper's hybrids use a ResNet stem; the sizes here are the inductive-bias lesson's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vit_edu.checks import check_image_batch, check_int
from vit_edu.config import ViTConfig
from vit_edu.model import ViT
from vit_edu.training.cnn import SmallCNN


def _check_power_of_two(stride: object) -> int:
    check_int(stride, "stride", hint=" (a power of two: 1, 2, 4, ...)")
    if stride & (stride - 1):
        raise ValueError(f"stride must be a power of two (each 2 x 2 max-pool halves the map), got {stride}; "
                         "use the compared ViT's patch size, e.g. 4.")
    return stride


class HybridViT(nn.Module):
    """A conv stem with total stride ``stride``, then a ViT on 1 x 1 patches of its feature map.

    Args:
        vit: keyword arguments of :class:`~vit_edu.model.ViT` for the *image* (``image_size``,
            ``channels``, ``dim``, ``depth``, ...), e.g. a :class:`~vit_edu.training.recipes.Recipe`'s
            ``model``. Its ``patch_size`` is ignored: the transformer gets ``patch_size=1``,
            ``image_size = image_size / stride`` and ``channels = stem_width``.
        stride: total stride of the stem, a power of two: ``log2(stride)`` max-pools between
            ``log2(stride) + 1`` convolutions. Pass the compared ViT's patch size for as many
            tokens as it has.
        stem_width: c, channels of every stem convolution (the transformer's input channels).
        seed: seeds the stem's and the transformer's initial weights.

    Raises:
        ValueError: if the image size is not divisible by ``stride``.
    """

    def __init__(self, vit: dict[str, Any], *, stride: int, stem_width: int = 16, seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(vit, dict):
            raise TypeError(f"vit must be a dict of ViT keyword arguments (e.g. recipe.model), got "
                            f"{type(vit).__name__}.")
        stride = _check_power_of_two(stride)
        check_int(stem_width, "stem_width")
        image = ViTConfig(**vit)  # checks the fields
        height, width = image.image_size
        if height % stride or width % stride:
            raise ValueError(f"image_size {image.image_size} is not divisible by stride={stride}; the stem halves "
                             "the map log2(stride) times. Choose a stride that divides the image size.")
        pools = stride.bit_length() - 1
        stem = SmallCNN(channels=image.channels, num_classes=1, width=stem_width, depth=pools + 1,
                        pool_every=1 if pools else 0, seed=seed)
        self.stem = stem.body  # convolutions, BatchNorm, ReLU and pools; the CNN's head is not used
        self.stride, self.stem_width = stride, stem_width
        self.transformer = ViT(**{**vit, "image_size": (height // stride, width // stride), "patch_size": 1,
                                  "channels": stem_width}, seed=seed)
        self.config = self.transformer.config

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The stem's feature map: (B, C, H, W) -> (B, c, H / s, W / s)."""
        check_image_batch(images, self.stem[0].in_channels)
        return self.stem(images)

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        """(B, C, H, W) -> logits (B, K) (and the transformer's attention maps with ``return_attention``)."""
        return self.transformer(self.features(images), return_attention=return_attention)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameters of the stem and the transformer together."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
