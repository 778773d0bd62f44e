"""``AnyOf`` and the array parameters it sends: the same rows as ``pk__in``, one parameter."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from scheduling import schedule_events
from scheduling.bulk_insert import array_param
from scheduling.lookups import AnyOf
from scheduling.models import ScheduledEvent
from tests.conftest import event_kwargs

pytestmark = pytest.mark.django_db


def _events(count: int) -> list[ScheduledEvent]:
    return schedule_events([event_kwargs(entity_id=f"any-{i}") for i in range(count)])


def test_any_of_finds_the_rows_pk_in_finds_from_uuids_or_their_text() -> None:
    events = _events(5)
    chosen = [events[0].pk, events[3].pk]

    by_uuid = set(ScheduledEvent.objects.filter(AnyOf(F("pk"), chosen)))
    by_text = set(ScheduledEvent.objects.filter(AnyOf(F("pk"), [str(pk) for pk in chosen])))

    assert by_uuid == by_text == set(ScheduledEvent.objects.filter(pk__in=chosen))
    assert len(by_uuid) == 2


def test_any_of_nothing_matches_nothing_and_updates_nothing() -> None:
    _events(2)
    assert not ScheduledEvent.objects.filter(AnyOf(F("pk"), [])).exists()
    assert ScheduledEvent.objects.filter(AnyOf(F("pk"), [])).update(fired_count=7) == 0
    assert not ScheduledEvent.objects.filter(fired_count=7).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's arrays")
def test_any_of_sends_one_array_not_a_placeholder_per_id() -> None:
    events = _events(300)
    with CaptureQueriesContext(connection) as queries:
        updated = ScheduledEvent.objects.filter(AnyOf(F("pk"), [e.pk for e in events])).update(
            fired_count=F("fired_count") + 1
        )

    assert updated == 300
    [sql] = [q["sql"] for q in queries]
    assert "= ANY('{" in sql
    assert " IN (" not in sql


def test_ids_go_as_the_text_of_an_array() -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    assert array_param(ids) == "{" + f"{ids[0]},{ids[1]}" + "}"
    assert array_param([str(i) for i in ids]) == array_param(ids)


@pytest.mark.parametrize(
    "values",
    [
        ["a,b", "c"],  # a comma inside a value would split it in two
        ["abc", ""],  # an empty element is not spelt bare
        ['quote"d', "x"],
        ["NULL"],  # bare, it would be a NULL
        [uuid.uuid4(), "text"],
        [1, 2],
        [],
    ],
)
def test_other_values_go_as_a_list(values: list[object]) -> None:
    assert array_param(values) == values
