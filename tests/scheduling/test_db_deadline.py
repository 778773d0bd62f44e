"""database_deadline: a silent PostgreSQL fails the block at its deadline instead of hanging it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection

from scheduling.db_deadline import DatabaseTimeoutError, database_deadline
from scripts.faultproxy import FaultProxy, Mode

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def proxied() -> Iterator[FaultProxy]:
    """The default connection, reopened through a fault proxy for the test."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no connection to go silent")
    db = connection.settings_dict
    target = (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    with FaultProxy(target) as proxy:
        connection.close()
        db["HOST"], db["PORT"] = "127.0.0.1", str(proxy.port)
        try:
            connection.ensure_connection()
            yield proxy
        finally:
            connection.close()
            db["HOST"], db["PORT"] = target[0], str(target[1])


def select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def test_a_silent_database_fails_the_block_at_its_deadline(proxied) -> None:
    proxied.set_mode(Mode.BLACKHOLE)

    started = time.monotonic()
    with pytest.raises(DatabaseTimeoutError), database_deadline(0.5):
        select_one()

    assert 0.5 <= time.monotonic() - started < 1.5


def test_the_cut_connection_is_replaced_once_the_database_answers(proxied) -> None:
    proxied.set_mode(Mode.BLACKHOLE)
    with pytest.raises(DatabaseTimeoutError), database_deadline(0.3):
        select_one()
    proxied.set_mode(Mode.PASS)

    connection.close_if_unusable_or_obsolete()  # what Django does after each request
    select_one()


def test_a_block_done_in_time_keeps_its_connection(proxied) -> None:
    raw = connection.connection
    with database_deadline(0.3), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.1)")
    time.sleep(0.6)  # well past the deadline: the watchdog must not act now

    select_one()
    assert connection.connection is raw


@pytest.mark.parametrize(("earlier", "later"), [(5.0, 0.4), (0.2, 0.6)])
def test_each_block_gets_its_own_deadline(proxied, earlier, later) -> None:
    # The watchdog may still be asleep until the earlier block's deadline.
    with database_deadline(earlier):
        select_one()
    proxied.set_mode(Mode.BLACKHOLE)

    started = time.monotonic()
    with pytest.raises(DatabaseTimeoutError), database_deadline(later):
        select_one()

    assert later <= time.monotonic() - started < later + 0.5


def test_sqlite_has_no_deadline() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default only")
    with database_deadline(0.01):
        select_one()
        time.sleep(0.1)
        select_one()
