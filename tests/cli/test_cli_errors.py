"""Bad arguments of the writing commands: a one-line ``error: ...`` and exit code 2 before any work, no traceback,
no file overwritten; and a trained model is never lost to a failed save. In process (``vit_edu.__main__.main``)
with training replaced by a stub, so the whole file runs in about a second."""

import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support.cli import run_here

from vit_edu import ViT, save_checkpoint
from vit_edu.cli.commands import read_image
from vit_edu.training.loop import History


def assert_one_line_error(code, err, fragment):
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert fragment in err, err


TINY = dict(image_size=16, patch_size=8, channels=1, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32)


def fake_run(*args, **kwargs):
    """What ``train_course_model`` returns, without training."""
    from vit_edu.training.recipes import CourseData, CourseRun

    history = History(train_loss=[1.0], train_accuracy=[0.5], test_accuracy=[0.5], learning_rate=[0.0],
                      seconds=[0.1])
    data = CourseData(torch.zeros(2, 1, 16, 16), torch.zeros(2, dtype=torch.long), torch.zeros(2, 1, 16, 16),
                      torch.zeros(2, dtype=torch.long))
    return CourseRun(ViT(**TINY, seed=0), history, data)


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a command starts training or pre-training."""
    from vit_edu.training import recipes, transfer

    def refuse(*args, **kwargs):
        raise AssertionError("the command started work before refusing its arguments")

    monkeypatch.setattr(recipes, "train_course_model", refuse)
    monkeypatch.setattr(transfer, "pretrain", refuse)


@pytest.fixture
def places(tmp_path):
    (tmp_path / "file.txt").write_text("user data")
    (tmp_path / "folder").mkdir()
    return tmp_path


# --- train and pretrain: every check before any work --------------------------------------------------
@pytest.mark.parametrize("command", [("train", "digits"), ("pretrain",)])
@pytest.mark.parametrize("out, extra, fragment", [
    ("folder", (), "is a directory; give a file name such as"),
    ("file.txt/model.safetensors", (), "file.txt is a file, not a folder"),
    ("model.pt", (), "must end in .safetensors"),
    ("model.ckpt", ("--force",), "must end in .safetensors"),
    ("model.safetensors", ("--device", "cuda:7") if torch.cuda.is_available() else ("--device", "cuda"),
     "--device 'cuda"),
    ("model.safetensors", ("--device", "gpu"), "--device 'gpu' is not a device name; use 'auto', 'cpu'"),
    ("model.safetensors", ("--seed", "-1"), "--seed must be an int in 0..2**64 - 1, got -1"),
    ("model.safetensors", ("--epochs", "0"), "--epochs must be a positive integer"),
    ("model.safetensors", ("--threads", "-2"), "--threads must be a positive integer"),
])
def test_training_commands_refuse_before_any_work(capsys, places, no_training, command, out, extra, fragment):
    code, stdout, err = run_here(capsys, *command, "--out", places / out, *extra)
    assert_one_line_error(code, err, fragment)
    assert stdout == ""
    assert sorted(p.name for p in places.iterdir()) == ["file.txt", "folder"]


def test_train_refuses_a_negative_data_seed(capsys, places, no_training):
    code, _, err = run_here(capsys, "train", "shapes", "--out", places / "m.safetensors", "--data-seed", "-3")
    assert_one_line_error(code, err, "--data-seed must be an int in 0..2**32 - 1, got -3")


def test_train_refuses_an_unwritable_folder_before_training(capsys, places, no_training, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # a read-only folder, even for root
    code, _, err = run_here(capsys, "train", "digits", "--out", places / "m.safetensors")
    assert_one_line_error(code, err, "no file can be created in")


def test_train_refuses_an_existing_checkpoint_without_force(capsys, places, no_training):
    existing = places / "old.safetensors"
    existing.write_bytes(b"user data")
    code, _, err = run_here(capsys, "train", "digits", "--out", existing)
    assert_one_line_error(code, err, "pass --force")
    assert existing.read_bytes() == b"user data"


def test_a_failed_save_after_training_rescues_the_model(capsys, places, monkeypatch):
    from vit_edu.checkpoints import loading
    from vit_edu.training import recipes

    real_save = loading.save_checkpoint
    rescued = []

    def save(model, path, **kwargs):
        if str(path).startswith(str(places)):
            raise OSError(28, "No space left on device")
        rescued.append(real_save(model, path, **kwargs))
        return rescued[-1]

    monkeypatch.setattr(recipes, "train_course_model", fake_run)
    monkeypatch.setattr(loading, "save_checkpoint", save)
    code, _, err = run_here(capsys, "train", "digits", "--out", places / "m.safetensors", "--no-progress")
    assert_one_line_error(code, err, "No space left on device")
    assert len(rescued) == 1 and f"saved to {rescued[0]} instead" in err
    try:
        from safetensors import safe_open

        with safe_open(str(rescued[0]), framework="pt") as saved:  # the trained weights and their results
            assert saved.get_tensor("cls_token").shape == (1, 1, TINY["dim"])
            assert saved.metadata()["test_accuracy"] == "0.5000"
    finally:
        rescued[0].unlink()


def test_a_checkpoint_written_meanwhile_is_not_overwritten(capsys, places, monkeypatch):
    from vit_edu.training import recipes

    out = places / "m.safetensors"

    def train_while_someone_writes(*args, **kwargs):
        out.write_bytes(b"written during training")
        return fake_run()

    monkeypatch.setattr(recipes, "train_course_model", train_while_someone_writes)
    code, _, err = run_here(capsys, "train", "digits", "--out", out, "--no-progress")
    assert_one_line_error(code, err, "instead")
    assert out.read_bytes() == b"written during training"
    rescue = Path(err.split("saved to ")[1].split(" instead")[0])
    assert rescue.suffix == ".safetensors" and rescue.stat().st_size > 0
    rescue.unlink()


def test_train_writes_the_checkpoint_when_all_is_well(capsys, places, monkeypatch):
    from vit_edu.training import recipes

    monkeypatch.setattr(recipes, "train_course_model", fake_run)
    code, stdout, err = run_here(capsys, "train", "digits", "--out", places / "new" / "m.safetensors", "--no-progress")
    assert code == 0, err
    assert (places / "new" / "m.safetensors").is_file() and "saved" in stdout


# --- attention ------------------------------------------------------------------------------------
def png_header_only(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` (Pillow refuses or accepts it from the header alone)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def attention_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attention")
    save_checkpoint(ViT(**TINY, seed=0), folder / "model.safetensors")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "photo.png")
    png_header_only(folder / "bomb.png", 20_000, 20_000)  # > 2 x Pillow's limit: DecompressionBombError
    png_header_only(folder / "big.png", 10_000, 10_000)  # > Pillow's limit: only a warning from Pillow
    Image.fromarray(np.zeros((8, 8), np.float32)).save(folder / "float.tiff")
    Image.fromarray(np.zeros((8, 8), np.int32)).save(folder / "int32.tiff")
    (folder / "folder.png").mkdir()
    (folder / "file.txt").write_text("user data")
    return folder


@pytest.mark.parametrize("image, out, extra, fragment", [
    ("bomb.png", "x.png", (), "400,000,000 pixels, more than the limit of"),
    ("big.png", "x.png", (), "10000 x 10000 = 100,000,000 pixels, more than the limit of"),
    ("float.tiff", "x.png", (), "floating-point pixels (Pillow mode 'F') have no fixed white level"),
    ("int32.tiff", "x.png", (), "32-bit integer pixels (Pillow mode 'I') have no fixed white level"),
    ("file.txt", "x.png", (), "cannot identify image file"),
    ("photo.png", "folder.png", ("--force",), "is a directory"),
    ("photo.png", "file.txt/x.png", (), "file.txt is a file, not a folder"),
    ("photo.png", "x.txt", (), "must end in one of .png"),
])
def test_attention_errors_are_one_line(capsys, attention_files, image, out, extra, fragment):
    folder = attention_files
    code, stdout, err = run_here(capsys, "attention", folder / image, "--checkpoint", folder / "model.safetensors",
                                 "--out", folder / out, *extra)
    assert_one_line_error(code, err, fragment)
    assert stdout == "" and not (folder / "x.png").exists()


def test_the_pixel_limit_is_named(capsys, attention_files):
    folder = attention_files
    _, _, err = run_here(capsys, "attention", folder / "bomb.png", "--checkpoint", folder / "model.safetensors",
                         "--out", folder / "x.png")
    assert f"{Image.MAX_IMAGE_PIXELS:,} pixels (PIL.Image.MAX_IMAGE_PIXELS" in err


@pytest.mark.slow
def test_sixteen_bit_images_are_scaled_by_their_bit_depth(tmp_path):
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    Image.fromarray(np.round(ramp / 257).astype(np.uint8)).save(tmp_path / "grey8.png")
    with Image.open(tmp_path / "grey16.png") as image:
        assert image.mode.startswith("I;16")  # what makes convert("L") clip
    for channels in (1, 3):
        deep = read_image(tmp_path / "grey16.png", channels, (32, 32))
        flat = read_image(tmp_path / "grey8.png", channels, (32, 32))
        assert deep.shape == (1, channels, 32, 32) and deep.dtype == torch.float32
        torch.testing.assert_close(deep, flat, atol=1 / 255, rtol=0)  # not clipped to white
        assert float(deep.min()) == 0.0 and float(deep.max()) == pytest.approx(1.0)
    half = read_image(tmp_path / "grey16.png", 1, (16, 16))  # resized in float
    assert 0.4 < float(half.mean()) < 0.6


def test_attention_refuses_an_unwritable_folder(capsys, attention_files, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    folder = attention_files
    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # a read-only folder, even for root
    code, _, err = run_here(capsys, "attention", folder / "photo.png", "--checkpoint", folder / "model.safetensors",
                            "--out", folder / "x.png")
    assert_one_line_error(code, err, "no file can be created in")
