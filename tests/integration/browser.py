"""Headless Chromium (through selenium) for the tests that open a page as a person would, and the selenium
names they use. Importing this module skips the importing test module, saying how to install what is missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip(
        f"headless Chromium not found ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver", allow_module_level=True
    )
pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[dev]' (or pip install selenium)")

from selenium import webdriver  # noqa: E402  (after the skips: the module is optional)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402

__all__ = ["By", "WebElement", "chromium", "webdriver"]


@contextmanager
def chromium(width: int, height: int) -> Iterator[webdriver.Chrome]:
    """A headless Chromium window of that size whose console messages `get_log("browser")` returns."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
