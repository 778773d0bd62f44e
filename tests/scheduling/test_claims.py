"""Beat's claims of due firings: set-wise for one-offs, whatever their number."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from scheduling import schedule_event, schedule_events
from scheduling.models import (
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
    occurrence_task_id,
)
from scheduling.services.occurrences import claim_due_occurrences
from tests.conftest import event_kwargs
from tests.plans import plans_of

pytestmark = pytest.mark.django_db(transaction=True)


def _due_one_offs(count: int, *, prefix: str, late: timedelta = timedelta(seconds=1)) -> None:
    when = timezone.now() - late
    schedule_events(
        [event_kwargs(entity_id=f"{prefix}-{i}", scheduled_time=when) for i in range(count)]
    )


def _queries_to_claim(count: int, prefix: str) -> int:
    _due_one_offs(count, prefix=prefix)
    with CaptureQueriesContext(connection) as queries:
        claimed = claim_due_occurrences(now=timezone.now(), limit=1000)
    assert len(claimed) == count
    return len(queries)


def test_claiming_one_offs_takes_the_same_statements_for_3_or_300() -> None:
    # Set-based: a statement per table, not per event (a model instance and an
    # UPDATE each was most of a 10,000-event burst).
    few = _queries_to_claim(3, "few")
    many = _queries_to_claim(300, "many")
    assert many == few
    # BEGIN, the due SELECT (on PostgreSQL between two SET LOCALs), the
    # Occurrence INSERT, the events' UPDATE, two DELETEs of beat rows, COMMIT.
    assert few <= 9


def test_a_batch_of_claims_reads_the_systems_randomness_once(urandom_reads: list[int]) -> None:
    # An os.urandom per occurrence id (uuid4) lets go of the interpreter lock
    # each time: beside the thread publishing the batch before, each wait
    # for it back could last that thread's turn (scheduling.random_ids).
    _due_one_offs(300, prefix="appt")
    schedule_event(**event_kwargs(entity_id="rule", recurrence={"frequency": "DAILY"}))
    ScheduledEvent.objects.filter(entity_id="rule").update(
        next_run_at=timezone.now() - timedelta(seconds=1)
    )
    urandom_reads.clear()
    claimed = claim_due_occurrences(now=timezone.now(), limit=1000)

    assert len(claimed) == 301
    assert urandom_reads == [16 * 300, 16]  # the one-offs', then the rule's
    assert len({dispatch.occurrence_id for dispatch in claimed}) == 301


def test_a_claimed_one_off_is_one_claimed_occurrence_and_leaves_the_beat_tables() -> None:
    _due_one_offs(2, prefix="appt")
    now = timezone.now()
    claimed = claim_due_occurrences(now=now, limit=10)

    assert len(claimed) == 2
    for dispatch in claimed:
        occurrence = Occurrence.objects.get(pk=dispatch.occurrence_id)
        event = occurrence.event
        assert occurrence.status == OccurrenceStatus.CLAIMED
        assert occurrence.trigger == "schedule"
        assert occurrence.attempts == 0
        assert occurrence.claimed_at == now
        assert occurrence.lease_expires_at is not None
        assert occurrence.lease_expires_at > now
        assert dispatch.task_id == occurrence.task_id
        assert dispatch.task_id == occurrence_task_id(event.id, event.scheduled_time.isoformat())
        assert dispatch.scheduled_for == event.scheduled_time
        assert dispatch.event_id == str(event.id)
        assert (event.next_run_at, event.fired_count, event.status) == (None, 1, "scheduled")
        assert event.periodic_task_id is None
    assert not PeriodicTask.objects.filter(task="backend.process_event").exists()
    assert not ClockedSchedule.objects.exists()
    assert claim_due_occurrences(now=now, limit=10) == []


def test_a_clock_another_task_uses_stays_when_its_one_off_fires() -> None:
    event = schedule_event(**event_kwargs(scheduled_time=timezone.now() - timedelta(seconds=1)))
    assert event.periodic_task is not None
    clock = event.periodic_task.clocked
    # An admin pointed a task of their own at the event's clock.
    PeriodicTask.objects.create(
        name="by hand", task="celery.backend_cleanup", clocked=clock, one_off=True
    )

    claim_due_occurrences(now=timezone.now(), limit=10)

    assert ClockedSchedule.objects.filter(pk=clock.pk).exists()
    assert not PeriodicTask.objects.filter(pk=event.periodic_task_id).exists()


def test_a_one_off_already_fired_at_its_instant_is_advanced_not_claimed_again() -> None:
    event = schedule_event(**event_kwargs(scheduled_time=timezone.now() - timedelta(seconds=1)))
    # This instant has an occurrence already (a run kept from an earlier claim).
    Occurrence.objects.create(
        event=event,
        scheduled_for=event.scheduled_time,
        task_id="earlier",
        status=OccurrenceStatus.SUCCEEDED,
        claimed_at=timezone.now(),
    )

    assert claim_due_occurrences(now=timezone.now(), limit=10) == []

    event.refresh_from_db()
    assert event.next_run_at is None
    assert Occurrence.objects.filter(event=event).count() == 1


def test_one_offs_past_their_grace_are_recorded_missed_beside_those_in_time() -> None:
    # APPOINTMENT_REMINDER's grace is 30 minutes.
    _due_one_offs(2, prefix="late", late=timedelta(hours=3))
    _due_one_offs(1, prefix="on-time")

    claimed = claim_due_occurrences(now=timezone.now(), limit=10)

    [dispatch] = claimed
    assert ScheduledEvent.objects.get(pk=dispatch.event_id).entity_id == "on-time-0"
    missed = Occurrence.objects.filter(status=OccurrenceStatus.MISSED)
    assert missed.count() == 2
    assert all(o.lease_expires_at is None and o.finished_at is not None for o in missed)
    assert all("grace for APPOINTMENT_REMINDER" in (o.error or "") for o in missed)
    assert set(
        ScheduledEvent.objects.filter(entity_id__startswith="late").values_list("status", flat=True)
    ) == {EventStatus.MISSED}


def test_one_offs_and_rules_due_together_are_claimed_earliest_first() -> None:
    now = timezone.now()
    rule = schedule_event(
        **event_kwargs(
            entity_id="rule",
            scheduled_time=now - timedelta(minutes=5),
            recurrence={"frequency": "DAILY"},
        )
    )
    _due_one_offs(2, prefix="one-off", late=timedelta(seconds=30))

    # Its first slot came due five minutes ago (beat was down since).
    ScheduledEvent.objects.filter(pk=rule.pk).update(next_run_at=now - timedelta(minutes=5))
    claimed = claim_due_occurrences(now=now, limit=10)

    assert next(d.event_id for d in claimed) == str(rule.id)
    assert len(claimed) == 3
    assert [d.scheduled_for for d in claimed] == sorted(d.scheduled_for for d in claimed)
    rule.refresh_from_db()
    assert rule.next_run_at is not None
    assert rule.next_run_at > now


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_a_burst_is_read_down_the_due_index_whatever_the_statistics_say() -> None:
    from django.db import transaction

    from scheduling.services.occurrences import _read_due

    future = timezone.now() + timedelta(days=2)
    schedule_events(
        [event_kwargs(entity_id=f"later-{i}", scheduled_time=future) for i in range(3000)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduling_scheduledevent")  # statistics: nothing due
    # Then they come due, as a burst does, with no new statistics.
    ScheduledEvent.objects.update(next_run_at=timezone.now() - timedelta(seconds=1))
    locking_reads = plans_of(lambda sql: sql.lstrip().startswith("SELECT") and "FOR UPDATE" in sql)
    with transaction.atomic(), locking_reads as plans:
        assert len(_read_due(timezone.now(), 500)) == 500
        with connection.cursor() as cursor:
            # The rest of the claim plans as it would anyway.
            cursor.execute("SHOW enable_sort")
            assert cursor.fetchone() == ("on",)

    [plan] = plans
    assert "Index Scan using event_due_idx" in plan
    assert "Sort" not in plan
    assert "Bitmap" not in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's unnest insert")
def test_a_claims_insert_sends_arrays_only_of_what_differs_between_rows() -> None:
    # psycopg writes an array element by element in Python: a burst's claims
    # (one instant, one status, one lease) vary in three columns of twelve.
    _due_one_offs(300, prefix="appt")
    with CaptureQueriesContext(connection) as queries:
        claimed = claim_due_occurrences(now=timezone.now(), limit=1000)

    [insert] = [
        q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "scheduling_occurrence"')
    ]
    # A literal array (client-side binding) begins '{; the three: ids, events, task ids.
    assert insert.count("'{") == 3
    occurrences = Occurrence.objects.filter(pk__in=[d.occurrence_id for d in claimed])
    assert occurrences.count() == 300
    assert set(occurrences.values_list("status", "trigger", "attempts", "error")) == {
        (OccurrenceStatus.CLAIMED, "schedule", 0, None)
    }
    assert {(d.task_id, d.event_id) for d in claimed} == {
        (o.task_id, str(o.event_id)) for o in occurrences
    }


def test_a_single_claim_is_inserted_whole() -> None:
    # One row: every column holds one value, none an array to count rows by.
    _due_one_offs(1, prefix="alone")
    [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)

    occurrence = Occurrence.objects.get(pk=dispatch.occurrence_id)
    assert occurrence.task_id == dispatch.task_id
    assert occurrence.status == OccurrenceStatus.CLAIMED
    assert occurrence.lease_expires_at is not None
