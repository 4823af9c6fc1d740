"""Regression tests for the classic silent failures of attention tools, against vit_edu's own code.

(a) Asking a fused-attention model for its weights must give real weights (the manual path),
    never ``None`` or an empty list.
(b) Rollout must multiply the layers in the right order: later layers on the left.
(c) Maps must come from the attention matrix of the eval-mode model, not from a forward pass
    with dropout active.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vit_edu import ViT
from vit_edu.analysis.attention_flow import attention_flow_map
from vit_edu.analysis.attention_maps import attention_rollout, class_token_map, gradient_weighted_attention
from vit_edu.analysis.localisation import explanation_maps
from vit_edu.analysis.logit_lens import logit_lens
from vit_edu.analysis.sanity import cascading_randomisation, default_methods, eval_attentions
from vit_edu.attention import MultiHeadSelfAttention, attention


def _images(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def _rows(shape, seed: int) -> torch.Tensor:
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) ** 2 + 0.01
    return x / x.sum(dim=-1, keepdim=True)


class _CountingSDPA:
    """Stands in for F.scaled_dot_product_attention inside vit_edu.attention and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.original = F.scaled_dot_product_attention

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.original(*args, **kwargs)


# --------------------------------------------------------------------------- (a) fused path
def test_weights_from_a_fused_model_are_real_tensors(tiny_vit):
    model = tiny_vit(depth=3).eval()
    assert all(block.attn.fused_attn for block in model.blocks)  # the model would use the fused kernel
    images = _images(4)
    logits, attentions = model(images, return_attention=True)
    assert isinstance(attentions, list)
    assert len(attentions) == 3
    tokens = model.config.seq_len
    for weights in attentions:
        assert isinstance(weights, torch.Tensor)
        assert weights.shape == (4, 4, tokens, tokens)
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(4, 4, tokens), atol=1e-5, rtol=0)
        assert (weights >= 0).all()
    with torch.no_grad():
        torch.testing.assert_close(logits, model(images), atol=1e-5, rtol=0)  # same model on the fused path
    _, feature_attentions = model.forward_features(images, return_attention=True)
    assert len(feature_attentions) == 3 and all(a.shape == (4, 4, tokens, tokens) for a in feature_attentions)


def test_weights_request_routes_around_the_fused_kernel(tiny_vit, monkeypatch):
    model = tiny_vit(depth=2).eval()
    counter = _CountingSDPA()
    monkeypatch.setattr(F, "scaled_dot_product_attention", counter)  # vit_edu.attention calls F.<name>
    with torch.no_grad():
        model(_images())
        assert counter.calls == 2  # the fused path is really taken without a request for weights
        counter.calls = 0
        _, attentions = model(_images(), return_attention=True)
    assert counter.calls == 0
    assert all(isinstance(a, torch.Tensor) for a in attentions)


def test_returned_weights_equal_a_softmax_written_out(tiny_vit):
    """A = softmax(q k^T / sqrt(D_h)) from each block's LN(x) and its qkv weights, computed here."""
    model = tiny_vit(depth=2, weight_init="jax").eval()
    images = _images(3)
    inputs: list[torch.Tensor] = []
    handles = [block.attn.register_forward_pre_hook(lambda module, args, kwargs: inputs.append(args[0].detach()),
                                                    with_kwargs=True) for block in model.blocks]
    try:
        with torch.no_grad():
            _, attentions = model(images, return_attention=True)
    finally:
        for handle in handles:
            handle.remove()
    heads, head_dim = model.config.heads, model.config.head_dim
    for block, x, weights in zip(model.blocks, inputs, attentions):
        qkv = x @ block.attn.qkv.weight.T + block.attn.qkv.bias  # (B, T, 3 k D_h)
        q, k, _ = qkv.reshape(x.shape[0], x.shape[1], 3, heads, head_dim).permute(2, 0, 3, 1, 4)  # (B, k, T, D_h)
        expected = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim), dim=-1)
        torch.testing.assert_close(weights, expected, atol=1e-5, rtol=0)


def test_module_level_request_returns_weights_on_both_settings():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16)
    for fused in (True, False):
        layer = MultiHeadSelfAttention(16, heads=2, head_dim=8).eval()
        layer.fused_attn = fused
        out, weights = layer(x, return_attention=True)
        assert weights is not None and weights.shape == (2, 2, 5, 5)
        plain = layer(x)
        assert isinstance(plain, torch.Tensor)  # no tuple, no None when weights are not asked for
        torch.testing.assert_close(out, plain, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- (b) rollout order
def _a_hat(attention: torch.Tensor) -> torch.Tensor:
    fused = attention.mean(dim=1)  # (B, T, T)
    with_residual = fused + torch.eye(fused.shape[-1], dtype=fused.dtype)
    return with_residual / with_residual.sum(dim=-1, keepdim=True)


def test_rollout_multiplies_later_layers_on_the_left():
    layers = [_rows((2, 3, 6, 6), seed=s) for s in (1, 2, 3)]
    a1, a2, a3 = (_a_hat(a) for a in layers)
    assert not torch.allclose(a2 @ a1, a1 @ a2)  # a case where the order matters
    correct = a3 @ a2 @ a1  # R_3 = A_hat_3 A_hat_2 A_hat_1: what the output draws on, through the layers
    wrong = a1 @ a2 @ a3
    rollout = attention_rollout(layers)
    torch.testing.assert_close(rollout, correct, atol=1e-12, rtol=0)
    assert (rollout - wrong).abs().max() > 1e-3
    reversed_rollout = attention_rollout(layers[::-1])
    assert (class_token_map(reversed_rollout) - class_token_map(rollout)).abs().max() > 1e-3


def test_rollout_order_on_a_hand_made_two_token_case():
    # layer 1: the class token copies patch 1; layer 2: everyone keeps itself. Order matters for row 0.
    copy = torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)[None, None]
    keep = torch.eye(2, dtype=torch.float64)[None, None]
    # A_hat(copy) = [[0.5, 0.5], [0, 1]], A_hat(keep) = I; both orders give the same here...
    torch.testing.assert_close(attention_rollout([copy, keep]), attention_rollout([keep, copy]))
    # ...but not with a layer that swaps the two tokens: A_hat(swap) = [[0.5, 0.5], [0.5, 0.5]]
    swap = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)[None, None]
    # [[.5, .5], [.5, .5]] @ [[.5, .5], [0, 1]] = [[.25, .75], [.25, .75]]
    torch.testing.assert_close(attention_rollout([copy, swap])[0],
                               torch.tensor([[0.25, 0.75], [0.25, 0.75]], dtype=torch.float64))
    # [[.5, .5], [0, 1]] @ [[.5, .5], [.5, .5]] = [[.5, .5], [.5, .5]]
    torch.testing.assert_close(attention_rollout([swap, copy])[0], torch.full((2, 2), 0.5, dtype=torch.float64))


# --------------------------------------------------------------------------- (c) dropout and eval mode
def test_attention_returns_the_matrix_not_the_dropout_output():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 4, generator=generator) for _ in range(3))
    torch.manual_seed(0)
    out, weights = attention(q, k, v, dropout_p=0.5, training=True)
    expected = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)
    assert (out - weights @ v).abs().max() > 1e-3  # dropout did act on the output, not on the returned A


def _dropout_model() -> ViT:
    """Dropout everywhere, in train mode; a non-zero head (the jax init's is zero) so that logits and
    gradients depend on the stream."""
    model = ViT(image_size=16, patch_size=4, num_classes=5, dim=32, depth=3, heads=4, mlp_dim=64, seed=0,
                dropout=0.3, attention_dropout=0.5, emb_dropout=0.3, weight_init="jax").train()
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(0))
    return model


def test_a_raw_train_mode_call_does_change_later_weights():
    """Why (c) matters: in train mode dropout changes the stream, so layer 2's A differs from eval mode."""
    model = _dropout_model()
    torch.manual_seed(0)
    with torch.no_grad():
        train_weights = model(_images(), return_attention=True)[1]
        eval_weights = model.eval()(_images(), return_attention=True)[1]
    assert (train_weights[-1] - eval_weights[-1]).abs().max() > 1e-3


def _eval_reference(function, *args):
    model = _dropout_model().eval()
    return function(model, *args)


@pytest.mark.parametrize("name", ["gradient_weighted", "flow", "logit_lens", "eval_attentions", "explanation_maps"])
def test_explanations_use_eval_mode_and_restore_train_mode(name):
    functions = {
        "gradient_weighted": gradient_weighted_attention,
        "flow": attention_flow_map,
        "logit_lens": logit_lens,
        "eval_attentions": lambda model, images: torch.stack(eval_attentions(model, images)),
        "explanation_maps": lambda model, images: torch.stack(list(explanation_maps(model, images).values())),
    }
    function = functions[name]
    images = _images()
    expected = _eval_reference(function, images)
    model = _dropout_model()
    torch.manual_seed(1)
    got = function(model, images)
    assert model.training  # the caller's mode is restored
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_sanity_methods_and_cascade_use_eval_mode():
    images = _images()
    eval_model = _dropout_model().eval()
    train_model = _dropout_model()
    torch.manual_seed(2)
    for name, method in default_methods().items():
        torch.testing.assert_close(method(train_model, images), method(eval_model, images), atol=1e-6, rtol=0,
                                   msg=lambda text, name=name: f"{name}: {text}")
        assert train_model.training
    methods = {"last": lambda model, x: eval_attentions(model, x)[-1][:, :, 0, 1:].mean(dim=1)}
    assert cascading_randomisation(train_model, images, methods) == cascading_randomisation(eval_model, images,
                                                                                            methods)
    assert train_model.training
