"""A worker killed in the middle of a handler: its firing runs again, once, within the lease.

Before leases, on the embedded default the occurrence stayed ``running``
forever (the filesystem broker had already handed the message out), and on
Redis it came back only after the visibility timeout (an hour by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from scheduling.models import Notification, Occurrence, OccurrenceStatus
from tests.e2e.conftest import BEAT_ARGS, WORKER_ARGS, Processes, reset_broker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3


@pytest.fixture
def slow_system(tmp_path) -> Iterator[Processes]:
    reset_broker()
    processes = Processes(tmp_path)
    processes.env.update(
        EMAIL_BACKEND="tests.e2e.slow_mail.SlowFileBackend",
        SLOW_MAIL_SECONDS="4",
        SCHEDULING_OCCURRENCE_LEASE_SECONDS=str(LEASE_SECONDS),
        # The worker is killed and started again: a fresh hostname each time.
        CELERY_VISIBILITY_TIMEOUT="3600",
    )
    processes.start("worker", *WORKER_ARGS)
    processes.start("beat", *BEAT_ARGS)
    try:
        yield processes
    finally:
        processes.stop()


def test_a_firing_whose_worker_died_mid_handler_runs_again_once(
    slow_system: Any, django_user_model: Any
) -> None:
    from scheduling.services.appointments import book_appointment

    alice = django_user_model.objects.create_user("alice", "alice@example.com", "pw")
    start = timezone.now() + timedelta(minutes=15, seconds=3)
    booking = book_appointment(
        title="Dentist",
        resource="chair-2",
        start_time=start,
        end_time=start + timedelta(minutes=30),
        resource_timezone="Europe/Paris",
        user_timezone="Europe/Paris",
        participants=[alice],
    )
    [reminder] = [e for e in booking.plan.scheduled if e.event_type == "APPOINTMENT_REMINDER"]

    def running() -> Occurrence | None:
        return Occurrence.objects.filter(event=reminder, status=OccurrenceStatus.RUNNING).first()

    wait_until(slow_system, running, timeout=60, what="the reminder's handler to start")
    slow_system.kill_group("worker")  # in the middle of sending the e-mail
    killed_at = timezone.now()
    slow_system.start("worker", *WORKER_ARGS)

    done = wait_until(
        slow_system,
        lambda: Occurrence.objects.filter(
            event=reminder, status=OccurrenceStatus.SUCCEEDED
        ).first(),
        timeout=90,
        what="the firing to run again after the lease lapsed",
    )
    assert done.attempts == 2
    assert done.republish_count == 1
    assert Occurrence.objects.filter(event=reminder).count() == 1
    assert Notification.objects.filter(sent_at__isnull=False).count() == 1
    mails = [p.read_text() for p in slow_system.mail_dir.iterdir()]
    assert sum(m.count("Subject: Reminder: Dentist") for m in mails) == 1
    # The lease (3 s) plus beat's recovery sweep (every 5 s) plus a worker start.
    assert done.finished_at - killed_at < timedelta(seconds=45)
