"""The shared input checks (``vit_edu.checks``) and the model's refusals that rely on them: each bad input
raises a TypeError/ValueError that names the parameter and the fix, before torch or numpy fail in their words."""

import math
import os
import tempfile

import pytest
import torch

from vit_edu import ViT, ViTConfig
from vit_edu.checks import check_number, check_output_path, check_seed

TINY = dict(image_size=16, patch_size=8, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32)


@pytest.fixture(scope="module")
def model():
    return ViT(**TINY, seed=0).eval()


# --- the images' dtype must be the weights' ---------------------------------------------------------
@pytest.mark.parametrize("dtype, fix", [
    (torch.float64, r"images\.float\(\) \(torch\.from_numpy keeps numpy's float64\), or the model with model\.double"),
    (torch.float16, r"images\.float\(\), or the model with model\.half\(\)"),
    (torch.bfloat16, r"images\.float\(\), or the model with model\.bfloat16\(\)"),
])
def test_images_of_another_float_dtype_are_refused_with_the_fix(model, dtype, fix):
    images = torch.zeros(2, 3, 16, 16, dtype=dtype)
    with pytest.raises(TypeError, match=rf"images have dtype {dtype} but the model's weights are torch.float32.*{fix}"):
        model(images)
    with pytest.raises(TypeError, match="images have dtype"):
        model(images, return_attention=True)


def test_images_in_the_weights_dtype_pass(model):
    assert model(torch.zeros(1, 3, 16, 16)).dtype == torch.float32
    double = ViT(**TINY, seed=0).double().eval()
    assert double(torch.zeros(1, 3, 16, 16, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(TypeError, match=r"convert the images with images\.double\(\)"):
        double(torch.zeros(1, 3, 16, 16))


def test_autocast_may_feed_lower_precision_images(model):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(torch.zeros(1, 3, 16, 16, dtype=torch.bfloat16)).dtype == torch.bfloat16
        with pytest.raises(TypeError, match="float64"):  # autocast does not cast float64
            model(torch.zeros(1, 3, 16, 16, dtype=torch.float64))


# --- config: finite numbers ------------------------------------------------------------------------
@pytest.mark.parametrize("changes, error, pattern", [
    (dict(layer_norm_eps=math.inf), ValueError, r"layer_norm_eps must be a finite positive float.*got inf"),
    (dict(layer_norm_eps=math.nan), ValueError, r"layer_norm_eps must be a finite positive float.*got nan"),
    (dict(layer_norm_eps=0.0), ValueError, r"layer_norm_eps must be a finite positive float"),
    (dict(layer_norm_eps=-1e-6), ValueError, r"layer_norm_eps must be a finite positive float"),
    (dict(layer_norm_eps="1e-6"), TypeError, r"layer_norm_eps must be a small positive float"),
    (dict(dropout=math.nan), ValueError, r"dropout must be in \[0, 1\), got nan"),
    (dict(emb_dropout=math.inf), ValueError, r"emb_dropout must be in \[0, 1\), got inf"),
    (dict(attention_dropout=math.nan), ValueError, r"attention_dropout must be in \[0, 1\)"),
])
def test_config_refuses_non_finite_numbers(changes, error, pattern):
    with pytest.raises(error, match=pattern):
        ViTConfig(**{**TINY, **changes})


def test_config_keeps_valid_epsilons():
    assert ViTConfig(**TINY, layer_norm_eps=1e-12).layer_norm_eps == 1e-12
    assert ViTConfig(**TINY, layer_norm_eps=1).layer_norm_eps == 1


# --- check_number and check_seed -------------------------------------------------------------------
@pytest.mark.parametrize("value, kwargs, error, pattern", [
    (math.inf, dict(minimum=0.0, open_minimum=True), ValueError, r"lr must be a finite number > 0, got inf"),
    (math.nan, dict(minimum=0.0, open_minimum=True), ValueError, r"lr must be a finite number > 0, got nan"),
    (-0.1, dict(minimum=0.0), ValueError, r"lr must be a finite number >= 0, got -0.1"),
    (1.0, dict(minimum=0.0, maximum=1.0, open_maximum=True), ValueError, r"in \[0, 1\), got 1.0"),
    (2.0, dict(maximum=1.0), ValueError, r"lr must be a finite number <= 1, got 2.0"),
    (True, {}, TypeError, r"lr must be a number, got True"),
    ("0.1", {}, TypeError, r"lr must be a number, got '0.1'"),
])
def test_check_number_table(value, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        check_number(value, "lr", **kwargs)


def test_check_number_accepts_finite_numbers_in_range():
    import numpy as np

    assert check_number(np.float32(0.5), "x", 0.0, 1.0) == 0.5
    assert check_number(0, "x", minimum=0.0) == 0.0


@pytest.mark.parametrize("value, maximum, error, pattern", [
    (-1, None, ValueError, r"seed must be an int >= 0, got -1"),
    (2**32, 2**32 - 1, ValueError, r"seed must be an int in 0\.\.2\*\*32 - 1, got 4294967296"),
    (1.5, None, TypeError, r"seed must be an int \(a random seed such as 0\), got 1.5"),
    (True, None, TypeError, r"seed must be an int"),
    ("3", None, TypeError, r"seed must be an int"),
])
def test_check_seed_table(value, maximum, error, pattern):
    with pytest.raises(error, match=pattern):
        check_seed(value, maximum=maximum)


def test_check_seed_accepts_numpy_integers():
    import numpy as np

    assert check_seed(np.int64(7)) == 7 and type(check_seed(np.int64(7))) is int


# --- check_output_path -----------------------------------------------------------------------------
def test_output_path_problems(tmp_path):
    (tmp_path / "file.txt").write_text("user data")
    (tmp_path / "folder").mkdir()
    cases = [
        (dict(path=tmp_path / "folder"), r"--out .*folder is a directory; give a file name such as .*output"),
        (dict(path=tmp_path / "file.txt" / "model.safetensors"), r"cannot be written: .*file\.txt is a file"),
        (dict(path=tmp_path / "m.pt", suffixes=(".safetensors",)), r"must end in \.safetensors, e\.g\. .*m\.safet"),
        (dict(path=tmp_path / "new" / "m.png", create_parents=False), r"the folder of --out .*new\) does not exist"),
        (dict(path=tmp_path / "file.txt", folder=True), r"file\.txt is a file, not a folder"),
        (dict(path=tmp_path / "file.txt" / "site", folder=True), r"cannot be written: .*file\.txt is a file"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            check_output_path(name="--out", **kwargs)
    assert (tmp_path / "file.txt").read_text() == "user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder"]  # the probe leaves nothing


def test_output_path_accepts_new_files_and_folders(tmp_path):
    assert check_output_path(tmp_path / "a" / "b" / "m.safetensors", "--out", suffixes=(".safetensors",)).name == \
        "m.safetensors"
    assert check_output_path(tmp_path / "site", "outdir", folder=True) == tmp_path / "site"
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_output_path_in_a_folder_without_write_permission(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ValueError, match=r"no file can be created in .* \(Permission denied\); choose another"):
        check_output_path(tmp_path / "m.safetensors", "--out")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_path_in_a_read_only_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="no file can be created"):
            check_output_path(locked / "m.safetensors", "--out")
    finally:
        locked.chmod(0o700)
