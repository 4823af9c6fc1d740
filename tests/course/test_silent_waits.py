"""No silent waits: every lesson cell that runs longer than a few seconds shows a progress bar.

Which cells are slow is measured, not guessed: ``benchmarks/notebook_portability.py`` records the cells
whose nbval run took ``SLOW_CELL_SECONDS`` or more on this project's machine (setting ``native``).
A lesson's first code cell only imports and sets up (importing torch, scikit-learn or transformers
takes seconds once per kernel, with nothing to count): it is exempt from the bar but must stay under
``SETUP_SECONDS``.
"""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from notebook_portability import RESULT, SLOW_CELL_SECONDS  # noqa: E402

from vit_edu.classroom import lesson_paths  # noqa: E402
from vit_edu.training.progress import collapse_redrawn_output, progress_bar  # noqa: E402

BAR = re.compile(r"\d+%\|[# ]+\| \d+/\d+")  # vit_edu.training.progress.BAR_FORMAT as a stored cell shows it
LESSONS = lesson_paths(ROOT / "notebooks")
SETUP_SECONDS = 6.0


def progress_text(cell) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")


def test_the_pattern_recognises_the_course_bar(capsys):
    with progress_bar(3, "training") as bar:
        bar.update(3)
    assert BAR.search(capsys.readouterr().out)
    assert not BAR.search("training finished after 3 steps")


def test_every_lesson_has_measured_cell_times():
    native = json.loads(RESULT.read_text())["results"]["native"]
    missing = [path.stem for path in LESSONS if "slow_cells" not in native.get(path.stem, {})]
    assert not missing, "re-run: python benchmarks/notebook_portability.py --lessons ... --settings native --update"


@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.stem)
def test_slow_cells_show_progress(path):
    slow = json.loads(RESULT.read_text())["results"]["native"].get(path.stem, {}).get("slow_cells", {})
    code_cells = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    silent = {}
    for name, seconds in slow.items():
        index = int(name.split()[-1])  # nbval numbers the code cells from 0
        cell = code_cells[index]
        if index == 0:
            assert seconds < SETUP_SECONDS, f"the set-up cell of {path.stem} takes {seconds} s"
        elif not BAR.search(progress_text(cell)):
            silent[name] = (seconds, cell.source.splitlines()[0][:60])
    assert not silent, (f"cells of {path.stem} run over {SLOW_CELL_SECONDS:g} s without a progress bar "
                        f"(vit_edu.training.progress): {silent}")


def test_stored_progress_is_what_nbval_compares():
    from nbval.plugin import coalesce_streams, get_sanitize_patterns

    patterns = get_sanitize_patterns((ROOT / "notebooks" / "nbval_sanitize.cfg").read_text())

    def sanitized(outputs):
        texts = [output.text for output in coalesce_streams(outputs)]
        for regex, replacement in patterns:
            texts = [re.sub(regex, replacement, text) for text in texts]
        return texts

    redraws = ["\rtraining:   0%|          | 0/8 [00:00<?, ?step/s]", "\rtraining:  50%|#####     | 4/8 [00:01<00:01]",
               "\rtraining: 100%|##########| 8/8 [00:02<00:00, loss=0.3]   ", "\n", "accuracy 0.9\n"]
    cell = nbformat.v4.new_code_cell("train()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in redraws]
    cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text="a warning\n"))
    notebook = nbformat.v4.new_notebook(cells=[cell])
    raw = sanitized([output.copy() for output in cell.outputs])
    assert collapse_redrawn_output(notebook) and not collapse_redrawn_output(notebook)  # once is enough
    assert [output.name for output in cell.outputs] == ["stdout", "stderr"]
    assert cell.outputs[0].text == "training: 100%|##########| 8/8 [00:02<00:00, loss=0.3]\naccuracy 0.9\n"
    assert sanitized(cell.outputs) == raw == ["training: 100%|##########| 8/8 PROGRESS\naccuracy 0.9\n", "a warning\n"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.stem)
def test_stored_lessons_keep_one_line_per_progress_bar(path):
    cells = nbformat.read(path, as_version=4).cells
    redrawn = [index for index, cell in enumerate(cells) if cell.cell_type == "code"
               and any("\r" in output.get("text", "") for output in cell.get("outputs", []))]
    assert not redrawn, f"{path.stem} cells {redrawn} store every redraw of a bar: run python scripts/sync_lessons.py"
