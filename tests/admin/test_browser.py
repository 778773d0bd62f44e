"""The admin in a real browser (headless Chromium; fixtures in conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from handlers.services.appointments import book_appointment
from scheduling import schedule_event
from scheduling.models import EventStatus, Occurrence, OccurrenceStatus, ScheduledEvent
from tests.browser import screenshot
from tests.conftest import booking_kwargs, event_kwargs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reschedule_action_from_the_appointment_list(logged_in, live_server) -> None:
    start = timezone.now() + timedelta(days=3)
    appointment = book_appointment(
        **booking_kwargs(start_time=start, end_time=start + timedelta(hours=1))
    ).appointment
    browser = logged_in
    browser.get(f"{live_server.url}/admin/handlers/appointment/")
    row = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr")
    assert "4 events" in row.text
    assert "Check-up" in row.text

    row.find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("reschedule_events")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()

    WebDriverWait(browser, 10).until(lambda d: "Rescheduled events for 1" in d.page_source)
    assert "4 events" in browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr").text
    events = ScheduledEvent.objects.filter(entity_id=appointment.entity_id)
    assert events.filter(status=EventStatus.SCHEDULED).count() == 4
    assert events.filter(status=EventStatus.CANCELLED).count() == 4


def test_editing_a_periodic_tasks_clocked_time_moves_the_event(logged_in, live_server) -> None:
    event = schedule_event(**event_kwargs())
    browser = logged_in
    browser.get(
        f"{live_server.url}/admin/django_celery_beat/periodictask/{event.periodic_task_id}/change/"
    )
    # The clocked schedule is a raw-id field; its link opens the clock's editor.
    raw_id = browser.find_element(By.NAME, "clocked")
    assert raw_id.get_attribute("value") == str(event.periodic_task.clocked_id)
    browser.get(
        f"{live_server.url}/admin/django_celery_beat/clockedschedule/"
        f"{event.periodic_task.clocked_id}/change/"
    )
    date = browser.find_element(By.NAME, "clocked_time_0")
    time = browser.find_element(By.NAME, "clocked_time_1")
    date.clear()
    date.send_keys("2027-01-15")
    time.clear()
    time.send_keys("08:30:00")
    browser.find_element(By.NAME, "_save").click()
    WebDriverWait(browser, 10).until(lambda d: "was changed successfully" in d.page_source)

    event.refresh_from_db()
    assert event.next_run_at.isoformat() == "2027-01-15T08:30:00+00:00"
    browser.get(f"{live_server.url}/admin/scheduling/scheduledevent/?entity_id=appt-1")
    assert "2027-01-15 03:30:00 EST (UTC-05:00)" in browser.page_source  # the event zone


def select_and_act(browser, action: str) -> None:
    browser.find_element(By.ID, "action-toggle").click()  # every row on the page
    Select(browser.find_element(By.NAME, "action")).select_by_value(action)
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()


def test_cancel_action_on_the_event_list(logged_in, live_server) -> None:
    event = schedule_event(**event_kwargs(scheduled_time=timezone.now() + timedelta(days=1)))
    browser = logged_in
    browser.get(f"{live_server.url}/admin/scheduling/scheduledevent/")
    select_and_act(browser, "cancel_selected")
    WebDriverWait(browser, 10).until(lambda d: "Cancelled 1 events" in d.page_source)
    event.refresh_from_db()
    assert event.status == EventStatus.CANCELLED


def test_reschedule_action_asks_for_a_time_and_zone(logged_in, live_server) -> None:
    event = schedule_event(**event_kwargs(scheduled_time=timezone.now() + timedelta(days=1)))
    browser = logged_in
    browser.get(f"{live_server.url}/admin/scheduling/scheduledevent/")
    select_and_act(browser, "reschedule_selected")
    WebDriverWait(browser, 10).until(lambda d: "Reschedule events" in d.title)
    assert browser.find_element(By.NAME, "zone").get_attribute("value") == "America/New_York"
    browser.find_element(By.NAME, "when_0").send_keys("2027-07-04")
    browser.find_element(By.NAME, "when_1").send_keys("12:00:00")
    browser.find_element(By.NAME, "apply").click()
    WebDriverWait(browser, 10).until(lambda d: "Rescheduled 1 events" in d.page_source)
    event.refresh_from_db()
    assert event.next_run_at.isoformat() == "2027-07-04T16:00:00+00:00"  # EDT in July


def test_the_event_page_tells_its_story(logged_in, live_server) -> None:
    event = schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            entity_id="nightly",
            scheduled_time=timezone.now() - timedelta(days=3),
            payload={"days_to_keep": 30},
            recurrence={"frequency": "DAILY"},
        )
    )
    now = timezone.now()
    for days, status, error in (
        (3, OccurrenceStatus.SUCCEEDED, None),
        (2, OccurrenceStatus.FAILED, "Traceback ...\nOperationalError: database is locked"),
        (1, OccurrenceStatus.SUCCEEDED, None),
    ):
        due = now - timedelta(days=days)
        Occurrence.objects.create(
            event=event,
            scheduled_for=due,
            task_id=f"t-{days}",
            status=status,
            attempts=1 if error is None else 6,
            claimed_at=due,
            sent_at=due + timedelta(seconds=1),
            finished_at=due + timedelta(seconds=2),
            error=error,
        )
    browser = logged_in
    browser.get(f"{live_server.url}/admin/scheduling/scheduledevent/{event.pk}/change/")
    page = browser.page_source
    assert "Times are in" in page
    rows = browser.find_elements(By.CSS_SELECTOR, "table.event-occurrences tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, ".status").text for r in rows] == [
        "succeeded",
        "failed",
        "succeeded",
    ]
    assert "OperationalError: database is locked" in rows[1].text
    assert "crontab" in browser.find_element(By.CSS_SELECTOR, ".field-beat_row").text
    assert "event.schedule" in browser.find_element(By.CSS_SELECTOR, "table.event-audit").text
    screenshot(browser, "event-page")


def test_pause_then_resume_actions_on_the_event_list(logged_in, live_server) -> None:
    event = schedule_event(**event_kwargs(scheduled_time=timezone.now() + timedelta(days=1)))
    browser = logged_in
    browser.get(f"{live_server.url}/admin/scheduling/scheduledevent/")
    select_and_act(browser, "pause_selected")
    WebDriverWait(browser, 10).until(lambda d: "Paused 1 events." in d.page_source)
    assert "paused" in browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr").text
    select_and_act(browser, "resume_selected")
    WebDriverWait(browser, 10).until(lambda d: "Resumed 1 events." in d.page_source)
    event.refresh_from_db()
    assert (event.status, event.next_run_at) == (EventStatus.SCHEDULED, event.scheduled_time)


def test_retry_action_on_a_failed_firing(logged_in, live_server) -> None:
    event = schedule_event(**event_kwargs(scheduled_time=timezone.now() - timedelta(minutes=1)))
    failed = Occurrence.objects.create(
        event=event,
        scheduled_for=event.scheduled_time,
        task_id="t-failed",
        status=OccurrenceStatus.FAILED,
        claimed_at=timezone.now(),
        finished_at=timezone.now(),
        error="boom",
    )
    browser = logged_in
    browser.get(f"{live_server.url}/admin/scheduling/occurrence/?status__exact=failed")
    select_and_act(browser, "retry")
    WebDriverWait(browser, 10).until(lambda d: "Sent 1 occurrences again" in d.page_source)
    failed.refresh_from_db()
    assert failed.status == OccurrenceStatus.SENT
