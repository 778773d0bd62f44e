"""One Idempotency-Key in many requests at once: one event; the others 409, or 200 if identical.

Real threads, each with its own database connection, so the requests race
as they do in a server's worker processes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from scheduling.models import ApiKey, AuditEntry, ScheduledEvent
from tests.api.conftest import ApiClient, event_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("frozen_now")]
URL = "/api/events/schedule"
KEY = {"Idempotency-Key": "one-key"}


def _in_own_connection(send: Callable[[], Any]) -> Any:
    try:
        return send()
    finally:
        connection.close()  # this thread's; the test database is dropped after


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's IMMEDIATE transactions hold the write lock from the first read: "
    "no other request can commit between a request's lookups",
)
def test_a_request_whose_key_lookup_missed_a_commit_still_gets_409(
    backend_key: tuple[ApiKey, str],
) -> None:
    # Under READ COMMITTED each statement sees the commits made before it: the
    # late request reads the table once, the early one commits, then the late
    # one carries on. It must not answer with the early request's event.
    looked, committed = threading.Event(), threading.Event()

    def pause_after_first_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not looked.is_set() and sql.startswith("SELECT") and "scheduledevent" in sql:
            looked.set()
            committed.wait(timeout=10)
        return result

    def late() -> Any:
        with connection.execute_wrapper(pause_after_first_read):
            return ApiClient("backend", backend_key[1]).post(
                URL, event_body(payload={"n": "late"}), **KEY
            )

    def early() -> Any:
        try:
            looked.wait(timeout=10)
            return ApiClient("backend", backend_key[1]).post(
                URL, event_body(payload={"n": "early"}), **KEY
            )
        finally:
            committed.set()

    entries = AuditEntry.objects.count()
    with ThreadPoolExecutor(max_workers=2) as pool:
        late_answer = pool.submit(_in_own_connection, late)
        early_answer = pool.submit(_in_own_connection, early)
        statuses = (early_answer.result().status_code, late_answer.result().status_code)

    assert statuses == (201, 409)
    assert (ScheduledEvent.objects.count(), AuditEntry.objects.count()) == (1, entries + 1)


@pytest.mark.parametrize("attempt", range(3))
def test_twenty_requests_with_one_key_make_one_event(
    backend_key: tuple[ApiKey, str], attempt: int
) -> None:
    # Ten payloads, each sent twice: the winner's twin is identical (200),
    # every other request names another event with the key (409).
    bodies = [event_body(payload={"n": n // 2}) for n in range(20)]
    start = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        def post() -> Any:
            start.wait(timeout=30)
            return ApiClient("backend", backend_key[1]).post(URL, body, **KEY)

        return body, _in_own_connection(post)

    entries = AuditEntry.objects.count()
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(pool.map(send, bodies))

    statuses = Counter(response.status_code for _, response in answers)
    assert statuses == {201: 1, 200: 1, 409: 18}, statuses
    [(winner, created)] = [(b, r) for b, r in answers if r.status_code == 201]
    [(twin, repeated)] = [(b, r) for b, r in answers if r.status_code == 200]
    assert twin == winner
    assert repeated.json()["event_id"] == created.json()["event_id"]
    assert (ScheduledEvent.objects.count(), AuditEntry.objects.count()) == (1, entries + 1)
