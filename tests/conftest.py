from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import freezegun
import pytest
from hypothesis import settings as hypothesis_settings

from project.celery import app as celery_app
from scheduling.models import ScheduledEvent
from scheduling.services.events import schedule_event

# The browser fixtures (headless Chromium), for the admin's tests anywhere.
pytest_plugins = ["tests.browser"]

# The time rules never read the clock, so freezegun has nothing to fake there;
# left alone they keep real datetimes, whose ``fold`` (the repeated hour at a
# DST fall-back) FakeDatetime would lose.
freezegun.configure(extend_ignore_list=["cronsim", "scheduling.recurrence"])

# In-process publishes (the admin's retry) go to an in-memory broker: real
# brokers are for the worker and beat processes of tests/e2e, which get the
# run's CELERY_BROKER_URL and a broker folder of their own.
celery_app.conf.broker_url = "memory://"
celery_app.conf.broker_transport = None  # settings name a Redis transport class for Redis
celery_app.conf.broker_transport_options = {}

# CI: a fixed sample, the same every run. thorough: a long random hunt.
hypothesis_settings.register_profile("ci", max_examples=150, derandomize=True)
hypothesis_settings.register_profile("thorough", max_examples=3000, derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")

# The instant every frozen-clock test starts at: Tuesday 2026-12-01 12:00 UTC.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def urandom_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each read of the system's randomness (``os.urandom``) from now on.

    ``uuid.uuid4()`` is one such read; each lets go of the interpreter lock
    (``scheduling.random_ids``).
    """
    reads: list[int] = []
    urandom = os.urandom

    def counted(size: int) -> bytes:
        reads.append(size)
        return urandom(size)

    monkeypatch.setattr(os, "urandom", counted)
    return reads


@pytest.fixture
def frozen_now(freezer: Any) -> datetime:
    freezer.move_to(NOW)
    return NOW


@pytest.fixture
def freezer() -> Any:
    from freezegun import freeze_time

    with freeze_time(NOW) as frozen:
        yield frozen


def event_kwargs(**overrides: Any) -> dict[str, Any]:
    """Valid schedule_event arguments: a reminder one day after NOW."""
    kwargs: dict[str, Any] = {
        "event_type": "APPOINTMENT_REMINDER",
        "entity_id": "appt-1",
        "scheduled_time": datetime(2026, 12, 2, 9, 0, tzinfo=NEW_YORK),
        "resource_timezone": "America/New_York",
        "user_timezone": "Europe/London",
        "payload": {"appointment_id": "appt-1", "reminder_type": "24_hour_reminder"},
    }
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def make_event(db: None) -> Callable[..., ScheduledEvent]:
    def make(**overrides: Any) -> ScheduledEvent:
        return schedule_event(**event_kwargs(**overrides))

    return make


@pytest.fixture
def alice(db: None) -> Any:
    from django.contrib.auth.models import User

    return User.objects.create_user("alice", "alice@example.com", "pw")


@pytest.fixture
def bob(db: None) -> Any:
    from django.contrib.auth.models import User

    return User.objects.create_user("bob", "bob@example.com", "pw")


def booking_kwargs(**overrides: Any) -> dict[str, Any]:
    """A one-hour appointment two days after NOW, 10:00 New York."""
    kwargs: dict[str, Any] = {
        "title": "Check-up",
        "resource": "room-1",
        "start_time": datetime(2026, 12, 3, 10, 0, tzinfo=NEW_YORK),
        "end_time": datetime(2026, 12, 3, 11, 0, tzinfo=NEW_YORK),
        "resource_timezone": "America/New_York",
        "user_timezone": "Europe/London",
    }
    kwargs.update(overrides)
    return kwargs


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Any) -> None:
    # Report files land in the test's own folder, not in var/.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _no_beat_lock(settings: Any) -> None:
    # In-process schedulers are many and short-lived; tests/scheduling/test_leader.py
    # and tests/e2e exercise the lock itself.
    settings.SCHEDULING_BEAT_LOCK = False


@pytest.fixture(autouse=True)
def _no_archiver_left_running() -> Iterator[None]:
    # An in-process beat deletes a burst's beat rows in a thread
    # (scheduling.archive_behind): done before the next test's database.
    yield
    for thread in threading.enumerate():
        if thread.name == "archive-behind":
            thread.join(30)


def recorded(outcome: dict[str, Any]) -> Any:
    """The occurrence a ``process_event`` outcome names: its result and reason live there.

    The task itself returns only the status and the ids (its result is stored
    in plain text by django-celery-results; a result may quote payload values).
    """
    from scheduling.models import Occurrence

    return Occurrence.objects.get(pk=outcome["occurrence_id"])


def replace_handler(monkeypatch: pytest.MonkeyPatch, name: str, handler: Any) -> None:
    """Run ``handler`` for the event type ``name`` while the test runs, its policies kept."""
    import dataclasses

    from scheduling import registry

    declared = registry.get(name)
    assert declared is not None, f"{name} is not registered"
    monkeypatch.setitem(registry._TYPES, name, dataclasses.replace(declared, handler=handler))
