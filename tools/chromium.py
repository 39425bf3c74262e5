"""Headless Chromium driven by Selenium, as the dashboard's image (`render_dashboard.py`) and the
dashboard's browser test (tests/ui/test_browser.py) start it: Debian's `chromium` and
`chromium-driver`, never a downloaded browser."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from selenium import webdriver

HEADLESS_FLAGS = (
    "--headless",
    # Root in a container has no user namespace for Chromium's sandbox.
    "--no-sandbox",
    "--disable-gpu",
    # No call home: the machine may reach no network but the package registries.
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


def headless_chromium(
    chromium: str,
    chromedriver: str,
    profile: Path,
    *flags: str,
    prefs: Mapping[str, object] | None = None,
) -> webdriver.Chrome:
    """A headless Chromium with a fresh profile in `profile`, `flags` besides the common ones,
    and Chromium preferences `prefs` (downloads, say)."""
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*HEADLESS_FLAGS, f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    if prefs:
        options.add_experimental_option("prefs", dict(prefs))
    service = webdriver.ChromeService(executable_path=chromedriver)
    return webdriver.Chrome(options=options, service=service)
