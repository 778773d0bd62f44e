"""An occurrence's Celery task id: uuid5 of its event and instant, written out by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from scheduling.models import occurrence_task_id


def _uuid5(event_id: uuid.UUID, instant: datetime) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"occurrence:{event_id}:{instant.isoformat()}"))


@given(
    st.uuids(),
    st.datetimes(timezones=st.sampled_from([UTC, ZoneInfo("America/New_York")])),
)
def test_the_task_id_is_uuid5_of_the_event_and_instant(
    event_id: uuid.UUID, instant: datetime
) -> None:
    expected = _uuid5(event_id, instant)
    assert occurrence_task_id(event_id, instant.isoformat()) == expected
    # Beat may hold the id as text: the same task id.
    assert occurrence_task_id(str(event_id), instant.isoformat()) == expected


def test_ids_known_before_stay_the_same() -> None:
    # Occurrences already stored carry these: a redelivered message must find its row.
    event_id = uuid.UUID("6f1c2f6e-3d5b-4c1e-9a39-2b7d0f8e4a11")
    instant = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # New York's spring-forward morning

    assert occurrence_task_id(event_id, instant.isoformat()) == (
        "2f24667f-cb01-5ea4-9649-8a161e89b6ac"
    )
