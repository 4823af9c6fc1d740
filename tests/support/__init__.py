"""Drivers for the browser tests (headless Chromium, a JupyterLab server); not part of the package."""
