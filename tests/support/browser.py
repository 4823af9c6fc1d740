"""Headless Chromium for the course's browser tests and README screenshots (Playwright, no downloads).

Shared by ``tests/classroom/test_static_site.py``, ``tests/widgets/test_browser_widgets.py`` and
``scripts/make_screenshots.py``. Chromium is the system's (Debian ``chromium``), driven by
Playwright's Python package without ``playwright install``. Pages are opened *offline*: every
request that is not to a local file or to 127.0.0.1 is aborted and recorded, so a page that
needs the network is caught. JupyterLab is driven by :mod:`support.jupyterlab`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
LOCAL_PREFIXES = ("file://", "data:", "blob:", "about:", "http://127.0.0.1:", "ws://127.0.0.1:")


def find_chromium() -> str | None:
    """Path of the Chromium executable: ``$VIT_EDU_CHROMIUM``, else ``chromium`` on the PATH, else ``None``."""
    configured = os.environ.get("VIT_EDU_CHROMIUM")
    if configured:
        return configured if os.path.isfile(configured) else None
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@contextmanager
def chromium(viewport: tuple[int, int] = (1280, 900)) -> Iterator[Any]:
    """A Playwright browser context of the system Chromium (headless, sandbox off, no background traffic)."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise RuntimeError("Chromium not found: install it (Debian: apt-get install -y chromium) "
                           "or set VIT_EDU_CHROMIUM=/path/to/chromium.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            yield context
            context.close()
        finally:
            browser.close()


@dataclass
class PageLog:
    """What a page reported while open: console errors, uncaught exceptions, blocked and failed requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [*self.console_errors, *self.page_errors, *(f"blocked {url}" for url in self.blocked_requests),
                *self.failed_requests]


def watch_offline(page: Any) -> PageLog:
    """Record errors of ``page`` and abort every request that would leave this machine."""
    log = PageLog()
    page.on("console", lambda message: log.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    page.on("requestfailed", lambda request: log.failed_requests.append(f"{request.url}: {request.failure}")
            if not any(url == request.url for url in log.blocked_requests) else None)

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL_PREFIXES):
            route.continue_()
        else:
            log.blocked_requests.append(url)
            route.abort()

    page.route("**/*", route)
    return log


def wait_until(condition: Any, timeout: float, interval: float = 0.25, message: str = "condition") -> Any:
    """Poll ``condition()`` until it returns a truthy value (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not reached within {timeout:.0f} s")
        time.sleep(interval)


STATIC_PAGE_SUMMARY_JS = """
() => {
  const outputs = document.querySelectorAll('.jp-OutputArea-output');
  const images = [...document.querySelectorAll('.jp-OutputArea-output img')];
  const figures = images.filter(img => !img.closest('.jupyter-widgets'));
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  const rendered = [...document.querySelectorAll('.jupyter-widgets.jp-OutputArea-output')]
      .filter(el => el.querySelector('.widget-box, .widget-image, .widget-html, .widget-inline-hbox'));
  const widgetImages = [...document.querySelectorAll('.jupyter-widgets.jp-OutputArea-output img')];
  return {
    outputs: outputs.length,
    images: images.length,
    loadedImages: images.filter(img => img.complete && img.naturalWidth > 0).length,
    figures: figures.length,
    loadedFigures: figures.filter(img => img.complete && img.naturalWidth > 0).length,
    widgetViews: views.length,
    renderedWidgets: rendered.length,
    widgetImages: widgetImages.length,
    loadedWidgetImages: widgetImages.filter(img => img.complete && img.naturalWidth > 0).length,
    sliders: document.querySelectorAll('.widget-slider').length,
    dropdowns: document.querySelectorAll('.widget-dropdown select').length,
    widgetErrors: document.querySelectorAll('.jupyter-widgets-error-widget, .widget-error').length,
    math: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
  };
}
"""


def static_page_summary(page: Any, expected_widget_views: int, timeout: float = 60) -> dict[str, int]:
    """Counts of outputs, loaded images, rendered widgets and typeset equations of an exported lesson.

    Waits until the html-manager has rendered ``expected_widget_views`` widget views and MathJax is done.
    """
    page.wait_for_load_state("load")
    page.evaluate("async () => { const startup = window.MathJax && window.MathJax.startup; "
                  "if (startup && startup.promise) { await startup.promise; } return true; }")
    wait_until(lambda: page.evaluate(STATIC_PAGE_SUMMARY_JS)["renderedWidgets"] >= expected_widget_views,
               timeout, message=f"{expected_widget_views} rendered widget views")
    wait_until(lambda: (lambda s: s["loadedImages"] == s["images"])(page.evaluate(STATIC_PAGE_SUMMARY_JS)),
               timeout, message="all images loaded")
    return page.evaluate(STATIC_PAGE_SUMMARY_JS)
