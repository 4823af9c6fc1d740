"""The hybrid ViT (paper §3.1): 1 x 1 patches of a conv stem's feature map, checked against hand computations."""

import pytest
import torch

from vit_edu.counting import count_parameters
from vit_edu.training.cnn import cnn_num_parameters
from vit_edu.training.hybrid import HybridViT

VIT = dict(image_size=16, patch_size=4, channels=3, num_classes=5, dim=24, depth=2, heads=2, mlp_dim=48)


def _hybrid(**changes):
    return HybridViT({**VIT, **changes.pop("vit", {})}, **{"stride": 4, "stem_width": 6, "seed": 0, **changes}).eval()


def test_a_token_is_the_patch_embedding_of_one_feature_map_cell():
    hybrid = _hybrid()
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        features = hybrid.features(images)                                  # (2, 6, 4, 4)
        tokens = hybrid.transformer.embed(features)                         # (2, 1 + 16, 24)
    # by hand: cell (r, c) -> W f[:, r, c] + b + E_pos[1 + 4 r + c]
    weight = hybrid.transformer.patch_embed.proj.weight.reshape(24, 6)
    bias = hybrid.transformer.patch_embed.proj.bias
    cells = features.flatten(2).transpose(1, 2)                              # (2, 16, 6), row-major
    expected = cells @ weight.T + bias + hybrid.transformer.pos_embed[:, 1:]
    assert features.shape == (2, 6, 4, 4)
    assert torch.allclose(tokens[:, 1:], expected, atol=1e-5)


def test_as_many_tokens_as_the_vit_whose_patch_size_is_the_stride():
    for stride in (1, 2, 4):
        hybrid = _hybrid(stride=stride)
        assert hybrid.config.num_patches == (16 // stride) ** 2
        assert hybrid.config.patch_size == (1, 1) and hybrid.config.channels == 6
        assert hybrid(torch.rand(3, 3, 16, 16)).shape == (3, 5)


def test_a_token_sees_only_the_receptive_field_of_its_cell():
    # stride 4: conv, pool, conv, pool, conv (3 x 3, padding 1). Backwards from cell 0 of the last map:
    # last conv: cells -1..1 of its input (stride 4); pool: -2..3 (stride 2); conv: -3..4; pool: pixels
    # -6..9; first conv: pixels -7..10. So pixels 0..10 of the image, nothing beyond.
    hybrid = _hybrid()
    images = torch.rand(1, 3, 16, 16, requires_grad=True)
    features = hybrid.features(images)
    features[0, :, 0, 0].sum().backward()
    touched = images.grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = touched.nonzero().unbind(1)
    assert rows.max().item() == 10 and cols.max().item() == 10
    assert not touched[11:].any() and not touched[:, 11:].any()


def test_parameters_are_the_stem_plus_the_transformer():
    hybrid = _hybrid()
    # stem = SmallCNN(depth 3, width 6) without its head (c K + K with K = 1)
    stem = cnn_num_parameters(channels=3, num_classes=1, width=6, depth=3) - (6 + 1)
    transformer = count_parameters(hybrid.transformer.config)
    assert hybrid.num_parameters() == stem + transformer
    assert hybrid.transformer.patch_embed.proj.weight.numel() == 24 * 6


@pytest.mark.parametrize("bad, error, match", [
    (dict(stride=3), ValueError, "power of two"),
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=32), ValueError, "divisible by stride"),
    (dict(stem_width=0), ValueError, "stem_width"),
])
def test_bad_arguments_are_named(bad, error, match):
    with pytest.raises(error, match=match):
        _hybrid(**bad)


def test_vit_must_be_keyword_arguments_and_images_must_fit():
    with pytest.raises(TypeError, match="dict of ViT keyword arguments"):
        HybridViT([16, 4], stride=4)
    with pytest.raises(TypeError, match=r"unexpected|unknown|field"):
        HybridViT({**VIT, "colour": 3}, stride=4)
    hybrid = _hybrid()
    with pytest.raises(ValueError, match="channels"):
        hybrid(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="4-D"):
        hybrid(torch.rand(3, 16, 16))
