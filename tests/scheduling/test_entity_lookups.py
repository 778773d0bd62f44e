"""An entity's events, found by ``event_entity_idx`` with or without their service."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from scheduling import schedule_events, scheduled_events_for_entity
from tests.conftest import event_kwargs
from tests.plans import plans_of

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def _book(entities: int, services: tuple[str, ...]) -> None:
    schedule_events(
        [
            event_kwargs(
                service_id=service,
                entity_id=f"appt-{n}",
                scheduled_time=datetime(2026, 12, 2, 9, 0, tzinfo=NY) + timedelta(minutes=15 * k),
            )
            for n in range(entities)
            for service in services
            for k in range(2)
        ]
    )


def test_an_entitys_scheduled_events_are_its_services_only(frozen_now) -> None:
    _book(3, ("backend", "billing"))

    found = scheduled_events_for_entity("appt-1")
    assert {(e.service_id, e.entity_id) for e in found} == {("backend", "appt-1")}
    assert len(found) == 2
    assert len(scheduled_events_for_entity("appt-1", service_id="billing")) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_an_entitys_events_are_read_by_the_entity_index_with_their_service(frozen_now) -> None:
    # No (service_id, entity_id) index (0018): the entity's own serves both.
    _book(1_500, ("backend", "billing"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduling_scheduledevent")

    with plans_of(lambda sql: "scheduling_scheduledevent" in sql) as plans:
        assert len(scheduled_events_for_entity("appt-7")) == 2
    [plan] = plans
    assert "event_entity_idx" in plan
    assert "Seq Scan" not in plan
