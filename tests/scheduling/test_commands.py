from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from handlers.models import Appointment
from scheduling.models import EventStatus, ScheduledEvent

pytestmark = pytest.mark.django_db


def test_setup_system_events_is_idempotent(frozen_now) -> None:
    call_command("setup_system_events", stdout=StringIO())
    call_command("setup_system_events", stdout=StringIO())
    [event] = ScheduledEvent.objects.filter(status=EventStatus.SCHEDULED)
    assert event.event_type == "DATA_CLEANUP"
    assert event.payload == {"days_to_keep": 90}
    assert event.next_run_at.isoformat() == "2026-12-02T03:00:00+00:00"


@pytest.mark.parametrize("args", [["--days-to-keep", "0"], ["--timezone", "Nope"], ["--at", "3pm"]])
def test_setup_system_events_rejects_bad_options(frozen_now, args) -> None:
    with pytest.raises(CommandError):
        call_command("setup_system_events", *args)
    assert ScheduledEvent.objects.count() == 0


def test_demo_creates_an_admin_and_appointments_that_fire_soon(frozen_now, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "s3cret-pass")
    out = StringIO()
    call_command("demo", stdout=out)

    admin = User.objects.get(username="boss")
    assert admin.is_superuser
    assert admin.check_password("s3cret-pass")
    soon, later = Appointment.objects.order_by("start_time")
    soon_events = ScheduledEvent.objects.filter(entity_id=soon.entity_id)
    assert sorted(e.payload.get("reminder_type", "follow-up") for e in soon_events) == [
        "15_minute_reminder",
        "follow-up",
    ]
    assert ScheduledEvent.objects.filter(entity_id=later.entity_id).count() == 4
    assert "skipped ['24_hour_reminder', '2_hour_reminder']" in out.getvalue()
