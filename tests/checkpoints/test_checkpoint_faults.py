"""Every crafted bad checkpoint of ``fault_cases.py`` is answered with a clear error, in bounded memory.

The table of cases lives in ``fault_cases.py`` (the benchmark reuses it). The slow tests run all of
them in one child process, so that a regression that allocates without bound or hangs fails the test
instead of swapping the machine: the child limits its address space and reports each case's error,
message and peak resident memory, and a case that hangs is killed after a timeout (``run_in_child``).
The fast tests run a few cases that cannot hang or allocate in this process, for the inner loop.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from fault_cases import CASES, GROUPS, Case, check, load, run_case, run_in_child, safetensors_file, small_model

from vit_edu.checkpoints import load_checkpoint, read_checkpoint_metadata, save_checkpoint

PEAK_CEILING_MB = 1536  # far above the child's baseline of torch + vit_edu (about 300 MB)
# the inner loop runs a few cases of each kind in this process (none that could hang or allocate if it
# regressed); the slow test runs the whole table in the child
IN_PROCESS_NAMES = (
    "int8_weights", "nan_in_jax_npz", "nan_layer_norm_eps_in_own_metadata", "id2label_with_too_few_names",
    "qkv_rows_split_unevenly", "zero_heads_in_config_json", "shard_index_weight_map_is_null",
    "shard_index_points_to_the_parent", "pickle_names_the_blocked_global", "own_metadata_config_is_null",
    "save_under_a_pt_name", "own_file_written_under_a_pt_name",
)
IN_PROCESS = [c for c in CASES if c.name in IN_PROCESS_NAMES]


def test_the_table_covers_every_group_with_several_cases():
    assert len(IN_PROCESS) == len(IN_PROCESS_NAMES) and all(c.group != "dos" for c in IN_PROCESS)
    counts = {group: sum(c.group == group for c in CASES) for group in GROUPS}
    assert all(count >= 3 for count in counts.values()), counts
    assert sum(c.error is not None for c in CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


def test_the_checks_can_fail():
    """A wrong answer is caught: another exception, a missing fragment, no file name, a payload that ran."""
    item = Case("example", "raw", lambda folder: None, "ValueError", "must end in", absent="weights_only")
    good = {"error": "ValueError", "message": "{folder}/m.pt must end in .safetensors", "names_file": True,
            "ran_code": False}
    assert check(item, good) == []
    assert check(item, {**good, "error": "KeyError"}) == ["raised KeyError instead of ValueError"]
    assert check(item, {**good, "message": "weights_only must end in"}) == ["message contains 'weights_only'"]
    assert check(item, {**good, "message": "damaged"}) == ["message lacks 'must end in'"]
    assert check(item, {**good, "names_file": False, "ran_code": True}) == [
        "message does not name the file", "a pickled payload ran"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("item", IN_PROCESS, ids=lambda c: c.name)
def test_fault_in_process(item):
    assert check(item, run_case(item)) == []


@pytest.fixture(scope="module")
def child_results() -> tuple[float | None, dict[str, dict], str]:
    """Every case run in a child process: (baseline MB, name -> result, the end of the child's stderr)."""
    return run_in_child()


@pytest.mark.slow
def test_the_child_answered_every_case_above_a_measured_baseline(child_results):
    baseline, results, stderr = child_results
    assert sorted(results) == sorted(c.name for c in CASES), stderr
    assert baseline is not None and 50 < baseline < 800  # torch and vit_edu imported, small models loaded


@pytest.mark.slow
@pytest.mark.parametrize("item", CASES, ids=lambda c: c.name)
def test_fault_in_a_child_process_with_bounded_memory(item, child_results):
    _, results, stderr = child_results
    result = results.get(item.name)
    assert result is not None, f"the child never reached {item.name}: {stderr}"
    assert check(item, result) == [], result["message"]
    assert result["peak_mb"] < PEAK_CEILING_MB, f"{item.name} peaked at {result['peak_mb']:.0f} MB"


# ------------------------------------------------------------------ files that must still load
def images() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["m.bin", "m.npz"])
def test_own_file_under_another_name_loads_by_its_bytes(tmp_path, name):
    """Files that earlier versions of save_checkpoint wrote under any name are recognised as safetensors."""
    model = small_model()
    written = save_checkpoint(model, tmp_path / "m.safetensors")
    path = written.rename(tmp_path / name)
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    torch.testing.assert_close(loaded(images()), model(images()), rtol=0, atol=0)
    assert "vit_edu_config" in read_checkpoint_metadata(path)


def test_save_accepts_only_safetensors_names(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.safetensors.*'.*m\.safetensors'"):
        save_checkpoint(small_model(), tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []
    assert save_checkpoint(small_model(), tmp_path / "M.SAFETENSORS").is_file()  # the suffix, in any case


def test_hugging_face_cache_snapshot_with_linked_shards_loads(tmp_path):
    """The Hub's cache links snapshot files to ../../blobs; such shards stay allowed."""
    from fault_cases import sharded_folder

    repo = tmp_path / "models--org--vit"
    built = sharded_folder(tmp_path)
    snapshot = repo / "snapshots" / "0123abc"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for index, file in enumerate(sorted(built.iterdir())):
        blob = repo / "blobs" / f"blob{index}"
        file.rename(blob)
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", blob.name))
    (tmp_path / "plain").mkdir()
    reference = load_checkpoint(sharded_folder(tmp_path / "plain"))
    torch.testing.assert_close(load_checkpoint(snapshot)(images()), reference(images()), rtol=0, atol=0)


def test_max_bytes_is_checked_and_a_file_at_the_limit_loads(tmp_path):
    path = save_checkpoint(small_model(), tmp_path / "m.safetensors")
    header = int.from_bytes(path.read_bytes()[:8], "little")
    assert load_checkpoint(path, max_bytes=path.stat().st_size - 8 - header).config == small_model().config
    with pytest.raises(ValueError, match="more than max_bytes"):
        load_checkpoint(path, max_bytes=path.stat().st_size - 9 - header)
    with pytest.raises(TypeError, match="max_bytes must be an int"):
        load_checkpoint(path, max_bytes=1e9)
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        load_checkpoint(path, max_bytes=0)


def test_pickle_refusal_names_the_global_without_torch_advice(tmp_path):
    class Surprise:
        def __reduce__(self):
            return (print, ("never printed",))

    torch.save({"cls_token": Surprise()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError) as error:
        load(tmp_path / "evil.pth", heads=2)()
    message = str(error.value)
    assert "(Unsupported global: GLOBAL print was not an allowed global by default)" in message
    assert not re.search(r"weights_only|Re-running", message)


def test_valid_fp16_and_strict_false_with_a_few_missing_tensors_still_load(tmp_path):
    tensors = {k: v.half() for k, v in small_model().state_dict().items() if k != "blocks.1.mlp.fc2.bias"}
    path = safetensors_file(tmp_path / "half.safetensors", tensors)
    with pytest.warns(UserWarning, match="missing"):
        model = load_checkpoint(path, heads=2, strict=False)
    assert torch.equal(model.blocks[1].mlp.fc2.bias, torch.zeros(16))
