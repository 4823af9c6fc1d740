"""SmallCNN: the closed-form parameter count, width matching, a functional reference, errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vit_edu import ViT
from vit_edu.training.cnn import SmallCNN, cnn_num_parameters, match_cnn_width


@pytest.mark.parametrize(("channels", "classes", "width", "depth", "kernel", "pool_every"), [
    (1, 10, 31, 3, 3, 0), (3, 4, 8, 4, 5, 1), (3, 7, 1, 1, 1, 0), (2, 3, 16, 5, 3, 2),
])
def test_parameter_count_formula_equals_counted_parameters(channels, classes, width, depth, kernel, pool_every):
    model = SmallCNN(channels=channels, num_classes=classes, width=width, depth=depth, kernel_size=kernel,
                     pool_every=pool_every)
    formula = cnn_num_parameters(channels=channels, num_classes=classes, width=width, depth=depth, kernel_size=kernel)
    assert formula == model.num_parameters() == sum(p.numel() for p in model.parameters())


def test_parameter_count_by_hand():
    # 1 -> 2 -> 2 channels, k = 3, K = 5: (1*9*2 + 2) + (2*2*9 + 2) + BatchNorm 2*2*2 + head (2*5 + 5)
    assert cnn_num_parameters(channels=1, num_classes=5, width=2, depth=2, kernel_size=3) == 20 + 38 + 8 + 15


@pytest.mark.parametrize("target", [18218, 62692, 5000])
def test_matched_width_is_the_closest_one(target):
    width = match_cnn_width(target, channels=3, num_classes=10, depth=3)
    count = lambda w: cnn_num_parameters(channels=3, num_classes=10, width=w, depth=3)  # noqa: E731
    assert abs(count(width) - target) <= abs(count(width - 1) - target)
    assert abs(count(width) - target) <= abs(count(width + 1) - target)


def test_matched_cnn_is_within_five_percent_of_a_tiny_vit():
    vit = ViT(image_size=8, patch_size=2, channels=1, num_classes=10, dim=32, depth=2, heads=2, mlp_dim=64)
    width = match_cnn_width(vit.num_parameters(), channels=1, num_classes=10, depth=3)
    cnn = SmallCNN(channels=1, num_classes=10, width=width, depth=3)
    assert abs(cnn.num_parameters() - vit.num_parameters()) / vit.num_parameters() < 0.05


def _functional_reference(model: SmallCNN, images: torch.Tensor) -> torch.Tensor:
    """The same network written with torch.nn.functional, reading the weights layer by layer (eval mode)."""
    x = images
    for layer in model.body:
        if isinstance(layer, nn.Conv2d):
            pad = layer.kernel_size[0] // 2
            mode = {"zeros": "constant", "circular": "circular"}[layer.padding_mode]
            x = F.conv2d(F.pad(x, (pad,) * 4, mode=mode), layer.weight, layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
            x = (x - layer.running_mean[:, None, None]) * scale[:, None, None] + layer.bias[:, None, None]
        elif isinstance(layer, nn.ReLU):
            x = x.clamp_min(0)
        else:
            x = F.max_pool2d(x, 2)
    return x.mean(dim=(2, 3)) @ model.head.weight.T + model.head.bias


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
@pytest.mark.parametrize("pool_every", [0, 1])
def test_forward_matches_a_functional_reference(padding_mode, pool_every):
    model = SmallCNN(channels=3, num_classes=4, width=6, depth=3, pool_every=pool_every, padding_mode=padding_mode,
                     seed=0)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for layer in model.body:
            if isinstance(layer, nn.BatchNorm2d):
                layer.running_mean.uniform_(-0.1, 0.1)
                layer.running_var.uniform_(0.5, 2.0)
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.uniform_(-0.1, 0.1)
    model.eval()
    images = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(model(images), _functional_reference(model, images), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("pool_every", "depth", "stride", "size"), [(0, 3, 1, 16), (1, 3, 4, 4), (2, 4, 2, 8)])
def test_feature_map_shape_and_total_stride(pool_every, depth, stride, size):
    model = SmallCNN(channels=3, num_classes=4, width=5, depth=depth, pool_every=pool_every)
    assert model.total_stride == stride
    assert model.features(torch.rand(2, 3, 16, 16)).shape == (2, 5, size, size)
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 4)


def test_seed_makes_initialisation_reproducible():
    a, b, c = (SmallCNN(width=4, seed=s) for s in (1, 1, 2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.body[0].weight, c.body[0].weight)


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(kernel_size=4), "kernel_size"), (dict(kernel_size=0), "kernel_size"), (dict(width=0), "width"),
    (dict(depth=True), "depth"), (dict(padding_mode="wrap"), "padding_mode"), (dict(pool_every=-1), "pool_every"),
])
def test_bad_arguments_name_the_parameter(kwargs, words):
    with pytest.raises(ValueError, match=words):
        SmallCNN(**kwargs)


def test_wrong_images_give_clear_errors():
    model = SmallCNN(channels=3, width=4)
    with pytest.raises(ValueError, match="channels=3"):
        model(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="4-D"):
        model(torch.rand(3, 8, 8))
