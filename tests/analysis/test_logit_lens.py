"""The logit lens against the model's own output and an independent read-out through forward hooks."""

from __future__ import annotations

import pytest
import torch

from vit_edu import ViT
from vit_edu.analysis.logit_lens import commit_layer, lens_predictions, logit_lens, pooled_lens


def _images(model: ViT, batch: int = 3, seed: int = 1) -> torch.Tensor:
    channels, (height, width) = model.config.channels, model.config.image_size
    return torch.rand(batch, channels, height, width, generator=torch.Generator().manual_seed(seed))


def _hooked_streams(model: ViT, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """z_0 (the first block's input) and z_1..z_L (each block's output) captured by hooks during model(images)."""
    captured: list[torch.Tensor] = []
    first: list[torch.Tensor] = []
    handles = [model.blocks[0].register_forward_pre_hook(lambda module, args: first.append(args[0].detach()))]
    handles += [block.register_forward_hook(lambda module, args, out: captured.append(out.detach()))
                for block in model.blocks]
    try:
        with torch.no_grad():
            logits = model(images)
    finally:
        for handle in handles:
            handle.remove()
    return first[0], captured, logits


# --------------------------------------------------------------------------- the last layer is the model
def test_last_layer_class_token_row_is_the_model_output(tiny_vit):
    model = tiny_vit().eval()
    images = _images(model)
    lens = logit_lens(model, images)
    with torch.no_grad():
        expected = model(images)
    assert (lens[-1, :, 0] - expected).abs().max() <= 1e-5
    assert torch.equal(lens_predictions(lens)[-1], expected.argmax(-1))


def test_mean_pool_model_is_the_mean_of_the_patch_rows(tiny_vit):
    model = tiny_vit(pool="mean").eval()
    images = _images(model)
    lens = logit_lens(model, images)
    with torch.no_grad():
        expected = model(images)
    assert (pooled_lens(lens, "mean")[-1] - expected).abs().max() <= 1e-5
    # the class token is not what a mean-pool model reads: its row is a different read-out
    assert (lens[-1, :, 0] - expected).abs().max() > 1e-3
    assert torch.equal(lens_predictions(lens, "mean")[-1], expected.argmax(-1))


def test_course_shapes_model_last_layer_matches():
    from vit_edu.training.recipes import course_shapes, load_course_model

    model = load_course_model("shapes")
    images = course_shapes(8, seed=101).images
    lens = logit_lens(model, images)
    with torch.no_grad():
        expected = model(images)
    assert lens.shape == (4, 8, 65, 4)
    assert (lens[-1, :, 0] - expected).abs().max() <= 1e-5


# --------------------------------------------------------------------------- independent re-implementation
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_every_layer_matches_a_forward_hook_readout(tiny_vit, pool):
    model = tiny_vit(depth=3, pool=pool).eval()
    images = _images(model, batch=2)
    z0, streams, logits = _hooked_streams(model, images)
    assert len(streams) == 3
    with torch.no_grad():
        expected = torch.stack([model.head(model.norm(z)) for z in [z0, *streams]])  # (L + 1, B, T, K)
    lens = logit_lens(model, images, include_embeddings=True)
    assert lens.shape == expected.shape
    torch.testing.assert_close(lens, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(logit_lens(model, images), expected[1:], atol=1e-6, rtol=0)
    # and the hooks' own last layer, pooled as the model pools, is the model's output
    pooled = expected[-1, :, 0] if pool == "cls" else expected[-1, :, 1:].mean(dim=1)
    torch.testing.assert_close(pooled, logits, atol=1e-5, rtol=0)


def test_every_token_of_the_last_layer_matches_forward_features(tiny_vit):
    model = tiny_vit().eval()
    images = _images(model)
    with torch.no_grad():
        expected = model.head(model.forward_features(images))  # (B, T, K)
    torch.testing.assert_close(logit_lens(model, images)[-1], expected, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- mode, gradients, shapes
def test_eval_mode_no_gradient_and_mode_restored(tiny_vit):
    model = tiny_vit(dropout=0.5, attention_dropout=0.5, emb_dropout=0.5).train()
    images = _images(model)
    lens = logit_lens(model, images)
    assert model.training
    assert not lens.requires_grad
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        expected = model.eval()(images)
    assert (lens[-1, :, 0] - expected).abs().max() <= 1e-5
    model.eval()
    logit_lens(model, images)
    assert not model.training


def test_shapes(tiny_vit):
    model = tiny_vit(depth=3, num_classes=7)
    images = _images(model, batch=4)
    lens = logit_lens(model, images)
    tokens = model.config.seq_len
    assert lens.shape == (3, 4, tokens, 7)
    assert logit_lens(model, images, include_embeddings=True).shape == (4, 4, tokens, 7)
    assert pooled_lens(lens).shape == (3, 4, 7)
    assert lens_predictions(lens).shape == (3, 4)
    assert lens_predictions(lens).dtype == torch.int64
    assert commit_layer(lens_predictions(lens)).shape == (4,)


# --------------------------------------------------------------------------- commit_layer
def _commit_reference(predictions: list[list[int]]) -> list[int]:
    """Brute force: the smallest l such that every layer from l on predicts the final class."""
    num_layers = len(predictions)
    out = []
    for image in range(len(predictions[0])):
        column = [predictions[layer][image] for layer in range(num_layers)]
        out.append(min(layer for layer in range(num_layers) if all(c == column[-1] for c in column[layer:])))
    return out


def test_commit_layer_by_hand():
    predictions = torch.tensor([[1, 2, 2, 0],
                                [2, 2, 1, 0],
                                [1, 2, 2, 3],
                                [2, 2, 2, 3]])  # (L=4, B=4)
    assert commit_layer(predictions).tolist() == [3, 0, 2, 2]


def test_commit_layer_matches_brute_force():
    generator = torch.Generator().manual_seed(3)
    predictions = torch.randint(0, 3, (6, 50), generator=generator)
    assert commit_layer(predictions).tolist() == _commit_reference(predictions.tolist())


def test_commit_layer_on_a_real_lens(tiny_vit):
    model = tiny_vit(depth=4).eval()
    predictions = lens_predictions(logit_lens(model, _images(model, batch=6)))
    assert commit_layer(predictions).tolist() == _commit_reference(predictions.tolist())


# --------------------------------------------------------------------------- bad input
def test_bad_input_gives_clear_errors(tiny_vit):
    model = tiny_vit()
    images = _images(model)
    with pytest.raises(TypeError, match="vit_edu ViT"):
        logit_lens(torch.nn.Linear(3, 3), images)
    with pytest.raises(ValueError, match="num_classes"):
        logit_lens(tiny_vit(num_classes=0), images)
    with pytest.raises(ValueError, match="4-D"):
        logit_lens(model, images[0])
    with pytest.raises(ValueError, match="image_size"):
        logit_lens(model, torch.rand(1, 3, 8, 8))
    with pytest.raises(TypeError, match="include_embeddings"):
        logit_lens(model, images, include_embeddings=1)
    lens = logit_lens(model, images)
    with pytest.raises(ValueError, match="pool"):
        pooled_lens(lens, "max")
    with pytest.raises(ValueError, match=r"\(L, B, N \+ 1, K\)"):
        lens_predictions(lens[0])
    with pytest.raises(ValueError, match=r"integer tensor \(L, B\)"):
        commit_layer(lens[:, :, 0, 0])
    with pytest.raises(ValueError, match="no layers"):
        commit_layer(torch.zeros(0, 3, dtype=torch.long))


def test_extra_tokens_are_refused(tiny_vit):
    class WithRegister(ViT):
        """A ViT that appends one register token: the lens would mislabel its rows."""

        def embed(self, images):
            tokens = super().embed(images)
            return torch.cat([tokens, tokens[:, :1]], dim=1)

    model = WithRegister(image_size=16, patch_size=4, num_classes=5, dim=32, depth=2, heads=4, mlp_dim=64, seed=0)
    with pytest.raises(ValueError, match="register"):
        logit_lens(model, _images(model))
    assert model.training  # restored even after the error
