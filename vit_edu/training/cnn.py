"""A small convolutional network, the baseline that the inductive-bias lesson compares with a tiny ViT.

The network is a stack of L convolutions, all with the same kernel size k, stride 1 and width
(channels) c, each followed by BatchNorm and ReLU; optionally a 2 x 2 max-pool after every few
layers; then global average pooling and one Linear head:

    images (B, C, H, W) -> features (B, c, H', W') -> mean over H', W' -> (B, c) -> logits (B, K)

Every layer of :meth:`SmallCNN.features` is local (a k x k neighbourhood) and, without pooling,
translation *equivariant*: shifting the input shifts the feature map. Averaging over all
positions at the end turns that into translation *invariance* of the logits. With
``padding_mode="circular"`` both hold exactly for circular shifts (``torch.roll``), border
included; with zero padding they hold away from the borders.

:func:`cnn_num_parameters` is the closed-form parameter count, and :func:`match_cnn_width` picks
the width c whose count is closest to a target, e.g. a tiny ViT's ``num_parameters()``.
"""

from __future__ import annotations

import torch
from torch import nn

from vit_edu.init import init_weights

PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


def _positive_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return value


def cnn_num_parameters(
    *, channels: int, num_classes: int, width: int, depth: int, kernel_size: int = 3
) -> int:
    """Closed-form parameter count of :class:`SmallCNN` (pooling has no parameters).

    first conv C k^2 c + c; each further conv c^2 k^2 + c; BatchNorm 2c per layer; head c K + K.
    """
    k2 = kernel_size * kernel_size
    convs = (channels * k2 * width + width) + (depth - 1) * (width * width * k2 + width)
    return convs + depth * 2 * width + width * num_classes + num_classes


def match_cnn_width(
    target_parameters: int, *, channels: int, num_classes: int, depth: int, kernel_size: int = 3
) -> int:
    """The width c whose :func:`cnn_num_parameters` is closest to ``target_parameters``."""
    _positive_int(target_parameters, "target_parameters")
    best, best_gap = 1, None
    for width in range(1, 4097):
        count = cnn_num_parameters(channels=channels, num_classes=num_classes, width=width, depth=depth,
                                   kernel_size=kernel_size)
        gap = abs(count - target_parameters)
        if best_gap is None or gap < best_gap:
            best, best_gap = width, gap
        if count > target_parameters:
            break
    return best


class SmallCNN(nn.Module):
    """L same-width convolutions (stride 1), optional max-pooling, global average pool, Linear head.

    Args:
        channels: C, input channels.
        num_classes: K.
        width: c, channels of every convolution.
        depth: L, number of convolutions.
        kernel_size: k (odd, so that ``padding = k // 2`` keeps the size: "same" convolutions).
        pool_every: insert a 2 x 2 max-pool after every ``pool_every`` convolutions (not after the
            last one); 0 means no pooling, so the feature map keeps the input's size and the
            stack is exactly translation-equivariant.
        padding_mode: ``"zeros"`` (usual) or ``"circular"`` (wraps around: exact equivariance
            under ``torch.roll`` at the borders too), ``"reflect"``, ``"replicate"``.
        seed: seed of the initial weights (same scheme as the ViT, see ``vit_edu.init``);
            ``None`` uses torch's global RNG.
    """

    def __init__(
        self,
        *,
        channels: int = 3,
        num_classes: int = 10,
        width: int = 32,
        depth: int = 3,
        kernel_size: int = 3,
        pool_every: int = 0,
        padding_mode: str = "zeros",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        _positive_int(channels, "channels")
        _positive_int(num_classes, "num_classes")
        _positive_int(width, "width")
        _positive_int(depth, "depth")
        _positive_int(pool_every, "pool_every", minimum=0)
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive int (3, 5, ...), got {kernel_size!r}; "
                             "odd kernels with padding k // 2 keep the feature map the size of the input.")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}.")
        self.channels, self.num_classes, self.width, self.depth = channels, num_classes, width, depth
        self.kernel_size, self.pool_every, self.padding_mode = kernel_size, pool_every, padding_mode
        layers: list[nn.Module] = []
        for index in range(depth):
            layers.append(nn.Conv2d(channels if index == 0 else width, width, kernel_size,
                                    padding=kernel_size // 2, padding_mode=padding_mode))
            layers += [nn.BatchNorm2d(width), nn.ReLU()]
            if pool_every and (index + 1) % pool_every == 0 and index + 1 < depth:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)
        init_weights(self, seed=seed)

    @property
    def total_stride(self) -> int:
        """Product of the strides: the feature map is H / total_stride high (1 without pooling)."""
        pools = sum(isinstance(layer, nn.MaxPool2d) for layer in self.body)
        return 2**pools

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The feature map before pooling: (B, C, H, W) -> (B, c, H / s, W / s), s = ``total_stride``."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a 4-D tensor (B, C, H, W), got {shape}.")
        if images.shape[1] != self.channels:
            raise ValueError(f"images have {images.shape[1]} channels but the model was built with "
                             f"channels={self.channels}.")
        return self.body(images)  # (B, c, H / s, W / s)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> logits (B, K): features, global average pool, Linear head."""
        pooled = self.features(images).mean(dim=(2, 3))  # (B, c)
        return self.head(pooled)  # (B, K)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Counted parameters (compare with :func:`cnn_num_parameters`)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
