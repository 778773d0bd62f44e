"""Bulk scheduling at size: duplicates anywhere in a batch, many crontabs, few statements."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
import zoneinfo
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Model, signals
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from scheduling import (
    IdempotencyConflict,
    bulk_insert,
    calendar,
    policies,
    registry,
    schedule_event,
    schedule_events,
)
from scheduling.models import AuditAction, AuditEntry, ScheduledEvent
from scheduling.services import duplicates
from tests.conftest import event_kwargs
from tests.plans import plans_of

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
# More than one lookup chunk, so that duplicates fall in the later ones too.
BIG = duplicates.CHUNK + 500
FIRST = datetime(2026, 12, 2, 9, 0, tzinfo=NY)


def one_off(i: int, **overrides: Any) -> dict[str, Any]:
    fields = {"entity_id": f"appt-{i}", "scheduled_time": FIRST + timedelta(minutes=i)}
    return event_kwargs(**{**fields, **overrides})


def recurring(hour: int, minute: int, zone: str, entity: str) -> dict[str, Any]:
    return event_kwargs(
        entity_id=entity,
        scheduled_time=datetime(2026, 12, 2, hour, minute, tzinfo=ZoneInfo(zone)),
        resource_timezone=zone,
        recurrence={"frequency": "DAILY"},
    )


def statements(run: Callable[[], object]) -> list[str]:
    """The SQL ``run`` sends, without transaction control (which drivers report unevenly)."""
    with CaptureQueriesContext(connection) as captured:
        run()
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(control)]


class TestDuplicatesAcrossABigBatch:
    def test_natural_key_repeats_anywhere_return_the_scheduled_events(self, frozen_now) -> None:
        spots = [0, 7, duplicates.CHUNK - 1, duplicates.CHUNK, BIG - 1]
        existing = {i: schedule_event(**one_off(i)) for i in spots}
        entries = AuditEntry.objects.count()

        events = schedule_events([one_off(i) for i in range(BIG)])

        assert [events[i].id for i in spots] == [existing[i].id for i in spots]
        assert ScheduledEvent.objects.count() == BIG
        assert len({event.id for event in events}) == BIG
        # Audited once each: the repeats are not scheduled again.
        assert AuditEntry.objects.count() == entries + BIG - len(spots)

    def test_repeats_within_the_batch_far_apart_are_one_event(self, frozen_now) -> None:
        items = [one_off(i) for i in range(BIG)]
        items.append(one_off(3))
        items.append(one_off(duplicates.CHUNK + 1, idempotency_key="late-key"))

        events = schedule_events(items)

        assert events[-2].id == events[3].id
        assert events[-1].id == events[duplicates.CHUNK + 1].id
        assert ScheduledEvent.objects.count() == BIG

    def test_a_cancelled_event_in_a_later_chunk_does_not_count(self, frozen_now) -> None:
        from scheduling import cancel_event

        old = schedule_event(**one_off(BIG - 2))
        cancel_event(old.id)

        events = schedule_events([one_off(i) for i in range(BIG)])

        assert events[BIG - 2].id != old.id
        assert ScheduledEvent.objects.filter(status="scheduled").count() == BIG

    def test_idempotency_keys_anywhere_return_the_first_events(self, frozen_now) -> None:
        spots = [1, duplicates.CHUNK + 3, BIG - 1]
        # Keyed events at other times: found by key, not by natural key.
        existing = {
            i: schedule_event(**one_off(i, idempotency_key=f"k-{i}", entity_id=f"keyed-{i}"))
            for i in spots
        }
        items = [one_off(i) for i in range(BIG)]
        for i in spots:
            items[i] = one_off(i, idempotency_key=f"k-{i}", entity_id=f"keyed-{i}")

        events = schedule_events(items)

        assert [events[i].id for i in spots] == [existing[i].id for i in spots]
        assert ScheduledEvent.objects.count() == BIG

    def test_a_key_reused_for_another_event_late_in_the_batch_writes_nothing(
        self, frozen_now
    ) -> None:
        schedule_event(**one_off(0, idempotency_key="taken"))
        before = ScheduledEvent.objects.count(), AuditEntry.objects.count()
        items = [one_off(i) for i in range(1, BIG)]
        items.append(one_off(BIG + 5, idempotency_key="taken"))

        with pytest.raises(IdempotencyConflict):
            schedule_events(items)

        assert (ScheduledEvent.objects.count(), AuditEntry.objects.count()) == before


class TestManyCrontabsInOneBatch:
    # 24 hours x 7 minutes x 1 zone: more patterns than one lookup query takes.
    PATTERNS = [(hour, minute) for hour in range(24) for minute in range(0, 35, 5)]

    def batch(self, prefix: str) -> list[dict[str, Any]]:
        return [
            recurring(hour, minute, "Asia/Kolkata", f"{prefix}-{hour}-{minute}")
            for hour, minute in self.PATTERNS
        ]

    def test_each_event_gets_the_row_of_its_own_pattern(self, frozen_now) -> None:
        events = schedule_events(self.batch("a"))

        for event, (hour, minute) in zip(events, self.PATTERNS, strict=True):
            crontab = event.periodic_task.crontab
            assert (crontab.hour, crontab.minute) == (str(hour), str(minute))
            assert str(crontab.timezone) == "Asia/Kolkata"
        assert CrontabSchedule.objects.count() == len(self.PATTERNS)

    def test_a_second_batch_shares_the_rows(self, frozen_now) -> None:
        first = schedule_events(self.batch("a"))
        again = schedule_events(self.batch("b"))

        assert CrontabSchedule.objects.count() == len(self.PATTERNS)
        assert [e.periodic_task.crontab_id for e in again] == [
            e.periodic_task.crontab_id for e in first
        ]

    def test_a_pattern_with_two_rows_gets_the_oldest(self, frozen_now) -> None:
        # An admin can add a crontab equal to an existing one: the table has no
        # unique constraint.
        fields = {"minute": "0", "hour": "9", "day_of_week": "*", "timezone": "Asia/Kolkata"}
        oldest = CrontabSchedule.objects.create(**fields)
        CrontabSchedule.objects.create(**fields)

        [event] = schedule_events([recurring(9, 0, "Asia/Kolkata", "twice")])

        assert event.periodic_task.crontab_id == oldest.id
        assert CrontabSchedule.objects.count() == 2

    def test_the_rows_are_looked_up_by_row_value_not_an_or_per_pattern(self, frozen_now) -> None:
        # The ORM's OR of six-column ANDs cost six times the query to build.
        with CaptureQueriesContext(connection) as queries:
            schedule_events(self.batch("a"))
        lookups = [
            q["sql"] for q in queries if "FROM" in q["sql"] and "crontabschedule" in q["sql"]
        ]
        lookups = [sql for sql in lookups if "INSERT" not in sql]
        # Read, then read again under the pattern locks for the missing ones.
        assert len(lookups) == 4  # 168 patterns: two chunks, twice
        assert all(" IN (VALUES " in sql and " OR " not in sql for sql in lookups)

    def test_zones_keep_equal_patterns_apart(self, frozen_now) -> None:
        events = schedule_events(
            [recurring(9, 0, zone, f"z-{zone}") for zone in ("UTC", "Asia/Kolkata", "Europe/Paris")]
        )

        assert len({event.periodic_task.crontab_id for event in events}) == 3


class TestStatements:
    def test_a_batch_sends_as_many_statements_at_100_as_at_1000(self, frozen_now) -> None:
        def batch(prefix: str, n: int) -> list[dict[str, Any]]:
            items = [one_off(i, entity_id=f"{prefix}-{i}") for i in range(n)]
            items += [recurring(8 + i % 4, 0, "UTC", f"{prefix}-r{i}") for i in range(n // 5)]
            return items

        # Both with the crontabs existing, so neither creates any.
        schedule_events(batch("warm", 20))
        small = statements(lambda: schedule_events(batch("small", 100)))
        large = statements(lambda: schedule_events(batch("large", 1000)))

        if connection.vendor == "postgresql":
            assert len(large) == len(small)
        else:
            # SQLite: an INSERT ... RETURNING takes at most 1,000 rows.
            assert len(large) <= len(small) + 2
        lookups = [sql for sql in large if sql.startswith("SELECT") and "nextval" not in sql]
        assert len(lookups) == 2  # duplicates, crontabs

    @pytest.mark.parametrize("key", [None, "k-1"])
    def test_one_event_is_one_lookup_and_few_inserts(self, frozen_now, key) -> None:
        sent = statements(lambda: schedule_event(**event_kwargs(idempotency_key=key)))

        if connection.vendor == "postgresql":
            # The clock, beat row, event and audit entry as one statement.
            assert [sql.split()[0] for sql in sent] == ["SELECT", "WITH"]
        else:
            assert [sql.split()[0] for sql in sent] == ["SELECT"] + ["INSERT"] * 4

    def test_one_recurring_event_reads_back_as_written(self, frozen_now) -> None:
        written = schedule_event(**recurring(9, 0, "Asia/Kolkata", "one"))

        stored = ScheduledEvent.objects.select_related("periodic_task__crontab").get()
        assert stored.periodic_task_id == written.periodic_task.pk
        assert stored.periodic_task.crontab.hour == "9"
        assert json.loads(stored.periodic_task.kwargs) == {"event_id": str(written.id)}
        assert stored.next_run_at == written.next_run_at is not None
        assert AuditEntry.objects.get().target == str(written.id)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite runs one writer at a time: two bookings cannot interleave",
)
@pytest.mark.django_db(transaction=True)
def test_two_bookings_creating_one_pattern_at_once_make_one_row(frozen_now) -> None:
    # The first booking looks for the pattern, finds none and pauses; the
    # second finds none too, creates it and commits; the first must then use
    # that row, not insert a second one.
    first_looked, second_done = threading.Event(), threading.Event()

    def pause_after_crontab_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("SELECT") and "crontabschedule" in sql and not first_looked.is_set():
            first_looked.set()
            second_done.wait(timeout=10)
        return result

    def first() -> ScheduledEvent:
        with connection.execute_wrapper(pause_after_crontab_read):
            return schedule_event(**recurring(9, 0, "Asia/Kolkata", "first"))

    def second() -> ScheduledEvent:
        try:
            first_looked.wait(timeout=10)
            return schedule_event(**recurring(9, 0, "Asia/Kolkata", "second"))
        finally:
            second_done.set()

    def own_connection(book: Callable[[], ScheduledEvent]) -> ScheduledEvent:
        try:
            return book()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(own_connection, first), pool.submit(own_connection, second)
        events = [a.result(), b.result()]

    assert CrontabSchedule.objects.count() == 1
    assert {event.periodic_task.crontab_id for event in events} == {
        CrontabSchedule.objects.get().id
    }


class TestRowsWrittenInBulk:
    """Batches of bulk_insert.FROM_ROWS or more take the COPY / executemany path."""

    def batch(self) -> list[dict[str, Any]]:
        items = [one_off(i, payload={"n": i, "text": "é ü \\ \" ' \t"}) for i in range(120)]
        items += [recurring(9, 0, "Asia/Kolkata", f"r-{i}") for i in range(60)]
        return items

    def test_they_read_back_as_written(self, frozen_now) -> None:
        events = schedule_events(self.batch())

        for i, written in enumerate(events):
            stored = ScheduledEvent.objects.select_related(
                "periodic_task__clocked", "periodic_task__crontab"
            ).get(id=written.id)
            task = stored.periodic_task
            assert json.loads(task.kwargs) == {"event_id": str(written.id)}
            assert str(written.id) in task.name
            assert (stored.payload, stored.recurrence) == (written.payload, written.recurrence)
            assert stored.next_run_at == written.next_run_at is not None
            assert stored.created_at == stored.updated_at == frozen_now
            assert task.date_changed == frozen_now
            assert task.enabled is True
            if i < 120:
                assert stored.payload == {"n": i, "text": "é ü \\ \" ' \t"}
                assert task.one_off is True
                assert task.clocked.clocked_time == stored.scheduled_time
            else:
                assert task.crontab.hour == "9"
                assert task.start_time == stored.scheduled_time

    def test_audit_entries_carry_their_details(self, frozen_now) -> None:
        events = schedule_events(self.batch())

        entries = {e.target: e for e in AuditEntry.objects.filter(action=AuditAction.SCHEDULE)}
        assert len(entries) == len(events)
        last = entries[str(events[-1].id)]
        assert last.details["recurring"] is True
        assert last.at == frozen_now

    def test_ids_taken_in_bulk_leave_single_inserts_working(self, frozen_now) -> None:
        schedule_events(self.batch())
        one = schedule_event(**one_off(500))
        more = schedule_events([one_off(600 + i) for i in range(60)])

        task_ids = [one.periodic_task_id, *(e.periodic_task_id for e in more)]
        assert len(set(task_ids)) == 61


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite runs one writer at a time: two bookings cannot interleave",
)
@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_lookup_missed_a_commit_returns_the_committed_event(frozen_now) -> None:
    # The batch reads the table, then another booking commits one of its
    # events: the batch's COPY meets the unique constraint, and the retry
    # finds that event instead of failing or making a second one.
    looked, committed = threading.Event(), threading.Event()

    def pause_after_lookup(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("SELECT") and "scheduledevent" in sql and not looked.is_set():
            looked.set()
            committed.wait(timeout=10)
        return result

    def batch() -> list[ScheduledEvent]:
        with connection.execute_wrapper(pause_after_lookup):
            return schedule_events([one_off(i) for i in range(100)])

    def other() -> ScheduledEvent:
        try:
            looked.wait(timeout=10)
            return schedule_event(**one_off(60))
        finally:
            committed.set()

    def own_connection(book: Callable[[], Any]) -> Any:
        try:
            return book()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        batched, single = pool.submit(own_connection, batch), pool.submit(own_connection, other)
        events, first = batched.result(), single.result()

    assert events[60].id == first.id
    assert ScheduledEvent.objects.count() == 100
    assert AuditEntry.objects.count() == 100


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_a_batch_looks_its_keys_up_by_index_whatever_the_statistics_say(frozen_now) -> None:
    keyed = [one_off(i, idempotency_key=f"key-{i}") for i in range(3000)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduling_scheduledevent")  # statistics: an empty table
    schedule_events(keyed)
    # The same keys again with new ones: 3,000 events in the table, 2,000 tuples a chunk.
    again = [*keyed[:1000], *(one_off(5000 + i) for i in range(1000))]
    with plans_of(lambda sql: sql.startswith("SELECT") and "unnest" in sql) as plans:
        events = schedule_events(again)

    assert ScheduledEvent.objects.count() == 4000
    assert [e.idempotency_key for e in events[:1000]] == [f"key-{i}" for i in range(1000)]
    assert len(plans) == 2  # one chunk of keys, one of natural keys
    for plan in plans:
        assert "Nested Loop" in plan
        assert "Index Scan" in plan
        assert "Hash" not in plan
        assert "Seq Scan on scheduling_scheduledevent" not in plan
        assert "Bitmap" not in plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own value forms")
@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY),  # the repeated hour, second time
        datetime(2026, 3, 8, 3, 0, tzinfo=NY),
        datetime(2026, 12, 1, 12, 0, 0, 5, tzinfo=ZoneInfo("Asia/Kolkata")),
        None,
    ],
)
def test_bulk_inserts_store_datetimes_as_django_does_on_sqlite(value) -> None:
    from django.db.models import DateTimeField

    from scheduling.bulk_insert import _converter, _this_thread

    field = DateTimeField()
    bind, _ = _converter(field, "sqlite", utc=True) or (None, False)
    assert bind is not None
    assert bind(_this_thread())(value) == field.get_db_prep_save(value, connection)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own value forms")
def test_bulk_inserts_store_uuids_as_django_does_on_sqlite() -> None:
    import uuid

    from django.db.models import UUIDField

    from scheduling.bulk_insert import _converter, _this_thread

    field, value = UUIDField(), uuid.uuid4()
    bind, _ = _converter(field, "sqlite", utc=True) or (None, False)
    assert bind is not None
    assert bind(_this_thread())(value) == field.get_db_prep_save(value, connection)


class TestWhatIsWrittenWithoutFullClean:
    """The write path trusts build_event_spec's checks instead of Model.full_clean()."""

    def test_events_at_every_limit_are_what_full_clean_accepts(self, frozen_now) -> None:
        longest_zone = max(zoneinfo.available_timezones(), key=len)
        events = schedule_events(
            [
                one_off(
                    0,
                    entity_id="e" * 128,
                    service_id="s" * 64,
                    idempotency_key="k" * 255,
                    resource_timezone=longest_zone,
                    user_timezone=longest_zone,
                    execution_timezone=longest_zone,
                ),
                recurring(9, 0, "Australia/Lord_Howe", "rule-1"),
                one_off(1, payload={"text": "é" * 1000, "nested": [[[{"a": None}]]]}),
            ]
        )

        for event in ScheduledEvent.objects.filter(pk__in=[e.pk for e in events]):
            event.full_clean()  # raises ValidationError naming any field it refuses

    @pytest.mark.parametrize(
        ("zone", "first"),
        [
            # 02:30 does not exist on 2027-03-14 in New York: just after the gap.
            ("America/New_York", datetime(2027, 3, 14, 2, 30)),
            # 01:30 happens twice on 2027-11-07 in New York: the first of the two.
            ("America/New_York", datetime(2027, 11, 7, 1, 30)),
            # Lord Howe moves by 30 minutes; 02:15 is in its gap on 2027-10-03.
            ("Australia/Lord_Howe", datetime(2027, 10, 3, 2, 15)),
            ("Asia/Kolkata", datetime(2027, 1, 1, 9, 0)),
        ],
    )
    def test_a_recurring_events_first_run_is_its_beat_rows_next_slot(
        self, frozen_now, zone: str, first: datetime
    ) -> None:
        # The first run comes from the rule checked at validation; the beat
        # row (the calendar beat reads afterwards) must agree to the microsecond.
        [event] = schedule_events(
            [
                event_kwargs(
                    entity_id="rule",
                    scheduled_time=first.replace(tzinfo=ZoneInfo(zone)),
                    resource_timezone=zone,
                    recurrence={"frequency": "DAILY"},
                )
            ]
        )

        stored = ScheduledEvent.objects.select_related("periodic_task__crontab").get(pk=event.pk)
        from_beat_row = calendar.next_run_from_beat_row(
            stored, after=frozen_now - timedelta(microseconds=1)
        )
        assert stored.next_run_at == from_beat_row
        assert stored.next_run_at is not None
        assert stored.next_run_at > frozen_now

    def test_a_type_with_jitter_starts_off_its_slot_by_its_offset(
        self, frozen_now, monkeypatch
    ) -> None:
        declared = registry.get("APPOINTMENT_REMINDER")
        assert declared is not None
        monkeypatch.setitem(
            registry._TYPES,
            declared.name,
            dataclasses.replace(declared, jitter=timedelta(minutes=10)),
        )
        [event] = schedule_events([recurring(9, 0, "Europe/London", "jittered")])

        offset = policies.jitter_offset(event)
        slot = datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("Europe/London"))
        assert offset > timedelta(0)
        assert ScheduledEvent.objects.get(pk=event.pk).next_run_at == slot + offset


class TestBuild:
    """bulk_insert.build(model, **values) is model(**values), built positionally."""

    @pytest.mark.parametrize(
        ("model", "values"),
        [
            (
                PeriodicTask,
                {"name": "n", "task": "t", "kwargs": "{}", "one_off": True, "clocked_id": None},
            ),
            (ClockedSchedule, {"clocked_time": datetime(2027, 1, 1, tzinfo=UTC)}),
            (
                ScheduledEvent,
                {
                    "event_type": "APPOINTMENT_REMINDER",
                    "entity_id": "appt-1",
                    "payload": {"a": [1]},
                    "recurrence": None,
                },
            ),
            (AuditEntry, {"action": AuditAction.SCHEDULE, "target": "x", "details": {"k": 1}}),
        ],
    )
    def test_every_column_is_as_keyword_construction_sets_it(self, model, values) -> None:
        built = bulk_insert.build(model, **values)
        expected = model(**values)

        columns = [f.attname for f in model._meta.concrete_fields]
        differ = {
            name: (getattr(built, name), getattr(expected, name))
            for name in columns
            # A callable default (a new UUID) differs each call, as it must.
            if name != "id" or "id" in values
            if getattr(built, name) != getattr(expected, name)
        }
        assert differ == {}
        assert built._state.adding
        assert built.pk is None or isinstance(built.pk, uuid.UUID)
        # Nothing set beside the columns (their values in __dict__, as
        # __init__ leaves them) and the instance's state.
        assert set(vars(built)) == {*columns, "_state"}

    def test_a_callable_default_is_called_for_each_instance(self) -> None:
        first, second = bulk_insert.build(ScheduledEvent), bulk_insert.build(ScheduledEvent)
        assert first.id != second.id
        assert first.created_at is None  # auto_now_add: set when inserted

    def test_a_related_instance_given_is_set_as_keyword_construction_sets_it(self) -> None:
        task = bulk_insert.build(PeriodicTask, name="n", task="t")
        event = bulk_insert.build(ScheduledEvent, periodic_task=task)
        assert event.periodic_task is task
        assert "periodic_task" not in vars(event)

    def test_a_name_that_is_no_column_is_refused_as_keyword_construction_refuses_it(self) -> None:
        with pytest.raises(TypeError, match="unexpected keyword"):
            bulk_insert.build(ScheduledEvent, bogus=1)

    def test_a_models_init_receivers_still_hear_of_it(self) -> None:
        heard: list[dict[str, Any]] = []

        def receiver(sender: Any, instance: Model, **kwargs: Any) -> None:
            heard.append({"sender": sender, "name": instance.name})

        signals.post_init.connect(receiver, sender=PeriodicTask)
        try:
            built = bulk_insert.build(PeriodicTask, name="heard", task="t")
        finally:
            signals.post_init.disconnect(receiver, sender=PeriodicTask)
        assert heard == [{"sender": PeriodicTask, "name": "heard"}]
        assert built.name == "heard"


class TestRelate:
    """bulk_insert.relate(obj, name, parent) is ``obj.<name> = parent`` for new instances."""

    def test_an_unsaved_parent_is_cached_and_its_id_left_for_the_insert(self) -> None:
        clock = bulk_insert.build(ClockedSchedule, clocked_time=datetime(2027, 1, 1, tzinfo=UTC))
        task = bulk_insert.build(PeriodicTask, name="n", task="t")
        bulk_insert.relate(task, "clocked", clock)
        assert task.clocked is clock
        assert task.clocked_id is None

    @pytest.mark.django_db
    def test_a_saved_parent_gives_its_id(self) -> None:
        clock = ClockedSchedule.objects.create(clocked_time=datetime(2027, 1, 1, tzinfo=UTC))
        task = bulk_insert.build(PeriodicTask, name="n", task="t")
        bulk_insert.relate(task, "clocked", clock)
        assert task.clocked_id == clock.pk
        assert task.clocked is clock

    def test_a_one_to_one_is_cached_both_ways_as_the_descriptor_does(self) -> None:
        task = bulk_insert.build(PeriodicTask, name="n", task="t")
        event = bulk_insert.build(ScheduledEvent)
        expected_task = bulk_insert.build(PeriodicTask, name="n", task="t")
        expected_event = bulk_insert.build(ScheduledEvent)
        expected_event.periodic_task = expected_task

        bulk_insert.relate(event, "periodic_task", task)
        assert event.periodic_task is task
        assert task.scheduled_event is event
        assert event._state.fields_cache.keys() == expected_event._state.fields_cache.keys()
        assert task._state.fields_cache.keys() == expected_task._state.fields_cache.keys()

    @pytest.mark.django_db
    def test_related_rows_insert_linked(self) -> None:
        clocks = [
            bulk_insert.build(ClockedSchedule, clocked_time=datetime(2027, 1, 1, tzinfo=UTC))
            for _ in range(bulk_insert.FROM_ROWS)
        ]
        tasks = [
            bulk_insert.build(PeriodicTask, name=f"related {i}", task="t", one_off=True)
            for i in range(len(clocks))
        ]
        for task, clock in zip(tasks, clocks, strict=True):
            bulk_insert.relate(task, "clocked", clock)
        bulk_insert.insert(clocks)
        bulk_insert.insert(tasks)

        stored = dict(
            PeriodicTask.objects.filter(name__startswith="related ").values_list("pk", "clocked_id")
        )
        assert stored == {task.pk: clock.pk for task, clock in zip(tasks, clocks, strict=True)}


@pytest.mark.django_db
def test_a_bulk_insert_reaches_the_connection_once_not_per_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A JSONField reads connection.ops for every value it converts; through
    # Django's ``connection`` proxy each read looked the connection up again
    # (3 % of a 10,000-event bulk call).
    from django.utils.connection import ConnectionProxy

    from scheduling import audit

    entries = audit.entries(AuditAction.SCHEDULE, ((f"target-{i}", {"n": i}) for i in range(200)))
    reads: list[str] = []
    through_proxy = ConnectionProxy.__getattr__

    def counted(self: ConnectionProxy, name: str) -> Any:
        reads.append(name)
        return through_proxy(self, name)

    monkeypatch.setattr(ConnectionProxy, "__getattr__", counted)
    bulk_insert.insert(entries, ids=False)
    monkeypatch.undo()

    assert AuditEntry.objects.filter(target__startswith="target-").count() == 200
    assert len(reads) < 20


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's COPY")
def test_a_copys_rows_are_converted_as_it_sends_them(
    frozen_now, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Converted all first, the server had nothing to take in while each
    # payload was encrypted; converted as sent, it works on the other core.
    import psycopg

    from scheduling import encryption

    steps: list[str] = []
    encrypt, write_row = encryption.encrypt, psycopg.Copy.write_row

    def encrypting(data: bytes) -> str:
        steps.append("encrypt")
        return encrypt(data)

    def writing(self: psycopg.Copy, row: Any) -> None:
        steps.append("write")
        write_row(self, row)

    monkeypatch.setattr(encryption, "encrypt", encrypting)
    monkeypatch.setattr(psycopg.Copy, "write_row", writing)
    n = 2 * bulk_insert.FROM_ROWS
    schedule_events([one_off(i) for i in range(n)])

    assert steps.count("encrypt") == n
    # The events' COPY: each payload encrypted just before its row is written.
    first_write = steps.index("write", steps.index("encrypt"))
    assert steps[first_write - 1 : first_write + 3] == ["encrypt", "write", "encrypt", "write"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's sequences")
@pytest.mark.django_db
def test_ids_taken_ahead_of_a_copy_look_the_sequence_up_once() -> None:
    # pg_get_serial_sequence() in the select list ran once per id: nine
    # tenths of the statement for 20,000 ids.
    from scheduling.bulk_insert import _next_ids

    with plans_of(lambda sql: "nextval" in sql, verbose=True) as plans:
        ids = _next_ids(PeriodicTask, 300)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('django_celery_beat_periodictask', 'id'))"
        )
        [(after,)] = cursor.fetchall()

    assert len(set(ids)) == 300
    assert after > max(ids)  # taken from the sequence: no later insert reuses one
    [plan] = plans
    per_row = plan.splitlines()[1]  # the top node's output: what runs for each id
    assert "nextval" in per_row
    assert "pg_get_serial_sequence" not in per_row
