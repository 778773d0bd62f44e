"""GET /metrics: who may read it, what it serves, and what each scrape costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from scheduling.metrics.collector import status_counts
from scheduling.metrics.processes import reap_dead_processes
from scheduling.models import BeatHeartbeat, EventStatus, ScheduledEvent
from scheduling.services.events import schedule_event
from tests.conftest import event_kwargs

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"


@pytest.fixture(autouse=True)
def _token(settings: Any) -> Iterator[None]:
    settings.SCHEDULING_METRICS_TOKEN = TOKEN
    status_counts.clear()
    yield
    status_counts.clear()


def scrape(client: Client, **headers: str) -> Any:
    return client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers})


def samples(response: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the answer, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(response: Any, name: str, **labels: str) -> float | None:
    return samples(response).get((name, frozenset(labels.items())))


# --- Who may read -------------------------------------------------------------------


def test_it_asks_for_credentials_without_any(client: Client) -> None:
    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"scheduling_" not in response.content


def test_it_refuses_a_wrong_token(client: Client) -> None:
    response = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})

    assert response.status_code == 403


def test_no_token_opens_it_when_none_is_configured(client: Client, settings: Any) -> None:
    settings.SCHEDULING_METRICS_TOKEN = ""

    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 403


def test_the_token_reads_the_metrics_in_prometheus_text_format(client: Client) -> None:
    response = scrape(client)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_a_staff_user_reads_them_signed_in(client: Client, django_user_model: Any) -> None:
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(staff)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert value(response, "scheduling_metrics_database_up") == 1


def test_a_user_who_is_not_staff_is_refused(client: Client, django_user_model: Any) -> None:
    client.force_login(django_user_model.objects.create_user("someone", password="pw"))

    assert client.get("/metrics").status_code == 403


# --- What it serves ------------------------------------------------------------------


def test_every_series_is_served_and_documented(client: Client) -> None:
    documented = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    served = {
        family.name for family in text_string_to_metric_families(scrape(client).content.decode())
    }
    # Series with labels appear once a process writes a value for them.
    labelled = {"scheduling_start_lag_seconds", "scheduling_occurrences", "scheduling_beat_leader"}
    unlabelled = {
        "scheduling_events",
        "scheduling_due_backlog",
        "scheduling_oldest_due_age_seconds",
        "scheduling_publish_lag_seconds",
        "scheduling_beat_tick_seconds",
        "scheduling_beat_publish_batch_size",
        "scheduling_beat_republished",
        "scheduling_http_requests",
        "scheduling_metrics_database_up",
    }

    assert unlabelled <= served
    for name in served | labelled | unlabelled:
        if name.startswith("scheduling_"):
            assert f"`{name}" in documented, name


def test_the_database_series_count_events_and_the_due_backlog(
    client: Client, frozen_now: datetime
) -> None:
    for n in range(3):
        schedule_event(**event_kwargs(entity_id=f"appt-{n}"))
    # Two made due (as if beat had been down): 30 and 5 minutes ago.
    for entity_id, minutes in (("appt-0", 30), ("appt-1", 5)):
        ScheduledEvent.objects.filter(entity_id=entity_id).update(
            next_run_at=frozen_now - timedelta(minutes=minutes)
        )
    BeatHeartbeat.objects.create(
        instance="host:1",
        started_at=frozen_now - timedelta(hours=1),
        last_tick_at=frozen_now - timedelta(seconds=3),
        is_leader=True,
    )

    response = scrape(client)

    assert value(response, "scheduling_events", status="scheduled") == 3
    assert value(response, "scheduling_events", status="cancelled") == 0
    assert value(response, "scheduling_due_backlog") == 2
    assert value(response, "scheduling_oldest_due_age_seconds") == 30 * 60
    assert value(response, "scheduling_beat_last_tick_age_seconds") == 3


def test_nothing_due_is_an_oldest_age_of_zero(client: Client) -> None:
    response = scrape(client)

    assert value(response, "scheduling_due_backlog") == 0
    assert value(response, "scheduling_oldest_due_age_seconds") == 0


def test_the_backlog_count_stops_at_its_limit(
    client: Client, settings: Any, frozen_now: datetime
) -> None:
    settings.SCHEDULING_METRICS_COUNT_LIMIT = 2
    for n in range(3):
        schedule_event(**event_kwargs(entity_id=f"appt-{n}"))
    ScheduledEvent.objects.update(next_run_at=frozen_now - timedelta(seconds=1))

    assert value(scrape(client), "scheduling_due_backlog") == 2


def test_statuses_other_than_scheduled_are_counted_once_per_interval(
    client: Client, settings: Any, django_assert_max_num_queries: Any
) -> None:
    settings.SCHEDULING_METRICS_STATUS_COUNT_SECONDS = 3600
    event = schedule_event(**event_kwargs())
    scrape(client)
    ScheduledEvent.objects.filter(pk=event.pk).update(status=EventStatus.CANCELLED)

    # scheduled count, backlog, oldest due, beat heartbeat: no full count.
    with django_assert_max_num_queries(4):
        response = scrape(client)

    assert value(response, "scheduling_events", status="scheduled") == 0  # read every scrape
    assert value(response, "scheduling_events", status="cancelled") == 0  # the cached count
    status_counts.clear()
    assert value(scrape(client), "scheduling_events", status="cancelled") == 1


def test_a_database_failure_leaves_its_series_out(client: Client, monkeypatch: Any) -> None:
    from django.db import OperationalError

    from scheduling import selectors

    def down(**_: Any) -> int:
        raise OperationalError("database down")

    monkeypatch.setattr(selectors, "due_backlog", down)

    response = scrape(client)

    assert response.status_code == 200
    assert value(response, "scheduling_metrics_database_up") == 0
    assert value(response, "scheduling_due_backlog") is None


def test_requests_are_counted_by_route_name_not_path(client: Client) -> None:
    before = value(scrape(client), "scheduling_http_requests_total", **_api_event_404()) or 0
    client.delete("/api/events/11111111-1111-1111-1111-111111111111")
    client.delete("/api/events/22222222-2222-2222-2222-222222222222")

    response = scrape(client)

    assert value(response, "scheduling_http_requests_total", **_api_event_404()) == before + 2
    assert not any("1111" in str(labels) for _, labels in samples(response))


def _api_event_404() -> dict[str, str]:
    # No key: the API answers 401 before it looks the event up.
    return {"route": "api:event", "method": "DELETE", "status": "401"}


# --- The shared directory ------------------------------------------------------------


def test_a_scrape_drops_the_live_gauges_of_dead_processes(tmp_path: Path) -> None:
    """Counters of a dead process stay (totals never drop); its live gauges go."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)

    for name in (
        f"gauge_livemax_{dead_pid}.db",
        f"counter_{dead_pid}.db",
        f"gauge_livemax_{os.getpid()}.db",
    ):
        (tmp_path / name).write_bytes(b"")

    reap_dead_processes(str(tmp_path))

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead_pid}.db", f"gauge_livemax_{os.getpid()}.db"]
    )


def test_a_file_a_process_has_made_but_not_sized_yet_is_left_out(
    client: Client, tmp_path: Path, monkeypatch: Any
) -> None:
    """A process makes its file, then sizes it; a scrape in between must still answer."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    sized = MmapedDict(str(tmp_path / "counter_1.db"))
    sized.write_value(
        json.dumps(["scheduling_demo_total", "scheduling_demo_total", {}, "A demo."]), 3.0, 0.0
    )
    sized.close()
    (tmp_path / "histogram_2.db").write_bytes(b"")  # made, not sized yet

    response = scrape(client)

    assert response.status_code == 200
    assert value(response, "scheduling_demo_total") == 3.0
