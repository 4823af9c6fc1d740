"""trace_forward keeps every stage of one image's forward pass: checked against the model's own outputs,
a convolution written here, the residual identity of Eq. 2-3 and the other analysis modules."""

import pytest
import torch
import torch.nn.functional as F

from vit_edu.analysis.attention_flow import attention_flow_map
from vit_edu.analysis.attention_maps import class_token_map, cls_attention, gradient_weighted_attention
from vit_edu.analysis.forward_trace import MAP_KINDS, explanation_maps, trace_forward
from vit_edu.analysis.logit_lens import logit_lens


@pytest.fixture
def model_and_image(tiny_vit):
    model = tiny_vit(weight_init="timm")
    with torch.no_grad():  # a fresh head is small: give every parameter a visible value
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(1)))
    return model.eval(), torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2))


def test_the_trace_ends_in_the_models_output(model_and_image):
    model, image = model_and_image
    trace = trace_forward(model, image)
    logits, attentions = model(image[None], return_attention=True)
    torch.testing.assert_close(trace.logits, logits[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(trace.probabilities, logits[0].softmax(-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(trace.attentions, torch.stack([a[0] for a in attentions]), atol=1e-6, rtol=0)
    torch.testing.assert_close(trace.normed, model.forward_features(image[None])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(trace.stream[0], model.embed(image[None])[0], atol=1e-6, rtol=0)


def test_every_block_adds_its_attention_and_its_mlp_to_the_stream(model_and_image):
    trace = trace_forward(*model_and_image)
    assert trace.stream.shape == (trace.num_layers + 1, trace.seq_len, 32)
    for layer in range(trace.num_layers):
        torch.testing.assert_close(trace.stream[layer + 1],
                                   trace.stream[layer] + trace.attention_out[layer] + trace.mlp_out[layer])
    assert torch.allclose(trace.stream_norms(), trace.stream.norm(dim=-1))


def test_patches_and_their_embedding_equal_a_strided_convolution(model_and_image):
    model, image = model_and_image
    trace = trace_forward(model, image)
    P = 4
    assert trace.patches.shape == (16, P * P * 3)
    assert torch.equal(trace.patches[5], image[:, 4:8, 4:8].permute(1, 2, 0).reshape(-1))  # patch (1, 1), (p1 p2 c)
    conv = model.patch_embed.proj
    expected = F.conv2d(image[None], conv.weight, conv.bias, stride=P).flatten(2).transpose(1, 2)[0]  # (N, D)
    torch.testing.assert_close(trace.patch_embeddings, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(trace.stream[0, 0], trace.class_token + trace.positions[0], atol=1e-6, rtol=0)


def test_the_lens_agrees_with_the_logit_lens_module(model_and_image):
    model, image = model_and_image
    trace = trace_forward(model, image)
    torch.testing.assert_close(trace.lens, logit_lens(model, image[None])[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(trace.lens[-1, 0], trace.logits, atol=1e-5, rtol=0)
    assert torch.allclose(trace.lens_probabilities(0).sum(-1), torch.ones(trace.num_layers))


def test_the_model_keeps_its_mode(model_and_image):
    model, image = model_and_image
    model.train()
    trace_forward(model, image)
    assert model.training


def test_maps_of_every_method_equal_the_analysis_functions(model_and_image):
    model, image = model_and_image
    maps = explanation_maps(model, image)
    assert set(maps) == set(MAP_KINDS)
    _, attentions = model(image[None], return_attention=True)
    for layer in range(len(attentions)):
        torch.testing.assert_close(maps["raw"][layer], cls_attention(attentions, layer, "mean")[0])
    for c in range(5):  # one gradient-weighted map per class asked about
        expected = class_token_map(gradient_weighted_attention(model, image[None], c))[0]
        torch.testing.assert_close(maps["gradient"][c], expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(maps["flow"], attention_flow_map(model, image[None])[0].float(), atol=1e-6, rtol=0)
    assert maps["rollout"].shape == (16,)


def test_bad_input_is_refused_clearly(tiny_vit):
    model = tiny_vit()
    with pytest.raises(ValueError, match="one \\(C, H, W\\)"):
        trace_forward(model, torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="pool='cls'"):
        trace_forward(tiny_vit(pool="mean"), torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="no head"):
        trace_forward(tiny_vit(num_classes=0), torch.rand(3, 16, 16))
    with pytest.raises(TypeError, match="vit_edu ViT"):
        trace_forward(torch.nn.Linear(3, 3), torch.rand(3, 16, 16))
