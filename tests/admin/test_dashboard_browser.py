"""The operations dashboard in a real browser (headless Chromium; fixtures in conftest.py).

``SAVE_SCREENSHOTS=1`` saves the page as docs/dashboard.png.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.dashboard_rows import demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


def test_the_dashboard_from_the_index_to_the_failed_firings(logged_in, live_server) -> None:
    # The live server reads the real clock: the rows are made relative to it.
    demo(timezone.now())
    browser = logged_in
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.LINK_TEXT, "Operations dashboard").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "ops-timeline"))

    beats = browser.find_elements(By.CSS_SELECTOR, "#ops-beat tr.beat-row")
    assert [row.get_attribute("class") for row in beats] == ["beat-row beat-fresh"] * 2
    assert "leader" in beats[0].text
    assert "standby" in beats[1].text
    assert browser.find_element(By.CSS_SELECTOR, "#ops-backlog .ops-figure").text == "3"
    lag_rows = browser.find_elements(By.CSS_SELECTOR, "#ops-lag tr.lag-row")
    assert [row.text.split()[0:2] for row in lag_rows] == [["last", "hour"], ["last", "24"]]
    assert all(" ms" in row.text for row in lag_rows)
    assert "Upcoming, next 24 h, by event type: 240" in browser.page_source
    chart = browser.find_element(By.CSS_SELECTOR, "#ops-timeline svg")
    assert chart.size["width"] > 600
    assert browser.find_elements(By.CSS_SELECTOR, "#ops-failures tr.failure-row")
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        _save_full_page(browser)

    failed = browser.find_element(By.CSS_SELECTOR, "#ops-outcomes a[data-status=failed]")
    count = int(failed.text)
    assert count > 0
    failed.click()
    WebDriverWait(browser, 10).until(lambda d: "/admin/scheduling/occurrence/" in d.current_url)
    assert "status__exact=failed" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == count
    assert all("failed" in row.text for row in rows)


def _save_full_page(browser) -> None:
    # The app list folded away, and the whole page, not only what the window shows.
    browser.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    browser.refresh()
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "ops-timeline"))
    metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1400, "height": metrics["height"], "scale": 1},
        },
    )
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    browser.execute_script("localStorage.removeItem('django.admin.navSidebarIsOpen')")
