"""The logit lens: what would the ViT answer if it stopped after block l?

The ViT's answer is read from its last residual stream z_L: y = LN(z_L^0) (Eq. 4), then the
head maps y to K class scores. The logit lens (nostalgebraist, 2020; for ViTs e.g. Vilas et al.,
2023) applies that same final LayerNorm and head to the stream z_l after *every* block l and to
*every* token, not only to z_L and the class token:

    lens[l, b, t] = head(LN(z_(l+1)^t)),   l = 0..L-1,  t = 0..N (0 = class token)

so the last layer's class-token row is exactly the model's output for ``pool="cls"``. For
``pool="mean"`` the model averages the *normalised* patch tokens and then applies the head (see
``ViT.pool``); the head is affine, so head(mean_t LN(z_L^t)) = mean_t head(LN(z_L^t)): the
model's output is the mean of the lens's last-layer patch rows (:func:`pooled_lens` with
``pool="mean"``), equal to it up to float rounding.

- :func:`logit_lens`: model, images -> (L, B, N + 1, K).
- :func:`pooled_lens`: (L, B, N + 1, K) -> (L, B, K), read the way the model pools.
- :func:`lens_predictions`: the predicted class per layer, (L, B).
- :func:`commit_layer`: the first layer from which the prediction is the final one and stays so, (B,).

The lens is a read-out, not a model: early layers were never trained to be read by the final
head, so their scores say what is linearly decodable *in the final head's directions* only.
"""

from __future__ import annotations

import torch
from torch import nn

from vit_edu.checks import check_choice

POOLS = ("cls", "mean")


def _check_lens_model(model: nn.Module) -> None:
    """A ViT-like model: ``embed``, ``blocks``, ``norm``, a Linear ``head`` and a ``config``."""
    missing = [name for name in ("embed", "blocks", "norm", "head", "config") if not hasattr(model, name)]
    if missing:
        raise TypeError(f"model must be a vit_edu ViT (with embed, blocks, norm, head and config); "
                        f"{type(model).__name__} lacks {missing}.")
    if not isinstance(model.head, nn.Linear):
        raise ValueError("the logit lens reads class scores through the model's head, but this model has none "
                         "(num_classes=0, head = Identity); build it with num_classes=K.")
    if getattr(model.config, "pool", "cls") not in POOLS:
        raise ValueError(f"model.config.pool must be one of {POOLS} for the logit lens, got {model.config.pool!r}.")


@torch.no_grad()
def logit_lens(model: nn.Module, images: torch.Tensor, include_embeddings: bool = False) -> torch.Tensor:
    """Class scores read from the residual stream after every block, for every token.

    Runs the model's own modules in order (``embed``, each block, then ``norm`` and ``head`` on
    every intermediate stream) in eval mode without gradients; the model's mode is restored.

    Args:
        model: a ``vit_edu.ViT`` with a head (``num_classes > 0``).
        images: (B, C, H, W), as the model takes them.
        include_embeddings: also read z_0, the embedded input before block 1, as layer 0.

    Returns:
        (L, B, N + 1, K) logits, token 0 = class token; (L + 1, B, N + 1, K) with
        ``include_embeddings``. For ``pool="cls"`` ``lens[-1, :, 0]`` equals ``model(images)``.

    Raises:
        TypeError: ``model`` is not ViT-like.
        ValueError: no head, or a token sequence that is not [class token; N patches] (e.g. extra
            register tokens), for which the lens's token rows would be mislabelled.
    """
    _check_lens_model(model)
    if not isinstance(include_embeddings, bool):
        raise TypeError(f"include_embeddings must be True or False, got {include_embeddings!r}.")
    model.check_images(images)
    expected_tokens = model.config.seq_len  # N + 1
    was_training = model.training
    model.eval()
    try:
        stream = model.embed(images)  # z_0, (B, T, D)
        if stream.shape[1] != expected_tokens:
            raise ValueError(f"the model's token sequence has T = {stream.shape[1]} tokens, but the lens expects the "
                             f"class token and N = {expected_tokens - 1} patches (T = {expected_tokens}); models "
                             "with register or distillation tokens are not supported.")
        streams = [stream] if include_embeddings else []
        for block in model.blocks:  # through __call__, so hooks on the blocks see this pass too
            stream = block(stream)  # z_l, (B, T, D)
            streams.append(stream)
        stacked = torch.stack(streams)  # (L, B, T, D)
        return model.head(model.norm(stacked))  # (L, B, T, K)
    finally:
        model.train(was_training)


def _check_lens(lens: torch.Tensor) -> None:
    if not isinstance(lens, torch.Tensor) or lens.ndim != 4 or not lens.is_floating_point():
        raise ValueError(f"lens must be a float tensor (L, B, N + 1, K) from logit_lens(model, images), "
                         f"got {getattr(lens, 'shape', type(lens).__name__)!r}.")
    if lens.shape[2] < 2:
        raise ValueError(f"lens has T = {lens.shape[2]} tokens; it needs the class token and at least one patch.")


def pooled_lens(lens: torch.Tensor, pool: str = "cls") -> torch.Tensor:
    """(L, B, N + 1, K) -> (L, B, K): the lens read the way the model pools.

    ``"cls"``: the class-token row; ``"mean"``: the mean of the patch rows, which for the last
    layer equals the output of a ``pool="mean"`` model (the head is affine, see the module docstring).
    """
    _check_lens(lens)
    check_choice(pool, "pool", POOLS)
    return lens[:, :, 0] if pool == "cls" else lens[:, :, 1:].mean(dim=2)  # (L, B, K)


def lens_predictions(lens: torch.Tensor, pool: str = "cls") -> torch.Tensor:
    """The predicted class after each block, (L, B) int64 (argmax of :func:`pooled_lens`)."""
    return pooled_lens(lens, pool).argmax(dim=-1)  # (L, B)


def commit_layer(predictions: torch.Tensor) -> torch.Tensor:
    """The first layer from which the prediction equals the final one and never changes again.

    Args:
        predictions: (L, B) integer class per layer, e.g. ``lens_predictions(lens)``.

    Returns:
        (B,) int64 layer index in 0..L-1 (0-based: 0 = after block 1). L-1 means the model
        only settles on its answer in its last block.
    """
    if not isinstance(predictions, torch.Tensor) or predictions.ndim != 2 or predictions.is_floating_point():
        raise ValueError(f"predictions must be an integer tensor (L, B), e.g. lens_predictions(lens); "
                         f"got {getattr(predictions, 'shape', type(predictions).__name__)!r} "
                         f"{getattr(predictions, 'dtype', '')}.")
    if predictions.shape[0] == 0:
        raise ValueError("predictions has no layers (L = 0).")
    num_layers = predictions.shape[0]
    agrees = predictions == predictions[-1:]  # (L, B)
    # stays[l] is True when layers l..L-1 all agree with the final answer: a reversed cumulative AND
    stays = agrees.flip(0).int().cumprod(dim=0).flip(0).bool()  # (L, B)
    return num_layers - stays.sum(dim=0)  # (B,); stays is True exactly on a suffix of the layers
