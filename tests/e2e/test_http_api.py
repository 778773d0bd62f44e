"""The HTTP API served by the real web process (gunicorn), with a real worker and beat.

The original guide's async httpx client drives it unchanged, and schemathesis
fuzzes it from its own OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, settings

from scheduling.api import openapi
from scheduling.models import AuditEntry, Occurrence, OccurrenceStatus, ScheduledEvent
from scheduling.services.api_keys import create_api_key
from tests.e2e.conftest import ROOT, Processes, serve_web
from tests.e2e.original_client import EventSchedulerClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def base_url(live_system: Processes) -> str:
    # A budget the fuzzer cannot spend: rate limits have their own tests.
    live_system.env["SCHEDULING_API_RATE_LIMIT"] = "1000000"
    return serve_web(live_system, "/api/openapi.json")


@pytest.fixture
def client(base_url: str) -> EventSchedulerClient:
    return EventSchedulerClient(base_url, create_api_key(service_id="backend")[1])


def test_the_original_client_schedules_lists_and_cancels(client, wait_for) -> None:
    new_york = ZoneInfo("America/New_York")
    start = timezone.now().astimezone(new_york) + timedelta(days=1)

    async def scenario() -> tuple[str, list, bool, bool, list]:
        event_id = await client.schedule_event(
            event_type="APPOINTMENT_REMINDER",
            entity_id="appt-http",
            scheduled_time=start - timedelta(hours=2),
            resource_timezone="America/New_York",
            user_timezone="Asia/Tokyo",
            payload={"appointment_id": "appt-http", "reminder_type": "2_hour_reminder"},
        )
        listed = await client.get_upcoming_events(entity_id="appt-http", timezone="Asia/Tokyo")
        cancelled = await client.cancel_event(event_id)
        unknown = await client.cancel_event("00000000-0000-0000-0000-000000000000")
        after = await client.get_upcoming_events(entity_id="appt-http")
        return event_id, listed, cancelled, unknown, after

    event_id, listed, cancelled, unknown, after = asyncio.run(scenario())

    [item] = listed
    assert item["id"] == event_id
    assert item["type"] == "APPOINTMENT_REMINDER"
    expected = (start - timedelta(hours=2)).astimezone(ZoneInfo("Asia/Tokyo")).isoformat()
    assert item["scheduled_time"] == expected
    assert (cancelled, unknown, after) == (True, False, [])


def test_an_event_scheduled_over_http_fires_through_beat_and_worker(client, wait_for) -> None:
    event_id = asyncio.run(
        client.schedule_event(
            event_type="DATA_CLEANUP",
            entity_id="cleanup-http",
            scheduled_time=timezone.now() + timedelta(seconds=2),
            resource_timezone="Europe/Paris",
            user_timezone="Europe/Paris",
            payload={"days_to_keep": 30},
        )
    )

    occurrence = wait_for(
        lambda: Occurrence.objects.filter(
            event_id=event_id, status=OccurrenceStatus.SUCCEEDED
        ).first(),
        what="the event scheduled over HTTP to run",
    )
    assert "task_results_deleted" in occurrence.result


def test_the_original_client_sees_a_wrong_key_as_an_http_error(base_url) -> None:
    client = EventSchedulerClient(base_url, "not-a-key")

    with pytest.raises(httpx.HTTPStatusError) as error:
        asyncio.run(client.get_upcoming_events())

    assert error.value.response.status_code == 401


# --- The engine's controls, through the client's new methods ---------------------


def cleanup_body(**overrides: Any) -> dict[str, Any]:
    return {
        "event_type": "DATA_CLEANUP",
        "entity_id": "controls-http",
        "resource_timezone": "Europe/Paris",
        "user_timezone": "Europe/Paris",
        "payload": {"days_to_keep": 30},
        **overrides,
    }


def finished(event_id: str, trigger: str) -> Occurrence | None:
    return Occurrence.objects.filter(
        event_id=event_id, trigger=trigger, status=OccurrenceStatus.SUCCEEDED
    ).first()


def test_the_client_pauses_resumes_runs_and_reads_an_event(client, wait_for) -> None:
    due = timezone.now() + timedelta(seconds=2)

    async def pause_it() -> tuple[str, bool, bool]:
        event_id = await client.schedule_event(**cleanup_body(scheduled_time=due))
        return event_id, await client.pause_event(event_id), await client.pause_event(event_id)

    event_id, paused, again = asyncio.run(pause_it())
    assert (paused, again) == (True, False)  # a paused event is not scheduled
    while timezone.now() < due + timedelta(seconds=1.5):  # beat ticks every 0.2 s
        time.sleep(0.2)
    assert not Occurrence.objects.filter(event_id=event_id).exists()  # paused: nothing fired

    assert asyncio.run(client.resume_event(event_id))
    resumed = wait_for(lambda: finished(event_id, "schedule"), what="the resumed event to fire")
    assert resumed.scheduled_for == due  # its own time, late: DATA_CLEANUP has no grace

    async def run_and_read() -> tuple[str | None, dict[str, Any] | None]:
        return await client.run_event(event_id), await client.get_event(event_id)

    occurrence_id, _ = asyncio.run(run_and_read())
    # The one-off has completed: nothing is left to run.
    assert occurrence_id is None


def test_the_client_runs_now_and_reschedules_in_place(client, wait_for) -> None:
    later = timezone.now() + timedelta(days=1)

    async def scenario() -> tuple[str, str | None]:
        event_id = await client.schedule_event(
            **cleanup_body(entity_id="run-now", scheduled_time=later)
        )
        return event_id, await client.run_event(event_id)

    event_id, occurrence_id = asyncio.run(scenario())
    run = wait_for(lambda: finished(event_id, "manual"), what="the run-now firing")
    assert str(run.pk) == occurrence_id
    assert run.result["days_to_keep"] == 30  # the handler ran

    new_time = later + timedelta(hours=2)
    detail = asyncio.run(
        client.update_event(event_id, scheduled_time=new_time, controls={"overlap": "skip"})
    )
    assert detail["event_id"] == event_id
    assert detail["next_run_at"] == new_time.astimezone(ZoneInfo("UTC")).isoformat()
    assert detail["controls"]["overlap"] == "skip"
    assert [o["trigger"] for o in detail["occurrences"]] == ["manual"]
    assert asyncio.run(client.get_event("00000000-0000-0000-0000-000000000000")) is None


def test_beat_skips_a_slot_while_the_previous_firing_still_runs(client, wait_for) -> None:
    now = timezone.now()
    event_id = asyncio.run(
        client.schedule_event(
            **cleanup_body(
                entity_id="overlap",
                scheduled_time=now + timedelta(hours=1),
                recurrence={"frequency": "DAILY"},
            )
        )
    )
    asyncio.run(client.update_event(event_id, controls={"overlap": "skip"}))
    # A firing of an earlier slot still running on some worker (its lease is live)...
    Occurrence.objects.create(
        event_id=event_id,
        scheduled_for=now - timedelta(days=1),
        task_id=f"running-{event_id}",
        status=OccurrenceStatus.RUNNING,
        claimed_at=now,
        started_at=now,
        lease_expires_at=now + timedelta(minutes=5),
    )
    # ...when the next slot comes due.
    slot = now + timedelta(seconds=1)
    ScheduledEvent.objects.filter(pk=event_id).update(next_run_at=slot)

    skipped = wait_for(
        lambda: Occurrence.objects.filter(
            event_id=event_id, scheduled_for=slot, status=OccurrenceStatus.SKIPPED
        ).first(),
        what="beat to record the overlapping slot as skipped",
    )
    assert "previous firing is still unfinished" in skipped.error


def test_backfill_fires_each_missed_slot_once_through_the_worker(
    live_system: Processes, client, wait_for
) -> None:
    now = timezone.now()
    event_id = asyncio.run(
        client.schedule_event(
            **cleanup_body(
                entity_id="backfill",
                # Daily slots 71, 47 and 23 hours ago were never claimed.
                scheduled_time=now - timedelta(days=3) + timedelta(hours=1),
                recurrence={"frequency": "DAILY"},
            )
        )
    )
    since = (now - timedelta(days=4)).isoformat()

    def backfill() -> str:
        return subprocess.run(
            [
                sys.executable,
                "manage.py",
                "backfill_events",
                "--since",
                since,
                "--entity",
                "backfill",
            ],
            cwd=ROOT,
            env=live_system.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "Backfilled 3 firings" in backfill()
    wait_for(
        lambda: (
            Occurrence.objects.filter(
                event_id=event_id, trigger="backfill", status=OccurrenceStatus.SUCCEEDED
            ).count()
            == 3
        ),
        what="the three backfilled firings",
    )
    assert "Backfilled 0 firings" in backfill()  # claims keep it idempotent
    assert Occurrence.objects.filter(event_id=event_id).count() == 3


# --- Fuzzing from the OpenAPI document -------------------------------------------


# The document the server serves at /api/openapi.json (test_openapi.py holds
# the two equal), loaded at collection time, before the server is up.
# /health takes no input, and in this module's flushed database beat's
# heartbeat row comes and goes: tests/test_health.py covers it.
fuzz_schema = schemathesis.openapi.from_dict(openapi.document()).exclude(path="/health")
# Failures show the real request: the keys are throwaway test keys.
fuzz_schema.config.output.sanitization.update(enabled=False)
# 413 is how this API refuses a body over its limits: a rejection too.
_rejection = fuzz_schema.config.checks.negative_data_rejection
_rejection.expected_statuses = [*_rejection.expected_statuses, "413"]
# Not checked: that every schema-valid request is accepted. Some rules span
# fields and JSON Schema does not say them (until after scheduled_time, count
# or until, by_month_day only MONTHLY, the payload's size as JSON); such a
# request gets a 400 naming the field, which the other checks still verify.
fuzz_schema.config.checks.update(excluded_check_names=["positive_data_acceptance"])


# Examples per operation: 10 for the 9 operations is about 750 requests, two
# minutes on a loaded machine, almost all of it hypothesis generating them;
# FUZZ_EXAMPLES=1000 for a long hunt.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
FUZZ_TALLY: Counter[str] = Counter()


# Hundreds of requests against a live gunicorn: past the suite's 120 s limit
# when the machine is loaded.
@pytest.mark.timeout(360)
@fuzz_schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_fuzzing_finds_no_server_error_and_rejected_requests_write_nothing(
    case, base_url: str, fuzz_key: str
) -> None:
    before = (ScheduledEvent.objects.count(), AuditEntry.objects.count())

    _as_own_service(case)
    headers = {"X-Service-Name": "backend", "X-API-Key": fuzz_key}
    response = case.call(base_url=base_url, headers=headers, timeout=10)

    FUZZ_TALLY[f"{case.method} {case.path} {response.status_code}"] += 1
    case.validate_response(response)  # no 5xx, status and body as documented
    if response.status_code >= 400:
        assert (ScheduledEvent.objects.count(), AuditEntry.objects.count()) == before


def _as_own_service(case: Any) -> None:
    """Name the caller's own service where a string names one, to reach past the 403.

    (A foreign service_id is refused before anything else is read; its own
    tests cover that.) Non-strings stay: they are schema violations to refuse.
    """
    body = case.body if isinstance(case.body, dict) else {}
    events = body.get("events")
    for item in [body, case.query or {}, *(events if isinstance(events, list) else [])]:
        if isinstance(item, dict) and isinstance(item.get("service_id"), str):
            item["service_id"] = "backend"


@pytest.fixture
def fuzz_key(db: None) -> str:
    return create_api_key(service_id="backend")[1]


@pytest.fixture(scope="module", autouse=True)
def _fuzz_summary(live_system: Processes) -> Iterator[None]:
    """Write what the fuzzer sent and got to fuzz-summary.json in the run's folder."""
    yield
    if FUZZ_TALLY:
        summary = live_system.workdir / "fuzz-summary.json"
        summary.write_text(json.dumps(dict(sorted(FUZZ_TALLY.items())), indent=1))
        print(f"\nfuzz: {sum(FUZZ_TALLY.values())} requests, tally in {summary}")
