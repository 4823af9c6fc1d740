"""``python -m vit_edu params`` and ``attention``: each command runs in a subprocess (output against
independent references: published ViT-B/16 numbers, parameters counted on an instantiated model,
torch's FLOP counter; the files written); the many error cases call ``vit_edu.__main__.main`` in
process (same parser and handlers, without a Python start-up each) for their messages and exit codes."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from support.cli import run_here

from vit_edu import ViT, save_checkpoint
from vit_edu.__main__ import main
from vit_edu.training.recipes import COURSE_CLASS_NAMES

pytestmark = pytest.mark.slow  # every command runs in a subprocess or builds a full-size model


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vit_edu", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)




def totals(stdout):
    """The two 'total' rows: (parameters, FLOPs)."""
    values = [int(m.replace(",", "")) for m in re.findall(r"^\s+total\s+([\d,]+)", stdout, flags=re.M)]
    assert len(values) == 2, stdout
    return values


# --- params ---------------------------------------------------------------------------------------
def test_params_preset_b16_matches_published_numbers():
    result = run("params", "B/16")
    assert result.returncode == 0, result.stderr
    parameters, flops = totals(result.stdout)
    assert parameters == 86_567_656  # timm vit_base_patch16_224, 86.57 M
    assert flops / 2 == pytest.approx(17.58e9, rel=0.01)  # 17.6 GMACs published for ViT-B/16 at 224 px
    assert "N = 196 patches" in result.stdout and "mlp" in result.stdout


def test_params_custom_architecture_matches_an_instantiated_model():
    flags = dict(image_size=256, patch_size=32, dim=1024, depth=6, heads=16, mlp_dim=2048, num_classes=1000)
    result = run("params", *[x for k, v in flags.items() for x in (f"--{k.replace('_', '-')}", v)])
    assert result.returncode == 0, result.stderr
    with torch.device("meta"):
        model = ViT(**flags)
    assert totals(result.stdout)[0] == sum(p.numel() for p in model.parameters())
    patch_row = re.search(r"patch_projection\s+([\d,]+)", result.stdout).group(1)
    assert int(patch_row.replace(",", "")) == 32 * 32 * 3 * 1024 + 1024  # P^2 C D + D


def test_params_flops_match_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    flags = dict(image_size=32, patch_size=8, dim=64, depth=2, heads=4, mlp_dim=128, num_classes=10)
    result = run("params", *[x for k, v in flags.items() for x in (f"--{k.replace('_', '-')}", v)])
    assert result.returncode == 0, result.stderr
    model = ViT(**flags).eval()
    for block in model.blocks:
        block.attn.fused_attn = False  # the counter sees the explicit q k^T and A v matmuls
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    assert totals(result.stdout)[1] == counter.get_total_flops()


@pytest.mark.parametrize("args, message", [
    (("params", "--dim", "64"), "missing --patch-size --depth --heads --mlp-dim"),
    (("params", "X/3"), "valid presets are"),
    (("params", "B/16", "--heads", "7"), "not divisible by heads"),
    (("params", "--image-size", "30", "--patch-size", "8", "--dim", "64", "--depth", "1", "--heads", "4",
      "--mlp-dim", "64"), "not divisible by patch_size"),
])
def test_params_bad_arguments(capsys, args, message):
    code, out, err = run_here(capsys, *args)
    assert code == 2
    assert message in err and out == ""


def test_help_of_each_command():
    for command in ("params", "attention"):
        result = run(command, "--help")
        assert result.returncode == 0 and command in result.stdout


# --- attention ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    model = ViT(image_size=32, patch_size=4, channels=3, num_classes=4, dim=32, depth=2, heads=4, mlp_dim=64, seed=0)
    save_checkpoint(model, folder / "model.safetensors", metadata={"dataset": "shapes"})
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(folder / "photo.png")
    Image.fromarray((rng.random((20, 20)) * 255).astype(np.uint8)).save(folder / "grey.png")
    (folder / "broken.png").write_bytes(b"\x89PNG but not really")
    return folder, model


def test_attention_writes_a_figure_for_each_method(files):
    folder, model = files
    for method in ("rollout", "cls", "grad"):
        out = folder / f"{method}.png"
        result = run("attention", folder / "photo.png", "--checkpoint", folder / "model.safetensors",
                     "--method", method, "--out", out)
        assert result.returncode == 0, result.stderr
        with Image.open(out) as figure:
            assert figure.format == "PNG" and figure.width > 300
    # the printed prediction is the model's on the resized image (computed here with PIL directly)
    with Image.open(folder / "photo.png") as photo:
        pixels = np.asarray(photo.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR), np.float32) / 255
    with torch.no_grad():
        probabilities = model(torch.from_numpy(pixels).permute(2, 0, 1)[None]).softmax(-1)[0]
    names = COURSE_CLASS_NAMES["shapes"]
    assert f"predicted {names[int(probabilities.argmax())]} (p = {probabilities.max():.3f})" in result.stdout


def test_attention_converts_grey_images(capsys, files):
    folder, _ = files
    code, _, err = run_here(capsys, "attention", folder / "grey.png", "--checkpoint", folder / "model.safetensors",
                            "--out", folder / "grey_map.png")
    assert code == 0, err
    assert (folder / "grey_map.png").stat().st_size > 0


def test_attention_refuses_to_overwrite_without_force(files):
    folder, _ = files
    out = folder / "existing.png"
    out.write_bytes(b"user data")
    args = ("attention", folder / "photo.png", "--checkpoint", folder / "model.safetensors", "--out", out)
    result = run(*args)
    assert result.returncode == 2 and "--force" in result.stderr
    assert out.read_bytes() == b"user data"
    assert main([str(a) for a in args] + ["--force"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("image, checkpoint, extra, message", [
    ("missing.png", "model.safetensors", (), "not found"),
    ("broken.png", "model.safetensors", (), "could not read image"),
    ("photo.png", "missing.safetensors", (), "checkpoint"),
    ("photo.png", "broken.png", (), "could not load checkpoint"),
    ("photo.png", "model.safetensors", ("--method", "cls", "--layer", "5"), "layer must be in 0..1"),
    ("photo.png", "model.safetensors", ("--method", "magic"), "invalid choice"),
])
def test_attention_errors(capsys, files, image, checkpoint, extra, message):
    folder, _ = files
    out = folder / "error_case.png"
    code, _, err = run_here(capsys, "attention", folder / image, "--checkpoint", folder / checkpoint, "--out", out,
                            *extra)
    assert code == 2
    assert message in err
    assert not out.exists()


def test_attention_bad_out_paths(capsys, files):
    folder, _ = files
    base = ("attention", folder / "photo.png", "--checkpoint", folder / "model.safetensors", "--out")
    code, _, err = run_here(capsys, *base, folder / "figure.txt")
    assert code == 2 and ".png" in err
    code, _, err = run_here(capsys, *base, folder / "no_such_dir" / "figure.png")
    assert code == 2 and "does not exist" in err


def test_subprocess_error_exit_code(files):
    folder, _ = files
    result = run("attention", folder / "missing.png", "--checkpoint", folder / "model.safetensors", "--out",
                 folder / "x.png")
    assert result.returncode == 2 and "not found" in result.stderr and result.stdout == ""


# --- pretrain -------------------------------------------------------------------------------------
def test_pretrain_writes_a_checkpoint_that_scores_as_recorded(capsys, tmp_path, monkeypatch):
    import json

    from vit_edu.checkpoints import load_checkpoint, read_checkpoint_metadata
    from vit_edu.training import transfer
    from vit_edu.training.loop import evaluate
    from vit_edu.training.recipes import Recipe

    small = transfer.PRETRAIN_RECIPE.updated(data={"num_train": 256, "num_test": 64}, training={"batch_size": 64})
    monkeypatch.setattr(transfer, "PRETRAIN_RECIPE", small)
    out = tmp_path / "pre.safetensors"
    code, stdout, err = run_here(capsys, "pretrain", "--out", out, "--epochs", "1", "--no-progress", "--seed", "3")
    assert code == 0, err
    info = read_checkpoint_metadata(out)
    assert info["seed"] == "3" and info["epochs"] == "1"
    assert Recipe.from_dict(json.loads(info["recipe"])) == small.updated(training={"epochs": 1})
    images, labels = transfer.pretrain_test_data()
    assert len(labels) == 64
    # the metadata keeps 4 decimals; the checkpoint (input scaling folded into its patch embedding) scores the raw
    # images as the model scored the scaled ones during training, up to float rounding (one image at most)
    assert abs(evaluate(load_checkpoint(out), images, labels) - float(info["test_accuracy"])) <= 1 / 64 + 5e-5
    assert f"{float(info['test_accuracy']):.2%}" in stdout
    code, _, err = run_here(capsys, "pretrain", "--out", out, "--epochs", "1")
    assert code == 2 and "--force" in err


def test_pretrain_errors(capsys, tmp_path):
    code, _, err = run_here(capsys, "pretrain", "--out", tmp_path)
    assert code == 2 and "is a directory" in err
    code, _, err = run_here(capsys, "pretrain", "--out", tmp_path / "x.safetensors", "--threads", "0")
    assert code == 2 and "--threads must be a positive integer" in err
    code, _, err = run_here(capsys, "pretrain", "--out", tmp_path / "x.safetensors", "--epochs", "0")
    assert code == 2 and "--epochs must be a positive integer" in err
    assert not (tmp_path / "x.safetensors").exists()


def test_train_rejects_a_non_positive_thread_count(capsys, tmp_path):
    code, _, err = run_here(capsys, "train", "digits", "--out", tmp_path / "x.safetensors", "--threads", "0")
    assert code == 2 and "--threads must be a positive integer" in err
    assert not (tmp_path / "x.safetensors").exists()
