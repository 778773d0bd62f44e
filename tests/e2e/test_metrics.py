"""Real beat and worker write their series; GET /metrics adds them up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from scheduling import schedule_event
from scheduling.models import Occurrence, OccurrenceStatus
from tests.conftest import event_kwargs
from tests.e2e.conftest import Processes

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN = "e2e-metrics-token"


def scrape(processes: Processes, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The endpoint's samples, read from the live processes' folder, summed by name."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(processes.metrics_dir))
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = sample.name
            if sample.name.endswith("_bucket"):
                continue
            totals[key] = totals.get(key, 0.0) + sample.value
            if family.name == "scheduling_occurrences":
                outcome = f"{key}:{sample.labels['event_type']}:{sample.labels['outcome']}"
                totals[outcome] = totals.get(outcome, 0.0) + sample.value
    return totals


def test_firings_move_the_beat_and_worker_series(
    live_system: Processes, wait_for: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.SCHEDULING_METRICS_TOKEN = TOKEN
    due = timezone.now() + timedelta(seconds=2)
    events = [
        schedule_event(
            **event_kwargs(
                event_type="DATA_CLEANUP",
                entity_id=f"metrics-{n}",
                scheduled_time=due,
                payload={"days_to_keep": 30},
            )
        )
        for n in range(3)
    ]
    # Beat leads once it has ticked: the gauge is written on every tick.
    wait_for(
        lambda: scrape(live_system, monkeypatch).get("scheduling_beat_leader") == 1,
        what="beat to report itself leader",
    )

    wait_for(
        lambda: (
            Occurrence.objects.filter(event__in=events, status=OccurrenceStatus.SUCCEEDED).count()
            == 3
        ),
        what="the three events to succeed",
    )
    seen = wait_for(
        lambda: (
            (s := scrape(live_system, monkeypatch)).get(
                "scheduling_occurrences_total:DATA_CLEANUP:succeeded", 0
            )
            >= 3
            and s
        ),
        what="the worker's counter",
        timeout=10,
    )

    assert seen["scheduling_beat_leader"] == 1
    assert seen["scheduling_publish_lag_seconds_count"] >= 3
    assert seen["scheduling_start_lag_seconds_count"] >= 3
    assert seen["scheduling_beat_publish_batch_size_count"] >= 1
    assert seen["scheduling_beat_publish_batch_size_sum"] >= 3
    assert seen["scheduling_beat_tick_seconds_count"] > 0
    assert seen["scheduling_due_backlog"] == 0
    assert seen["scheduling_metrics_database_up"] == 1
