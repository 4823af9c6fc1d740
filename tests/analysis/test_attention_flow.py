"""Attention flow against closed forms, a max-flow written out here (Edmonds-Karp) and networkx."""

from __future__ import annotations

from collections import deque

import pytest
import torch

from vit_edu.analysis.attention_flow import DEFAULT_SCALE, attention_flow, attention_flow_map, residual_attention
from vit_edu.analysis.attention_maps import attention_rollout, class_token_map


def _rows(shape, seed: int) -> torch.Tensor:
    """Random row-stochastic float64 matrices, like softmax attention."""
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) ** 3 + 0.01
    return x / x.sum(dim=-1, keepdim=True)


def _a_hat(attention: torch.Tensor, fusion: str = "mean") -> torch.Tensor:
    """(B, k, T, T) -> (B, T, T): fuse heads, add the residual I, renormalise rows (written out here)."""
    fused = {"mean": attention.mean(dim=1), "max": attention.amax(dim=1), "min": attention.amin(dim=1)}[fusion]
    with_residual = fused + torch.eye(fused.shape[-1], dtype=fused.dtype)
    return with_residual / with_residual.sum(dim=-1, keepdim=True)


def _edges(a_hats: list[torch.Tensor], query: int) -> dict:
    """The layered graph as {(node_from, node_to): capacity}, nodes (boundary, token); the sink is (L, query)."""
    num_layers, tokens = len(a_hats), a_hats[0].shape[-1]
    edges = {}
    for layer, a_hat in enumerate(a_hats, start=1):
        for i in range(tokens):
            if layer == num_layers and i != query:
                continue
            for j in range(tokens):
                edges[((layer - 1, j), (layer, i))] = float(a_hat[i, j])
    return edges


def _edmonds_karp(edges: dict, source, sink) -> float:
    """Textbook max-flow on float capacities: shortest augmenting paths in the residual graph."""
    residual: dict = {}
    for (u, v), capacity in edges.items():
        residual.setdefault(u, {})
        residual.setdefault(v, {})
        residual[u][v] = residual[u].get(v, 0.0) + capacity
        residual[v].setdefault(u, 0.0)
    total = 0.0
    while True:
        parent = {source: None}
        queue = deque([source])
        while queue and sink not in parent:
            u = queue.popleft()
            for v, capacity in residual[u].items():
                if capacity > 1e-15 and v not in parent:
                    parent[v] = u
                    queue.append(v)
        if sink not in parent:
            return total
        path, v = [], sink
        while parent[v] is not None:
            path.append((parent[v], v))
            v = parent[v]
        push = min(residual[u][v] for u, v in path)
        for u, v in path:
            residual[u][v] -= push
            residual[v][u] += push
        total += push


def _reference_flows(attentions: list[torch.Tensor], fusion: str = "mean", query: int = 0, solver=_edmonds_karp):
    """(B, T) flows from every input token to output token ``query`` with the given solver."""
    batch, _, tokens, _ = attentions[0].shape
    out = torch.zeros(batch, tokens, dtype=torch.float64)
    for b in range(batch):
        a_hats = [_a_hat(a[b:b + 1].double(), fusion)[0] for a in attentions]
        edges = _edges(a_hats, query)
        for j in range(tokens):
            out[b, j] = solver(edges, (0, j), (len(attentions), query))
    return out


# --------------------------------------------------------------------------- closed forms
def test_hand_computed_two_layer_example():
    layer1 = torch.tensor([[0.2, 0.8], [0.6, 0.4]], dtype=torch.float64)[None, None]  # (1, 1, 2, 2)
    layer2 = torch.tensor([[0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)[None, None]
    # A_hat = (A + I) / 2: layer 1 [[0.6, 0.4], [0.3, 0.7]], layer 2 [[0.75, 0.25], [0.45, 0.55]].
    # Into the class token's output node the paths from input j run through middle node i with
    # capacity min(A_hat_1[i, j], A_hat_2[0, i]), and they share no edge:
    #   j = 0: min(0.6, 0.75) + min(0.3, 0.25) = 0.85;  j = 1: min(0.4, 0.75) + min(0.7, 0.25) = 0.65
    flow = attention_flow([layer1, layer2], full=True)
    torch.testing.assert_close(flow, torch.tensor([[0.85, 0.65]], dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(attention_flow([layer1, layer2]), flow[:, 1:])
    # the layer order matters: reversed, the input class token can push 0.6 + 0.4 = 1.0
    reversed_flow = attention_flow([layer2, layer1], full=True)
    torch.testing.assert_close(reversed_flow, torch.tensor([[1.0, 0.65]], dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_two_layers_closed_form(fusion):
    layer1, layer2 = _rows((3, 4, 7, 7), seed=1), _rows((3, 4, 7, 7), seed=2)
    a1, a2 = _a_hat(layer1, fusion), _a_hat(layer2, fusion)  # (B, T, T)
    # flow_j = sum_i min(A_hat_1[i, j], A_hat_2[0, i]) (disjoint two-edge paths through the middle nodes)
    expected = torch.minimum(a1, a2[:, 0, :, None]).sum(dim=1)  # (B, T)
    flow = attention_flow([layer1, layer2], head_fusion=fusion, full=True)
    torch.testing.assert_close(flow, expected, atol=1e-6, rtol=0)


def test_one_layer_flow_is_rollout():
    attention = _rows((2, 3, 6, 6), seed=3)
    rollout = class_token_map(attention_rollout([attention]))
    torch.testing.assert_close(attention_flow([attention]), rollout, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- general graphs
@pytest.mark.parametrize(("num_layers", "fusion", "query"), [(3, "mean", 0), (4, "max", 2), (3, "min", 5)])
def test_matches_edmonds_karp_written_here(num_layers, fusion, query):
    attentions = [_rows((2, 2, 6, 6), seed=10 + layer) for layer in range(num_layers)]
    expected = _reference_flows(attentions, fusion, query)
    flow = attention_flow(attentions, head_fusion=fusion, query_index=query, full=True)
    torch.testing.assert_close(flow, expected, atol=1e-5, rtol=0)


def test_matches_networkx():
    nx = pytest.importorskip("networkx")

    def networkx_flow(edges, source, sink):
        graph = nx.DiGraph()
        for (u, v), capacity in edges.items():
            graph.add_edge(u, v, capacity=capacity)
        return nx.maximum_flow_value(graph, source, sink)

    attentions = [_rows((2, 3, 9, 9), seed=20 + layer) for layer in range(4)]
    expected = _reference_flows(attentions, solver=networkx_flow)
    torch.testing.assert_close(attention_flow(attentions, full=True), expected, atol=1e-5, rtol=0)


def test_coarse_scale_stays_within_the_documented_error():
    attentions = [_rows((1, 2, 6, 6), seed=30 + layer) for layer in range(3)]
    expected = _reference_flows(attentions)
    scale = 2**10
    edges = 2 * 6 * 6 + 6  # every edge of the graph; a minimum cut uses at most these
    error = (attention_flow(attentions, full=True, scale=scale) - expected).abs().max()
    assert error <= edges / (2 * scale)


# --------------------------------------------------------------------------- bounds
def test_bounds_on_a_model(tiny_vit):
    model = tiny_vit(depth=3, weight_init="jax").eval()
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        attentions = model(images, return_attention=True)[1]
    flow = attention_flow(attentions, full=True).double()
    rollout = attention_rollout([a.double() for a in attentions])[:, 0]  # (B, T)
    source_cut = _a_hat(attentions[0].double()).sum(dim=1)  # (B, T): capacity out of each input node
    assert (flow >= rollout - 1e-5).all()  # rollout is one feasible flow
    assert (flow <= source_cut.clamp(max=1.0) + 1e-5).all()  # the source's edges and the sink's edges are cuts
    assert (flow >= 0).all()


def test_residual_attention_is_rollouts_factor():
    attentions = [_rows((2, 3, 5, 5), seed=40 + layer) for layer in range(2)]
    for fusion in ("mean", "max", "min"):
        a_hat = residual_attention(attentions, fusion)
        assert a_hat.shape == (2, 2, 5, 5)
        for layer, attention in enumerate(attentions):
            torch.testing.assert_close(a_hat[layer], attention_rollout([attention], fusion), atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- shapes, dtypes, model helper
def test_shapes_and_dtype():
    attentions = [_rows((4, 2, 10, 10), seed=50 + layer).float() for layer in range(2)]
    flow = attention_flow(attentions)
    assert flow.shape == (4, 9)
    assert flow.dtype == torch.float32
    assert attention_flow(attentions, full=True).shape == (4, 10)
    assert ((flow >= 0) & (flow <= 1 + 1e-6)).all()


def test_model_helper_equals_attentions_path_and_restores_mode(tiny_vit):
    model = tiny_vit(attention_dropout=0.3, dropout=0.3).train()
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    flow = attention_flow_map(model, images)
    assert model.training
    with torch.no_grad():
        attentions = model.eval()(images, return_attention=True)[1]
    torch.testing.assert_close(flow, attention_flow(attentions))


# --------------------------------------------------------------------------- bad input
def test_bad_input_gives_clear_errors():
    attentions = [_rows((1, 2, 5, 5), seed=60 + layer) for layer in range(2)]
    with pytest.raises(TypeError, match="list of per-layer"):
        attention_flow(attentions[0])
    with pytest.raises(ValueError, match="empty"):
        attention_flow([])
    with pytest.raises(ValueError, match=r"\(B, heads, T, T\)"):
        attention_flow([torch.ones(5, 5)])
    with pytest.raises(ValueError, match="head_fusion"):
        attention_flow(attentions, head_fusion="median")
    with pytest.raises(ValueError, match="query_index"):
        attention_flow(attentions, query_index=5)
    with pytest.raises(TypeError, match="query_index"):
        attention_flow(attentions, query_index=0.0)
    with pytest.raises(TypeError, match="full"):
        attention_flow(attentions, full="yes")
    with pytest.raises(ValueError, match="scale"):
        attention_flow(attentions, scale=2**30)
    with pytest.raises(ValueError, match="scale"):
        attention_flow(attentions, scale=0)
    with pytest.raises(ValueError, match="non-negative"):
        attention_flow([attentions[0], -attentions[1]])
    with pytest.raises(ValueError, match="finite"):
        attention_flow([attentions[0], attentions[1] * float("nan")])
    assert DEFAULT_SCALE * 65 < 2**31  # the course models' T fits the default scale
