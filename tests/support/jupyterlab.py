"""Drive a real JupyterLab from Chromium: start a private server, open a lesson, run it, find its widgets.

Used by ``tests/widgets/test_browser_widgets.py`` and ``scripts/make_screenshots.py``. The server listens on
127.0.0.1 with a random free port and token, keeps its settings, workspaces and runtime files in a
temporary folder (the kernel starts by itself, no news pop-up, no windowing of cells) and exposes
``window.jupyterapp`` so that the page can be asked whether the kernel is connected and idle.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from support.browser import wait_until

SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True,
                                                                    "windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}

KERNEL_IDLE_JS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

RUN_ALL_JS = """async () => {  // stored counts and outputs are cleared first, so that they do not look like a run
  await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');
  window.jupyterapp.commands.execute('notebook:run-all-cells');
  return true;
}"""

CELLS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map(cell => {
    const model = cell.model;
    const outputs = model.type === 'code' ? model.outputs.toJSON() : [];
    return {type: model.type, source: model.sharedModel.getSource(),
            executionCount: model.type === 'code' ? model.executionCount : null,
            errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)};
  });
}"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterLabServer:
    """A private JupyterLab serving ``root_dir``; use as a context manager (stops the server on exit)."""

    def __init__(self, root_dir: str | Path, startup_timeout: float = 120) -> None:
        self.root_dir = Path(root_dir)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._home = tempfile.TemporaryDirectory(prefix="vit_edu_lab_")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str) -> str:
        """Lab URL that opens ``notebook`` (a path relative to the root folder)."""
        return f"{self.base_url}/lab/tree/{notebook}?token={self.token}&reset"

    def _api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.base_url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def start(self) -> JupyterLabServer:
        home = Path(self._home.name)
        for name, values in SETTINGS.items():
            target = home / "settings" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values), encoding="utf-8")
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
                   "--LabApp.expose_app_in_browser=True", "--LabApp.news_url="]
        self.log_path = home / "server.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log()}")
            try:
                return bool(self._api("/api/status"))
            except OSError:
                return False

        wait_until(ready, self.startup_timeout, interval=0.5, message="JupyterLab answering on /api/status")
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self, timeout: float = 30) -> None:
        """Shut the server down (kernels included) through its API, else terminate and kill it."""
        if self.process is not None and self.process.poll() is None:
            try:
                self._api("/api/shutdown", method="POST")
                self.process.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self._home.cleanup()

    def __enter__(self) -> JupyterLabServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def open_notebook(page: Any, server: JupyterLabServer, notebook: str, timeout: float = 120) -> None:
    """Open ``notebook`` in JupyterLab and wait until its kernel is connected and idle."""
    page.goto(server.url(notebook))
    page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout * 1000, polling=250)


def run_all_cells(page: Any, timeout: float = 300) -> list[dict]:
    """Run every cell; wait until all have run (or one raised: Lab stops there) and the kernel is idle.

    Returns the cells' summaries (type, source, execution count, errors).
    """
    page.evaluate(RUN_ALL_JS)
    seen = {"count": 0}

    def done() -> list[dict] | None:
        cells = page.evaluate(CELLS_JS)
        code = [c for c in cells if c["type"] == "code" and c["source"].strip()]
        finished = all(c["executionCount"] is not None for c in code) or any(c["errors"] for c in code)
        seen["count"] = seen["count"] + 1 if finished and page.evaluate(KERNEL_IDLE_JS) else 0
        return cells if seen["count"] >= 2 else None  # twice in a row: not the pause between two cells

    return wait_until(done, timeout, interval=0.5, message="all cells run and the kernel idle")


def cell_output(page: Any, needle: str) -> Any:
    """Locator of the output area of the first code cell whose source contains ``needle``."""
    cells = page.evaluate(CELLS_JS)
    matches = [i for i, cell in enumerate(cells) if cell["type"] == "code" and needle in cell["source"]]
    if not matches:
        raise ValueError(f"no code cell contains {needle!r}")
    cell = page.locator(".jp-Notebook .jp-Cell").nth(matches[0])
    cell.scroll_into_view_if_needed()
    return cell.locator(".jp-OutputArea")


IMAGE_DIGEST_JS = """async img => {
  const bytes = await (await fetch(img.src)).arrayBuffer();
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, '0')).join('');
}"""


def image_digest(image: Any) -> str:
    """SHA-256 of the picture an ``<img>`` shows (its bytes, whether a data:, blob: or http: URL)."""
    return image.evaluate(IMAGE_DIGEST_JS)


def wait_for_new_image(image: Any, before: str, timeout: float = 60) -> str:
    """Wait until the ``<img>`` shows a picture whose digest differs from ``before``; returns the new digest."""

    def changed() -> str | None:
        digest = image_digest(image)
        return digest if digest != before else None

    return wait_until(changed, timeout, interval=0.25, message="a new picture")


RUN_EACH_JS = """async () => {  // one cell at a time, so that a cell that raises does not stop the ones after it
  const app = window.jupyterapp;
  const notebook = app.shell.currentWidget.content;
  await app.commands.execute('notebook:clear-all-cell-outputs');
  for (let i = 0; i < notebook.widgets.length; i++) {
    notebook.activeCellIndex = i;
    await app.commands.execute('notebook:run-cell');
  }
  return notebook.widgets.length;
}"""


def run_each_cell(page: Any, timeout: float = 300) -> list[dict]:
    """Run every cell on its own, as a student who presses Shift+Enter through a lesson, errors and all.

    Returns the cells' summaries (type, source, execution count, errors) once all have run and the kernel is idle.
    """
    page.evaluate(RUN_EACH_JS)

    def done() -> list[dict] | None:
        cells = page.evaluate(CELLS_JS)
        code = [c for c in cells if c["type"] == "code" and c["source"].strip()]
        return cells if all(c["executionCount"] is not None for c in code) and page.evaluate(KERNEL_IDLE_JS) else None

    return wait_until(done, timeout, interval=0.5, message="every cell run and the kernel idle")
