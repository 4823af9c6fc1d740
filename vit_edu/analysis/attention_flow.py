"""Attention flow (Abnar & Zuidema, 2020): how much can each input token send to the class token?

Rollout (``attention_maps.attention_rollout``) multiplies the layers' attention matrices: it
treats attention as *proportions* that mix. Attention flow treats the same numbers as
*capacities* of pipes and asks for the largest amount that can be pushed through them.

The graph (one per image):

- nodes: token i at layer boundary l, for l = 0..L (l = 0: the embedded input z_0, l = L: the
  output z_L), so (L + 1) T nodes;
- edges: from token j at boundary l - 1 to token i at boundary l, with capacity
  A_hat_l[i, j], where A_hat_l is the *same* matrix rollout uses (this project's convention):
  fuse the k heads of layer l (mean by default, or max/min), add I for the residual path and
  renormalise the rows, A_hat_l = rownorm(fuse_heads(A_l) + I); for the mean, whose rows sum
  to 1, that is (A_l + I) / 2. Row i of A_hat_l is where query i of layer l reads from.

The flow of input token j is the maximum flow from node (0, j) to the output class-token node
(L, 0), a separate max-flow problem for each j. Every edge into (L, 0) comes from layer L, whose
row 0 sums to 1, so every flow lies in [0, 1]; and rollout's R[0, j] is the value of one
feasible flow (the one that splits in proportion to the weights), so flow >= rollout.

Max-flow solvers need integer capacities: ``scipy.sparse.csgraph.maximum_flow`` gets
round(A_hat * scale) as int32. The flow is exact for the rounded capacities; each capacity moves
by at most 1 / (2 scale), so a flow is off by at most (edges in a minimum cut) / (2 scale), in
the worst case L T^2 / (2 scale), which for the default scale 2^24 and the shapes model
(T = 65, L = 4) is 5e-4; in practice it stays below 1e-6 (the tests compare with networkx and
a textbook Edmonds-Karp at 1e-5). Node throughput is at most T * scale, so ``scale`` may not
exceed (2^31 - 1) / T.

- :func:`residual_attention`: (L, B, T, T) the A_hat_l of every layer.
- :func:`attention_flow`: the flows of the input tokens into one output token, (B, N) or (B, T).
- :func:`attention_flow_map`: the same, straight from a model and images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

from vit_edu.analysis.attention_maps import HEAD_FUSIONS, check_attentions
from vit_edu.checks import check_choice, check_int

DEFAULT_SCALE = 2**24
_INT32_MAX = 2**31 - 1


def residual_attention(attentions: Sequence[torch.Tensor], head_fusion: str = "mean") -> torch.Tensor:
    """A_hat_l = rownorm(fuse_heads(A_l) + I) for every layer, in float64 -> (L, B, T, T).

    The per-layer factor of ``attention_rollout`` (without discarding): for one layer,
    ``attention_rollout([A_l], head_fusion)`` equals ``residual_attention([A_l], head_fusion)[0]``.
    """
    check_attentions(attentions)
    check_choice(head_fusion, "head_fusion", HEAD_FUSIONS)
    fuse = {"mean": torch.mean, "max": torch.amax, "min": torch.amin}[head_fusion]
    stacked = torch.stack([a.detach().double() for a in attentions])  # (L, B, k, T, T)
    if not torch.isfinite(stacked).all() or (stacked < 0).any():
        raise ValueError("attentions must be finite and non-negative (softmax weights); got NaN, inf or negatives.")
    fused = fuse(stacked, dim=2)  # (L, B, T, T)
    a_hat = fused + torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)  # residual path
    return a_hat / a_hat.sum(dim=-1, keepdim=True)  # (L, B, T, T), rows sum to 1


def _flow_graph(a_hat: np.ndarray, query_index: int, scale: int) -> tuple[csr_array, int]:
    """The layered graph of one image as an int32 capacity matrix, and the sink's node index.

    Node l T + i is token i at boundary l for l = 0..L-1; the sink, node L T, is token
    ``query_index`` at boundary L. The other output tokens are left out: no flow to the sink
    passes through them.

    Args:
        a_hat: (L, T, T) float64, A_hat_l of every layer.
    """
    num_layers, tokens = a_hat.shape[0], a_hat.shape[-1]
    sink = num_layers * tokens
    local = np.arange(tokens)
    rows, cols, caps = [], [], []
    for layer in range(num_layers - 1):  # edges from boundary `layer` to boundary `layer + 1`
        # edge (layer, j) -> (layer + 1, i) carries A_hat_(layer+1)[i, j]; the matrix's transpose is the block
        block = a_hat[layer].T  # (T_from, T_to)
        rows.append(np.repeat(local, tokens) + layer * tokens)
        cols.append(np.tile(local, tokens) + (layer + 1) * tokens)
        caps.append(block.reshape(-1))
    rows.append(local + (num_layers - 1) * tokens)  # the last layer, into the sink only
    cols.append(np.full(tokens, sink))
    caps.append(a_hat[-1, query_index])
    capacity = np.rint(np.concatenate(caps) * scale).astype(np.int32)
    keep = capacity > 0
    graph = csr_array((capacity[keep], (np.concatenate(rows)[keep], np.concatenate(cols)[keep])),
                      shape=(sink + 1, sink + 1))
    graph.sort_indices()
    return graph, sink


def attention_flow(
    attentions: Sequence[torch.Tensor],
    head_fusion: str = "mean",
    query_index: int = 0,
    full: bool = False,
    scale: int = DEFAULT_SCALE,
) -> torch.Tensor:
    """Attention flow of every input token into output token ``query_index`` (the class token by default).

    One max-flow per input token and image: the graph of an image is built once and reused for
    all its T sources (scipy's Dinic algorithm).

    Args:
        attentions: L tensors (B, k, T, T) from ``model(images, return_attention=True)[1]``.
        head_fusion: ``"mean"`` (the paper's and this project's default), ``"max"`` or ``"min"``,
            as in ``attention_rollout``.
        query_index: the output token the flow goes to: 0 = class token, p + 1 = patch p.
        full: return all T input tokens, the class token first, instead of the N patches.
        scale: integer capacities are round(A_hat * scale) (see the module docstring).

    Returns:
        (B, N) flows from each patch, like ``class_token_map(attention_rollout(...))``; with
        ``full``, (B, T). In the attentions' dtype and device; every value in [0, 1].
    """
    _, batch, _, tokens = check_attentions(attentions)
    query_index = check_int(query_index, "query_index", minimum=0)
    if query_index >= tokens:
        raise ValueError(f"query_index must be in 0..{tokens - 1} (0 = class token), got {query_index}.")
    if not isinstance(full, bool):
        raise TypeError(f"full must be True or False, got {full!r}.")
    scale = check_int(scale, "scale")
    if scale * tokens > _INT32_MAX:
        raise ValueError(f"scale must be at most (2**31 - 1) / T = {_INT32_MAX // tokens} for T = {tokens} tokens "
                         f"(scipy's max-flow counts in int32), got {scale}; the default is 2**24.")
    a_hat = residual_attention(attentions, head_fusion).cpu().numpy()  # (L, B, T, T)
    sources = range(tokens) if full else range(1, tokens)
    flows = np.zeros((batch, len(sources)))
    for image in range(batch):
        graph, sink = _flow_graph(a_hat[:, image], query_index, scale)
        for column, source in enumerate(sources):  # input token `source` is node `source` (boundary 0)
            flows[image, column] = maximum_flow(graph, source, sink).flow_value
    like = attentions[0]
    return torch.from_numpy(flows / scale).to(dtype=like.dtype, device=like.device)  # (B, N) or (B, T)


@torch.no_grad()
def attention_flow_map(model: torch.nn.Module, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """:func:`attention_flow` of ``model`` on ``images``, computed in eval mode (the mode is restored).

    Args:
        model: returns ``(logits, attentions)`` for ``model(images, return_attention=True)``, e.g. a ViT.
        images: (B, C, H, W).
        kwargs: passed to :func:`attention_flow` (``head_fusion``, ``query_index``, ``full``, ``scale``).

    Returns:
        (B, N), or (B, T) with ``full=True``.
    """
    was_training = model.training
    model.eval()  # dropout would change the residual stream and with it every later layer's attention
    try:
        attentions = model(images, return_attention=True)[1]  # L x (B, k, T, T)
    finally:
        model.train(was_training)
    return attention_flow(list(attentions), **kwargs)
