"""vit_edu.data.preprocessing against transformers' image processors (independent implementations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_edu.data import load_photo
from vit_edu.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, preprocess_image, resize_and_crop, unnormalize


def photo_uint8() -> np.ndarray:
    return np.round(load_photo("chelsea") * 255).astype(np.uint8)  # (300, 451, 3)


def random_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("image", [photo_uint8(), random_photo(97, 61)], ids=["chelsea", "portrait"])
def test_vit_style_equals_the_transformers_vit_processor(image):
    transformers = pytest.importorskip("transformers")
    reference = transformers.ViTImageProcessorPil()(images=image, return_tensors="pt")["pixel_values"][0]
    ours = preprocess_image(image, style="vit")
    assert ours.shape == (3, 224, 224) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
    assert -1 <= ours.min() and ours.max() <= 1


@pytest.mark.parametrize("image", [photo_uint8(), random_photo(331, 260, seed=1)], ids=["landscape", "portrait"])
def test_imagenet_style_equals_a_resize_shortest_edge_and_centre_crop_processor(image):
    image_processing = pytest.importorskip("transformers.models.clip.image_processing_pil_clip")
    processor = image_processing.CLIPImageProcessorPil(
        size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=2,
        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
    )
    reference = torch.as_tensor(np.asarray(processor(images=image, return_tensors="np")["pixel_values"][0]))
    ours = preprocess_image(image, style="imagenet")
    assert ours.shape == (3, 224, 224)
    torch.testing.assert_close(ours, reference.float(), atol=1e-5, rtol=0)


def test_crop_is_central_and_keeps_the_aspect_ratio():
    # a 100 x 300 image whose columns encode their position: after resizing the short side to 50
    # (150 wide) and cropping 40, the kept columns are the middle ones
    ramp = np.tile(np.linspace(0, 255, 300).round().astype(np.uint8)[None, :, None], (100, 1, 3))
    crop = resize_and_crop(ramp, image_size=40, resize_size=50)
    assert crop.shape == (40, 40, 3)
    middle = crop[:, 20, 0].astype(float).mean()
    assert abs(middle - 127.5) < 4  # the centre of the crop is the centre of the photo


def test_float_grey_and_rgba_inputs_and_unnormalize():
    grey = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(64, 48)
    x = preprocess_image(grey, image_size=32)
    torch.testing.assert_close(x[0], x[1])  # grey repeated to RGB
    rgba = np.concatenate([random_photo(40, 40), np.full((40, 40, 1), 7, np.uint8)], axis=-1)
    torch.testing.assert_close(preprocess_image(rgba, image_size=40), preprocess_image(rgba[..., :3], image_size=40))
    image = random_photo(32, 32)
    back = unnormalize(preprocess_image(image, image_size=32))  # same size: no resampling
    np.testing.assert_allclose(back, image / 255.0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"style": "resnet"}, ValueError, "style must be one of"),
        ({"image_size": 0}, ValueError, "image_size must be a positive int"),
        ({"style": "imagenet", "resize_size": 100}, ValueError, "resize_size \\(100\\) must be >= image_size"),
        ({"mean": (0.5, 0.5)}, ValueError, "mean and std must be 3 numbers"),
    ],
)
def test_bad_arguments_are_explained(kwargs, error, match):
    with pytest.raises(error, match=match):
        preprocess_image(random_photo(50, 50), **kwargs)


def test_bad_images_are_explained():
    with pytest.raises(ValueError, match="values in \\[0, 1\\]"):
        preprocess_image(np.full((8, 8, 3), 200.0))
    with pytest.raises(TypeError, match="uint8"):
        preprocess_image(np.zeros((8, 8, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="channels last"):
        preprocess_image(np.zeros((3, 8, 8, 2), dtype=np.uint8))
