"""Make the README's screenshots in a real JupyterLab (the browser tests' code: support.jupyterlab).

    python scripts/make_screenshots.py             # writes docs/*.png that do not exist yet
    python scripts/make_screenshots.py --force     # replace them (commit the new pictures deliberately)
    python scripts/make_screenshots.py --only lesson

Each lesson is copied to a temporary folder, opened in a private JupyterLab, run top to bottom,
and photographed by headless Chromium; the repository's notebooks are not touched.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser drivers live in tests/support/
SHOTS = {  # name -> (lesson, code of the widget's cell, what to photograph)
    "attention_explorer": ("07_attention_maps.ipynb", "attention_explorer_widget(", "widget"),
    "lesson": ("01_patching.ipynb", "patch_explorer_widget(", "window"),
    "attention_maps": ("07_attention_maps.ipynb", "head_grid_figure(", "widget"),
}


def photograph(name: str, lesson: str, needle: str, kind: str, target: Path) -> None:
    from support.browser import chromium
    from support.jupyterlab import (
        JupyterLabServer,
        cell_output,
        image_digest,
        open_notebook,
        run_all_cells,
        wait_for_new_image,
    )

    with tempfile.TemporaryDirectory() as root:
        shutil.copy(ROOT / "notebooks" / lesson, Path(root) / lesson)
        with JupyterLabServer(root) as server, chromium(viewport=(1280, 860)) as context:
            page = context.new_page()
            open_notebook(page, server, lesson)
            cells = run_all_cells(page)
            errors = [c["errors"] for c in cells if c["errors"]]
            if errors:
                raise RuntimeError(f"{lesson} raised in JupyterLab: {errors}")
            output = cell_output(page, needle)
            if name == "attention_explorer":  # show a clicked patch rather than the opening view
                canvas = output.locator("img[alt='click a patch']").first
                before = image_digest(canvas)
                box = canvas.bounding_box()
                canvas.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.45})
                wait_for_new_image(canvas, before)
            page.evaluate("() => { window.jupyterapp.shell.collapseLeft(); window.jupyterapp.shell.collapseRight(); "
                          "if (document.activeElement) { document.activeElement.blur(); } }")
            page.wait_for_timeout(500)  # the panels' transition
            if kind == "widget":
                output.screenshot(path=str(target))
            else:
                output.evaluate("element => element.scrollIntoView({block: 'center'})")
                page.screenshot(path=str(target))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", default=str(ROOT / "docs"), help="folder for the PNG files (default: docs/)")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {', '.join(SHOTS)}")
    parser.add_argument("--force", action="store_true", help="replace existing pictures")
    args = parser.parse_args()
    names = list(SHOTS) if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SHOTS]
    if unknown:
        parser.error(f"--only: unknown {unknown}; choose from {list(SHOTS)}")
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for name in names:
        lesson, needle, kind = SHOTS[name]
        target = outdir / f"{name}.png"
        if target.exists() and not args.force:
            print(f"{target} exists; pass --force to replace it")
            continue
        if not (ROOT / "notebooks" / lesson).is_file():
            print(f"skipped {name}: notebooks/{lesson} does not exist yet", file=sys.stderr)
            continue
        photograph(name, lesson, needle, kind, target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
