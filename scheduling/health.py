"""Is the system up? The database, the broker and beat, each checked on its own.

``check_health()`` is what ``GET /health`` reports. Every check answers,
whatever its dependency does, and in bounded time: a dependency that is down,
silent, slow or misconfigured makes its check not ok, never an exception or a
hang. The answer comes within ``DATABASE_CONNECT_TIMEOUT`` +
``SCHEDULING_HEALTH_DATABASE_TIMEOUT_SECONDS`` (7 s by default; the broker's
2 s run meanwhile). Errors are reported by class name
only: the endpoint is public, and driver messages name hosts and users (the
full message goes to the log).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery, current_app
from django.conf import settings
from django.db import Error as DjangoDatabaseError
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from scheduling.db_deadline import database_deadline
from scheduling.models import BeatHeartbeat

logger = logging.getLogger(__name__)

# Per socket operation (connect, then read). With the one retry, the broker
# check gives up within about 2 s, so a broker that drops packets cannot hang
# the health endpoint (nor the load balancer probing it).
BROKER_TIMEOUT_SECONDS = 0.5
# kombu's filesystem transport: the folders it reads and writes (its defaults
# are relative names, as in kombu.transport.filesystem).
_FILESYSTEM_FOLDERS = {
    "data_folder_in": "data_in",
    "data_folder_out": "data_out",
    "control_folder": "control",
}

# One check's result: {"ok": bool, ...}, with "error" (a class name) when not ok.
Check = dict[str, Any]


@dataclass(frozen=True)
class Health:
    """Every check by name; ``ok`` only if all of them are."""

    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(check["ok"] for check in self.checks.values())


def check_health(*, app: Celery | None = None) -> Health:
    """Check the database, ``app``'s broker (default: the current Celery app's) and beat.

    The broker is checked in a thread of its own, meanwhile: when both are
    silent (the web host cut off from them), the answer takes the longer of
    the two waits, not their sum. Beat is not checked when the database,
    where it leaves its heartbeats, is down: that would wait a second time.
    """
    now = timezone.now()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-broker") as pool:
        broker = pool.submit(check_broker, app or current_app)
        database = check_database()
        beat = check_beat(now=now) if database["ok"] else _beat_unknown()
        return Health(checks={"database": database, "broker": broker.result(), "beat": beat})


def check_database() -> Check:
    """``SELECT 1`` on the default database, with its latency.

    Bounded: a silent database fails the check after
    ``SCHEDULING_HEALTH_DATABASE_TIMEOUT_SECONDS`` on an open connection,
    ``DATABASE_CONNECT_TIMEOUT`` on a new one, at most their sum when the
    open one fails its health check and Django reconnects.
    """
    started = time.perf_counter()
    try:
        with database_deadline(settings.SCHEDULING_HEALTH_DATABASE_TIMEOUT_SECONDS):
            _select_one()
    except DjangoDatabaseError as exc:
        return _failed("database", exc)
    return {"ok": True, "latency_ms": _ms_since(started)}


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker(app: Celery) -> Check:
    """Open a connection to ``app``'s broker (one retry, short timeouts), with its latency.

    The filesystem transport connects without touching the disk, so its
    folders are checked instead.
    """
    started = time.perf_counter()
    try:
        transport = _connect_broker(app)
    except Exception as exc:  # noqa: BLE001 - whatever the broker does, health answers 503
        return _failed("broker", exc)
    return {"ok": True, "latency_ms": _ms_since(started), "transport": transport}


def _connect_broker(app: Celery) -> str:
    """Connect, or raise; return the transport's name (``redis``, ``amqp``, ``filesystem``)."""
    timeouts = {
        # Redis reads these from the transport options, not connect_timeout;
        # RabbitMQ (py-amqp) bounds its connect and handshake by connect_timeout.
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
    }
    with app.connection_for_write(
        connect_timeout=BROKER_TIMEOUT_SECONDS, transport_options=timeouts
    ) as conn:
        # interval_start=0: retry at once; kombu would otherwise sleep 2 s first.
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        driver = str(conn.transport.driver_type)
        if driver == "filesystem":
            _check_folders(conn.transport_options or {})
        return driver


def _check_folders(options: dict[str, Any]) -> None:
    """Raise OSError unless every folder of the filesystem broker is a usable directory."""
    for key, default in _FILESYSTEM_FOLDERS.items():
        folder = str(options.get(key, default))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"broker folder {key} is missing")
        if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            raise PermissionError(f"broker folder {key} is not writable")


def check_beat(*, now: datetime) -> Check:
    """Age of the freshest heartbeat of a beat holding the lock; ok up to the max age.

    Standby beats do not count: they publish nothing (on SQLite) and do not
    run the stock periodic tasks, so only a leader's tick means work is done.
    """
    max_age = settings.SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS
    result: Check = {"ok": False, "last_tick_age_seconds": None, "max_age_seconds": max_age}
    try:
        with database_deadline(settings.SCHEDULING_HEALTH_DATABASE_TIMEOUT_SECONDS):
            leaders = BeatHeartbeat.objects.filter(is_leader=True)
            last_tick = leaders.aggregate(last=Max("last_tick_at"))["last"]
    except DjangoDatabaseError as exc:
        return {**result, **_failed("beat", exc)}
    if last_tick is None:
        return {**result, "error": "NoHeartbeat"}
    # A beat on a host whose clock runs slightly ahead writes from the future.
    # Rounded before comparing: the age shown and the verdict always agree.
    age = round(max(0.0, (now - last_tick).total_seconds()), 1)
    result.update(ok=age <= max_age, last_tick_age_seconds=age)
    if not result["ok"]:
        result["error"] = "StaleHeartbeat"
    return result


def _beat_unknown() -> Check:
    return {
        "ok": False,
        "last_tick_age_seconds": None,
        "max_age_seconds": settings.SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS,
        "error": "DatabaseUnavailable",
    }


def _failed(name: str, exc: BaseException) -> Check:
    logger.warning("health: %s check failed: %s: %s", name, type(exc).__name__, exc)
    return {"ok": False, "error": type(exc).__name__}


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
