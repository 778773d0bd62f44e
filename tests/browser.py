"""Fixtures for tests of the admin in a real browser: headless Chromium driven by selenium.

tests/conftest.py loads them as a plugin: every test may ask for them.

Needs Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them);
without them the browser tests are skipped, except when REQUIRE_SERVICES=1
(CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(
                "chromium / chromedriver missing (apt-get install chromium chromium-driver)"
            )
        pytest.skip("chromium / chromedriver not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def logged_in(browser: webdriver.Chrome, live_server: Any) -> webdriver.Chrome:
    """The browser signed in to the test's live server as a superuser."""
    return sign_in(browser, live_server.url)


def sign_in(browser: webdriver.Chrome, base_url: str) -> webdriver.Chrome:
    """Make a superuser and sign the browser in to the admin at ``base_url``."""
    User.objects.create_superuser("admin", "admin@example.com", "correct horse")
    browser.delete_all_cookies()
    browser.get(f"{base_url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("correct horse")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "Site administration" in d.page_source)
    return browser


def screenshot(browser: webdriver.Chrome, name: str) -> None:
    """Save the page as docs/<name>.png when SAVE_SCREENSHOTS=1 (to refresh the docs' pictures)."""
    if os.environ.get("SAVE_SCREENSHOTS") != "1":
        return
    docs = Path(__file__).resolve().parents[1] / "docs"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    size = browser.get_window_size()
    browser.set_window_size(size["width"], min(int(height) + 100, 4000))  # the whole page
    try:
        browser.get_screenshot_as_file(str(docs / f"{name}.png"))
    finally:
        browser.set_window_size(size["width"], size["height"])
