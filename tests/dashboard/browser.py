"""Chromium from the system packages, driven by Selenium; installed here on first use, as root.

Locally the browser tests skip when Chromium cannot be had (not root, no package index);
under CI they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from allotment.bench.servers import exclusive

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "chromedriver"


def _found() -> tuple[str, str] | None:
    driver = shutil.which(DRIVER)
    browser = next((p for p in CHROMIUM_PATHS if Path(p).exists()), None)
    return (browser, driver) if driver and browser else None


def _install() -> str | None:
    """Install chromium and chromium-driver with apt-get; the reason it could not, or None."""
    if os.geteuid() != 0:
        return "chromium and chromium-driver are not installed, and installing them needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]):
        done = subprocess.run(step, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(step)} failed: {done.stderr.strip()[-500:]}"
    return None


def chromium_or_skip() -> tuple[str, str]:
    """(browser, driver) paths, installing the Debian packages when missing."""
    found = _found()
    if found is None:
        # Several test processes may get here at once; apt-get allows one at a time.
        with exclusive(Path(tempfile.gettempdir()) / "allotment-chromium-install.lock"):
            found = _found()
            reason = _install() if found is None else None
            found = found or _found()
        if found is None:
            message = reason or "chromium installed but not found on PATH"
            if os.environ.get("CI"):
                pytest.fail(f"CI requires Chromium for the browser tests: {message}")
            pytest.skip(message)
    return found


def start(browser: str, driver: str, *, width: int = 1280, height: int = 1600):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
