"""The full model: the vit-pytorch API, shapes, pooling, attention output, reference equivalence."""

import dataclasses
import math

import pytest
import torch

from vit_edu import ViT, ViTConfig, preset
from vit_edu.checkpoints.layouts import to_transformers


@pytest.mark.slow
def test_vit_pytorch_readme_example():
    v = ViT(image_size=256, patch_size=32, num_classes=1000, dim=1024, depth=6, heads=16,
            mlp_dim=2048, dropout=0.1, emb_dropout=0.1)
    img = torch.randn(1, 3, 256, 256)
    preds = v(img)
    assert preds.shape == (1, 1000)
    assert v.num_parameters() == 54_640_616


def test_forward_features_pool_and_head_shapes(tiny_vit):
    model = tiny_vit().eval()
    images = torch.randn(3, 3, 16, 16)
    tokens = model.forward_features(images)
    assert tokens.shape == (3, 17, 32)  # T = N + 1 = 16 + 1
    pooled = model.pool(tokens)
    assert pooled.shape == (3, 32)
    torch.testing.assert_close(model.forward_head(pooled), model(images))


def test_mean_pool_averages_patch_tokens_only(tiny_vit):
    model = tiny_vit(pool="mean").eval()
    images = torch.randn(2, 3, 16, 16)
    tokens = model.forward_features(images)
    torch.testing.assert_close(model.pool(tokens), tokens[:, 1:].mean(1))
    assert not torch.allclose(model.pool(tokens), tokens.mean(1))
    assert model.cls_token.shape == (1, 1, 32)  # the class token stays in the sequence


def test_num_classes_zero_returns_features(tiny_vit):
    model = tiny_vit(num_classes=0).eval()
    out = model(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 32)
    assert isinstance(model.head, torch.nn.Identity)


def test_non_square_images_and_patches(tiny_vit):
    model = tiny_vit(image_size=(16, 24), patch_size=(4, 8)).eval()
    assert model.config.grid_size == (4, 3)
    logits, attentions = model(torch.randn(2, 3, 16, 24), return_attention=True)
    assert logits.shape == (2, 5)
    assert len(attentions) == 2 and attentions[0].shape == (2, 4, 13, 13)


def test_return_attention_matches_fused_and_keeps_graph(tiny_vit):
    model = tiny_vit().eval()
    images = torch.randn(2, 3, 16, 16)
    fused = model(images)
    logits, attentions = model(images, return_attention=True)
    assert (fused - logits).abs().max() <= 1e-5
    assert all(a.requires_grad and a.grad_fn is not None for a in attentions)
    grad = torch.autograd.grad(logits[:, 0].sum(), attentions[-1])[0]
    assert grad.shape == attentions[-1].shape and grad.abs().sum() > 0
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(2, 4, 17))


def test_dim_head_overrides_dim_over_heads():
    model = ViT(image_size=16, patch_size=4, num_classes=3, dim=48, depth=1, heads=8, mlp_dim=32, dim_head=64)
    assert model.blocks[0].attn.qkv.weight.shape == (3 * 8 * 64, 48)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 3)


def test_seed_makes_init_reproducible_and_independent_of_global_rng(tiny_vit):
    a = tiny_vit(seed=3)
    torch.manual_seed(123)
    b = tiny_vit(seed=3)
    c = tiny_vit(seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.pos_embed, c.pos_embed)


def test_init_scheme():
    model = ViT.from_config(preset("Ti/16", depth=1), seed=0)
    weight = model.blocks[0].mlp.fc1.weight
    assert abs(weight.std().item() - 0.02 * 0.88) < 0.002  # std of N(0, 0.02) truncated at 2 sigma
    assert weight.abs().max() <= 0.04 + 1e-7
    # quantiles equal those of scipy's truncated normal (an independent reference)
    from scipy.stats import truncnorm

    probs = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.float64)
    expected = torch.tensor(truncnorm.ppf(probs.numpy(), -2, 2, scale=0.02))
    torch.testing.assert_close(torch.quantile(weight.double().flatten(), probs), expected, atol=5e-4, rtol=0)
    assert torch.count_nonzero(model.blocks[0].attn.qkv.bias) == 0
    assert torch.equal(model.norm.weight, torch.ones(192))


def test_jax_init_scheme_follows_the_papers_code():
    model = ViT.from_config(preset("Ti/16", depth=1), seed=0, weight_init="jax")
    D, M = 192, 768
    # Xavier-uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); std a / sqrt(3). qkv = three D x D matrices.
    for weight, fan_in, fan_out in ((model.blocks[0].mlp.fc1.weight, D, M), (model.blocks[0].attn.qkv.weight, D, D),
                                    (model.blocks[0].attn.proj.weight, D, D)):
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert weight.abs().max() <= bound and weight.abs().max() > 0.99 * bound
        assert abs(weight.std().item() - bound / math.sqrt(3)) < 0.02 * bound
    # LeCun normal on the patch kernel: the truncated distribution's std is 1 / sqrt(fan_in)
    kernel = model.patch_embed.proj.weight  # (D, 3, 16, 16)
    fan_in = 3 * 16 * 16
    assert abs(kernel.std().item() * math.sqrt(fan_in) - 1.0) < 0.02
    from scipy.stats import truncnorm

    scale = 1 / math.sqrt(fan_in) / truncnorm.std(-2, 2)
    assert kernel.abs().max() <= 2 * scale + 1e-6
    assert torch.count_nonzero(model.head.weight) == 0 and torch.count_nonzero(model.head.bias) == 0
    assert torch.count_nonzero(model.cls_token) == 0
    assert abs(model.pos_embed.std().item() - 0.02) < 0.002
    assert torch.count_nonzero(model.blocks[0].mlp.fc1.bias) == 0
    again = ViT.from_config(preset("Ti/16", depth=1), seed=0, weight_init="jax")
    assert all(torch.equal(x, y) for x, y in zip(model.state_dict().values(), again.state_dict().values()))


def test_jax_init_treats_both_patch_embedding_forms_alike():
    kwargs = dict(image_size=16, patch_size=4, num_classes=2, dim=64, depth=1, heads=2, mlp_dim=32, seed=0,
                  weight_init="jax")
    linear = ViT(**kwargs, patch_embedding="linear").patch_embed.proj.weight
    assert abs(linear.std().item() * math.sqrt(48) - 1.0) < 0.05  # LeCun, not Xavier (sqrt(2 / 112) * sqrt(48) = 0.93)


def test_unknown_init_scheme_is_rejected():
    with pytest.raises(ValueError, match="weight_init"):
        ViT(image_size=16, patch_size=4, num_classes=2, dim=8, depth=1, heads=2, mlp_dim=8, weight_init="xavier")


def test_from_config_roundtrip():
    cfg = ViTConfig(image_size=32, patch_size=8, num_classes=2, dim=16, depth=1, heads=2, mlp_dim=8, pool="mean")
    assert ViT.from_config(cfg).config == cfg
    with pytest.raises(TypeError, match="ViTConfig"):
        ViT.from_config({"dim": 16})


def test_config_is_the_one_list_of_hyper_parameters():
    """Every ViTConfig field is a ViT keyword, and a config plus keywords changes just those fields."""
    cfg = ViTConfig(image_size=32, patch_size=8, num_classes=2, dim=16, depth=1, heads=2, mlp_dim=8,
                    patch_embedding="linear", weight_init="jax")
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(ViTConfig)}
    assert ViT(**fields).config == cfg == ViT(cfg).config
    changed = ViT(cfg, num_classes=5, seed=0)
    assert changed.config == cfg.replace(num_classes=5) and changed.head.out_features == 5
    assert isinstance(changed.patch_embed.proj, torch.nn.Linear)  # patch_embedding travels in the config
    assert float(changed.head.weight.abs().sum()) == 0.0  # the paper's init zeroes the head
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['hidden_dim'\].*mlp_dim"):
        ViT(cfg, hidden_dim=8)
    with pytest.raises(TypeError, match="ViTConfig or keyword arguments"):
        ViT()
    with pytest.raises(ValueError, match="patch_embedding must be one of"):
        cfg.replace(patch_embedding="mlp")


def test_resample_position_embeddings_method_changes_image_size(tiny_vit):
    model = tiny_vit().eval()
    old = model.pos_embed.detach().clone()
    model.resample_position_embeddings(24)
    assert model.config.image_size == (24, 24) and model.pos_embed.shape == (1, 37, 32)
    assert torch.equal(model.pos_embed[:, 0], old[:, 0])
    assert model(torch.randn(1, 3, 24, 24)).shape == (1, 5)


def test_training_mode_dropout_changes_output_eval_does_not(tiny_vit):
    model = tiny_vit(dropout=0.5, emb_dropout=0.5, attention_dropout=0.5)
    images = torch.randn(2, 3, 16, 16)
    model.train()
    assert not torch.allclose(model(images), model(images))
    model.eval()
    torch.testing.assert_close(model(images), model(images))


# ---------------------------------------------------------------- reference: transformers
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(image_size=32, patch_size=8, num_classes=10, dim=64, depth=3, heads=4, mlp_dim=128),
        dict(image_size=(32, 48), patch_size=(8, 16), num_classes=7, dim=48, depth=2, heads=3, mlp_dim=96,
             channels=1),
        dict(image_size=224, patch_size=16, num_classes=1000, dim=192, depth=2, heads=3, mlp_dim=768),
    ],
)
def test_logits_equal_transformers_vit_with_copied_weights(kwargs):
    model = ViT(**kwargs, seed=1).eval()
    # make biases and norms non-trivial so a wrong mapping cannot hide behind zeros and ones
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(0.1 * torch.randn_like(param))
    reference = to_transformers(model)
    assert reference.config.layer_norm_eps == 1e-6
    images = torch.randn(2, model.config.channels, *model.config.image_size)
    with torch.no_grad():
        ours, expected = model(images), reference(images).logits
    assert ours.shape == expected.shape
    assert (ours - expected).abs().max().item() <= 1e-4


def test_hidden_states_equal_transformers_per_layer(tiny_vit):
    model = tiny_vit(image_size=32, patch_size=8).eval()
    reference = to_transformers(model)
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        hf = reference.vit(images, output_hidden_states=True)
        x = model.embed(images)
        torch.testing.assert_close(x, hf.hidden_states[0], atol=1e-5, rtol=1e-5)
        for block, expected in zip(model.blocks, hf.hidden_states[1:]):
            x = block(x)
            torch.testing.assert_close(x, expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.norm(x), hf.last_hidden_state, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("return_attention", [False, True])
def test_forward_hooks_see_every_block_and_attention_on_both_paths(tiny_vit, return_attention):
    """The encoder calls its blocks and their attention through __call__, so hooks (shape traces,
    feature extraction) fire whether or not attention weights are asked for."""
    model = tiny_vit(depth=3).eval()
    seen = []
    watched = {f"blocks.{i}{part}" for i in range(3) for part in (".attn", "")}
    for name, module in model.named_modules():
        if name in watched:
            module.register_forward_hook(lambda m, args, out, name=name: seen.append(name))
    model(torch.randn(2, 3, 16, 16), return_attention=return_attention)
    assert seen == [f"blocks.{i}{part}" for i in range(3) for part in (".attn", "")]
