"""Schedule → real beat → real worker → handler, on the configured database and broker."""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from scheduling import cancel_event, schedule_event
from scheduling.models import Occurrence, OccurrenceStatus
from tests.conftest import event_kwargs

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def cleanup_in(seconds: float, entity_id: str):
    return schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            entity_id=entity_id,
            scheduled_time=timezone.now() + timedelta(seconds=seconds),
            payload={"days_to_keep": 30},
        )
    )


def succeeded(event) -> Occurrence | None:
    return Occurrence.objects.filter(event=event, status=OccurrenceStatus.SUCCEEDED).first()


def test_a_one_off_fires_once_through_beat_and_worker(live_system, wait_for) -> None:
    old_result = TaskResult.objects.create(task_id="ancient", status="SUCCESS")
    TaskResult.objects.filter(pk=old_result.pk).update(
        date_done=timezone.now() - timedelta(days=31)
    )
    event = cleanup_in(3, "cleanup-e2e")

    occurrence = wait_for(lambda: succeeded(event), what="the handler to succeed")
    result = wait_for(
        lambda: TaskResult.objects.filter(task_id=occurrence.task_id, status="SUCCESS").first(),
        what="the task result",
    )

    assert occurrence.scheduled_for == event.scheduled_time
    assert occurrence.result["task_results_deleted"] == 1  # the handler's real effect
    assert not TaskResult.objects.filter(task_id="ancient").exists()
    assert result.task_name == "backend.process_event"
    # A few more beat ticks (poll 0.2 s) must not fire it again.
    time.sleep(1.0)
    assert Occurrence.objects.filter(event=event).count() == 1
    assert Occurrence.objects.get(event=event).attempts == 1
    assert TaskResult.objects.filter(task_name="backend.process_event").count() == 1
    assert not PeriodicTask.objects.filter(pk=event.periodic_task_id).exists()


def test_a_cancelled_event_never_runs(live_system, wait_for) -> None:
    cancelled = cleanup_in(1, "cleanup-cancelled")
    sentinel = cleanup_in(3, "cleanup-sentinel")
    assert cancel_event(cancelled.id)

    wait_for(lambda: succeeded(sentinel), what="the sentinel event to run")

    assert not Occurrence.objects.filter(event=cancelled).exists()


def test_a_booked_appointments_reminder_reaches_participants_by_mail(
    live_system, wait_for, django_user_model
) -> None:
    from handlers.models import Notification
    from handlers.services.appointments import book_appointment

    alice = django_user_model.objects.create_user("alice", "alice@example.com", "pw")
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
    # The 15-minute reminder falls 3 seconds from now; the others are past.
    start = timezone.now() + timedelta(minutes=15, seconds=3)
    booking = book_appointment(
        title="Dentist",
        resource="chair-2",
        start_time=start,
        end_time=start + timedelta(minutes=30),
        resource_timezone="America/New_York",
        user_timezone="Europe/London",
        participants=[alice, (bob, "Asia/Tokyo")],
    )
    assert booking.plan.skipped == ["24_hour_reminder", "2_hour_reminder"]

    wait_for(
        lambda: Notification.objects.filter(sent_at__isnull=False).count() == 2,
        what="two reminder e-mails",
    )
    mails = "\n".join(p.read_text() for p in live_system.mail_dir.iterdir())
    assert mails.count("Subject: Reminder: Dentist starts in 15 minutes") == 2
    assert f"{start.astimezone(ZoneInfo('Asia/Tokyo')):%H:%M} JST (Asia/Tokyo)" in mails
    assert "(Europe/London)" in mails
