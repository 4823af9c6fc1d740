"""One image's whole forward pass, kept: every stage of Eq. 1-4 with its real tensors.

:func:`trace_forward` runs a :class:`~vit_edu.model.ViT` on one image step by step, through the
model's own modules (so the trace is the model, not a re-implementation), and keeps what each stage
makes: the patches x_p, their embeddings x_p E, the class token and E_pos, the residual stream z_l
after every block, what attention and the MLP add to it, the attention weights, the final
LayerNorm, the logits, the probabilities, and the logit lens (the head applied to every token of
every z_l). :func:`explanation_maps` adds the class-token maps of four methods for the same image.
The explainer widget (:mod:`vit_edu.widgets.vit_explainer`) draws these; the tests check them
against ``model(image)``.

    trace = trace_forward(model, image)          # image (C, H, W)
    trace.stream.shape                           # (L + 1, T, D): z_0 ... z_L
    trace.logits                                 # equals model(image[None])[0]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vit_edu.analysis.attention_flow import attention_flow
from vit_edu.analysis.attention_maps import attention_rollout, class_token_map, gradient_weighted_attention
from vit_edu.patches import patchify

STAGES = ("image", "patches", "embedding", "class token", "positions", "blocks", "final norm", "head")
MAP_KINDS = ("raw", "rollout", "flow", "gradient")


@dataclass(frozen=True)
class ForwardTrace:
    """What one image becomes at every stage (all CPU tensors, no gradient; T = N + 1, class token first).

    Attributes:
        image: (C, H, W) the input.
        patches: (N, P^2 C) x_p, patches row by row, values in (p1 p2 c) order.
        patch_embeddings: (N, D) x_p E (the patch projection, bias included).
        class_token: (D,) x_class.
        positions: (T, D) E_pos as the model adds it (zeros where a model has none).
        stream: (L + 1, T, D) the residual stream z_0 (embedded input) ... z_L (last block's output).
        attention_out: (L, T, D) what each block's attention branch adds (MSA(LN(z))).
        mlp_out: (L, T, D) what each block's MLP adds.
        attentions: (L, k, T, T) attention weights A (rows: queries, columns: keys).
        normed: (T, D) LN(z_L), the final LayerNorm's output.
        logits: (K,) the model's output; probabilities: (K,) their softmax.
        lens: (L, T, K) class scores of every token after every block (final LayerNorm and head applied).
    """

    image: torch.Tensor
    patches: torch.Tensor
    patch_embeddings: torch.Tensor
    class_token: torch.Tensor
    positions: torch.Tensor
    stream: torch.Tensor
    attention_out: torch.Tensor
    mlp_out: torch.Tensor
    attentions: torch.Tensor
    normed: torch.Tensor
    logits: torch.Tensor
    probabilities: torch.Tensor
    lens: torch.Tensor

    @property
    def num_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def seq_len(self) -> int:
        return self.attentions.shape[-1]

    def stream_norms(self) -> torch.Tensor:
        """(L + 1, T) the length of every token's vector in z_0 ... z_L."""
        return self.stream.norm(dim=-1)

    def lens_probabilities(self, token: int = 0) -> torch.Tensor:
        """(L, K) softmax of the logit lens for one token (0 = the class token) after every block."""
        return self.lens[:, token].softmax(dim=-1)


def _check_model_and_image(model: nn.Module, image: torch.Tensor) -> None:
    missing = [name for name in ("patch_embed", "cls_token", "blocks", "norm", "head", "config", "embed")
               if not hasattr(model, name)]
    if missing:
        raise TypeError(f"model must be a vit_edu ViT; {type(model).__name__} lacks {missing}.")
    if not isinstance(model.head, nn.Linear):
        raise ValueError("the trace ends in class scores, but this model has no head (num_classes=0); "
                         "build it with num_classes=K.")
    if model.config.pool != "cls" or getattr(model.config, "num_registers", 0):
        raise ValueError("trace_forward follows the paper's model: pool='cls' and no register tokens; "
                         f"got pool={model.config.pool!r}.")
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be one (C, H, W) tensor (take images[i] from a batch), got {shape}.")
    model.check_images(image[None])


@torch.no_grad()
def trace_forward(model: nn.Module, image: torch.Tensor) -> ForwardTrace:
    """Run ``model`` on one (C, H, W) image in eval mode and keep every stage (see :class:`ForwardTrace`).

    The model's train/eval mode is restored afterwards.
    """
    _check_model_and_image(model, image)
    was_training = model.training
    model.eval()
    try:
        images = image[None].float()
        patch_embeddings = model.patch_embed(images)  # (1, N, D)
        z = model.embed(images)  # (1, T, D): class token, positions, (no dropout in eval)
        positions = model.position_embeddings()
        positions = torch.zeros_like(z[0]) if positions is None else positions[0].expand_as(z[0])
        stream, attention_out, mlp_out, attentions = [z[0]], [], [], []
        for block in model.blocks:
            added, weights = block.attn(block.norm1(z), return_attention=True)  # (1, T, D), (1, k, T, T)
            z = z + added  # Eq. 2
            mlp = block.mlp(block.norm2(z))
            z = z + mlp  # Eq. 3
            attention_out.append(added[0])
            mlp_out.append(mlp[0])
            attentions.append(weights[0])
            stream.append(z[0])
        stream = torch.stack(stream)  # (L + 1, T, D)
        normed = model.norm(stream[-1])  # (T, D)
        logits = model.head(normed[0])  # (K,), Eq. 4 with the head
        lens = model.head(model.norm(stream[1:]))  # (L, T, K)
        patch_size = model.config.patch_size
        return ForwardTrace(
            image=image.detach().cpu(), patches=patchify(images, patch_size)[0], patch_embeddings=patch_embeddings[0],
            class_token=model.cls_token.detach().reshape(-1), positions=positions.detach(), stream=stream,
            attention_out=torch.stack(attention_out), mlp_out=torch.stack(mlp_out), attentions=torch.stack(attentions),
            normed=normed, logits=logits, probabilities=logits.softmax(dim=-1), lens=lens,
        )
    finally:
        model.train(was_training)


def explanation_maps(model: nn.Module, image: torch.Tensor, trace: ForwardTrace | None = None,
                     discard_ratio: float = 0.9) -> dict[str, torch.Tensor]:
    """Class-token maps of one image by every method of :data:`MAP_KINDS`.

    Returns:
        ``"raw"``: (L, N) each layer's class-token attention, mean over heads; ``"rollout"``: (N,)
        (mean fusion, ``discard_ratio``); ``"flow"``: (N,) attention flow; ``"gradient"``: (K, N)
        gradient-weighted attention for each class (a class-specific map, one row per class asked about).
    """
    trace = trace_forward(model, image) if trace is None else trace
    attentions = [layer[None] for layer in trace.attentions]  # L x (1, k, T, T)
    num_classes = trace.logits.shape[0]
    images = image[None].float().expand(num_classes, *image.shape)
    return {
        "raw": trace.attentions.mean(dim=1)[:, 0, 1:],  # (L, N)
        "rollout": class_token_map(attention_rollout(attentions, "mean", discard_ratio))[0],
        "flow": attention_flow(attentions)[0].float(),
        "gradient": class_token_map(gradient_weighted_attention(model, images, torch.arange(num_classes))),
    }
