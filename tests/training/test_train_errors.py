"""``train`` refuses what would divide by zero or train silently to NaN (an empty data set, an infinite or
negative learning rate, mismatched or mistyped data, a device this machine lacks), before its first step."""

import math

import pytest
import torch

from vit_edu import ViT
from vit_edu.training.loop import evaluate, predict, resolve_device, train


def tiny_vit():
    return ViT(image_size=8, patch_size=4, channels=1, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32, seed=0)


IMAGES = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))
LABELS = torch.arange(12) % 3


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(lr=math.inf), ValueError, r"lr must be a finite number > 0, got inf"),
    (dict(lr=math.nan), ValueError, r"lr must be a finite number > 0, got nan"),
    (dict(lr=-1e-3), ValueError, r"lr must be a finite number > 0, got -0\.001; 1e-3 is a common peak"),
    (dict(lr=0.0), ValueError, r"lr must be a finite number > 0"),
    (dict(lr="3e-3"), TypeError, r"lr must be a number"),
    (dict(weight_decay=-0.1), ValueError, r"weight_decay must be a finite number >= 0"),
    (dict(weight_decay=math.nan), ValueError, r"weight_decay must be a finite number"),
    (dict(warmup_epochs=math.inf), ValueError, r"warmup_epochs must be a finite number >= 0"),
    (dict(label_smoothing=math.nan), ValueError, r"label_smoothing must be a finite number in \[0, 1\)"),
    (dict(epochs=0), ValueError, r"epochs must be a positive integer, got 0"),
    (dict(epochs=2.0), TypeError, r"epochs must be an int"),
    (dict(batch_size=0), ValueError, r"batch_size must be a positive integer"),
    (dict(batch_size=True), TypeError, r"batch_size must be an int"),
    (dict(seed=-1), ValueError, r"seed must be an int in 0\.\.2\*\*64 - 1, got -1"),
    (dict(seed=0.5), TypeError, r"seed must be an int"),
    (dict(device="gpu"), ValueError, r"device='gpu' is not a device name"),
])
def test_bad_settings_are_refused(kwargs, error, pattern):
    model = tiny_vit()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(error, match=pattern):
        train(model, IMAGES, LABELS, progress=False, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # no step was taken


@pytest.mark.parametrize("images, labels, error, pattern", [
    (IMAGES[:0], LABELS[:0], ValueError, r"train_images is empty: training needs at least one image"),
    (IMAGES, LABELS[:5], ValueError, r"train_images and train_labels differ in length: 12 vs 5"),
    (IMAGES[:, 0], LABELS, TypeError, r"train_images must be a float tensor \(n, C, H, W\), got a torch.float32 "
                                      r"tensor of shape \(12, 8, 8\)"),
    ((IMAGES * 255).to(torch.uint8), LABELS, TypeError, r"train_images must be a float tensor"),
    (IMAGES.numpy(), LABELS, TypeError, r"train_images must be a float tensor .*got a ndarray"),
    (IMAGES, LABELS.float(), TypeError, r"train_labels must be a 1-D integer tensor of class indices"),
    (IMAGES, LABELS.tolist(), TypeError, r"train_labels must be a 1-D integer tensor .*got a list"),
    (IMAGES, LABELS - 1, ValueError, r"train_labels must be class indices in 0\.\.2 \(the model has K = 3 classes\), "
                                     r"got values in -1\.\.1"),
    (IMAGES, LABELS + 1, ValueError, r"got values in 1\.\.3"),
])
def test_bad_training_data_is_refused(images, labels, error, pattern):
    with pytest.raises(error, match=pattern):
        train(tiny_vit(), images, labels, progress=False)


def test_bad_test_data_is_refused():
    with pytest.raises(ValueError, match=r"test_images is empty: pass test_images=None and test_labels=None"):
        train(tiny_vit(), IMAGES, LABELS, IMAGES[:0], LABELS[:0], progress=False)
    with pytest.raises(ValueError, match=r"test_images and test_labels differ in length: 12 vs 3"):
        train(tiny_vit(), IMAGES, LABELS, IMAGES, LABELS[:3], progress=False)


def test_evaluate_and_predict_refuse_empty_input():
    with pytest.raises(ValueError, match="images is empty"):
        evaluate(tiny_vit(), IMAGES[:0], LABELS[:0])
    with pytest.raises(ValueError, match="images is empty"):
        predict(tiny_vit(), IMAGES[:0])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        predict(tiny_vit(), IMAGES, batch_size=0)


@pytest.mark.parametrize("device, pattern", [
    ("gpu", r"device='gpu' is not a device name; use 'auto', 'cpu', 'cuda' or 'cuda:1'"),
    ("cuda:x", r"device='cuda:x' is not a device name"),
    (3.0, r"device must be a string such as 'cpu'"),
])
def test_resolve_device_names_the_choices(device, pattern):
    with pytest.raises((TypeError, ValueError), match=pattern):
        resolve_device(device)


def test_resolve_device_refuses_a_gpu_this_machine_lacks(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='cuda', but this PyTorch build or machine has no cuda device; "
                                         r"use device='cpu'"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="no cuda device"):
        resolve_device(torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"this machine has 1 CUDA device\(s\) \(cuda:0\.\.cuda:0\)"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no mps device"):
        resolve_device("mps")
