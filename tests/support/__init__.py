"""Test helpers: drivers for the browser tests (headless Chromium, a JupyterLab server) and what every exercise
check must survive; not part of the package."""
