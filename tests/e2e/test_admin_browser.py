"""The admin in headless Chromium, with a real beat and worker: what an edit or an
action does is what fires."""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from scheduling import schedule_event
from scheduling.models import Occurrence, OccurrenceStatus
from tests.browser import sign_in
from tests.conftest import event_kwargs
from tests.e2e.conftest import Processes, serve_web

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def web(live_system: Processes) -> str:
    """The Procfile's web process (gunicorn): the admin publishes where the worker reads."""
    return serve_web(live_system, "/admin/login/")


@pytest.fixture
def admin_browser(browser, web: str):
    return sign_in(browser, web)


def cleanup_at(when, entity_id: str):
    return schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            entity_id=entity_id,
            scheduled_time=when,
            payload={"days_to_keep": 30},
        )
    )


def test_an_event_moved_in_the_editor_fires_once_at_its_new_time_never_the_old(
    live_system, wait_for, admin_browser, web
) -> None:
    now = timezone.now().replace(microsecond=0)
    old, new = now + timedelta(seconds=12), now + timedelta(seconds=20)
    event = cleanup_at(old, "moved-in-admin")
    browser = admin_browser
    browser.get(f"{web}/admin/scheduling/scheduledevent/{event.pk}/change/")
    local = new.astimezone(NEW_YORK)  # the form reads the event's zone, as it says
    for name, value in (
        ("scheduled_time_0", local.strftime("%Y-%m-%d")),
        ("scheduled_time_1", local.strftime("%H:%M:%S")),
    ):
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.NAME, "_save").click()
    WebDriverWait(browser, 10).until(lambda d: "was changed successfully" in d.page_source)
    assert timezone.now() < old, "the edit must land before the old time for this test to mean it"

    fired = wait_for(
        lambda: Occurrence.objects.filter(event=event, status=OccurrenceStatus.SUCCEEDED).first(),
        timeout=40,
        what="the moved event to fire",
    )
    assert fired.scheduled_for == new
    assert fired.started_at >= new
    time.sleep(1.0)  # a few more beat ticks (0.2 s) fire nothing more
    assert list(Occurrence.objects.filter(event=event).values_list("scheduled_for", flat=True)) == [
        new
    ]


def test_run_now_fires_through_the_worker_and_keeps_the_schedule(
    live_system, wait_for, admin_browser, web
) -> None:
    later = timezone.now() + timedelta(days=1)
    event = cleanup_at(later, "run-now-in-admin")
    browser = admin_browser
    browser.get(f"{web}/admin/scheduling/scheduledevent/?q={event.pk}")
    browser.find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("run_selected_now")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    WebDriverWait(browser, 10).until(lambda d: "Sent 1 events to run now" in d.page_source)

    fired = wait_for(
        lambda: Occurrence.objects.filter(event=event, status=OccurrenceStatus.SUCCEEDED).first(),
        what="the extra firing to succeed",
    )
    assert fired.result["days_to_keep"] == 30  # the handler ran
    event.refresh_from_db()
    assert event.next_run_at == later  # the schedule is unchanged
    browser.get(f"{web}/admin/scheduling/scheduledevent/{event.pk}/change/")
    assert "succeeded" in browser.find_element(By.CSS_SELECTOR, "table.event-occurrences").text
