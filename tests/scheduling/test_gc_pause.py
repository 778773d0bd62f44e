"""The garbage collector is held off during a bulk write, and given back as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from scheduling import schedule_events
from scheduling.exceptions import EventValidationError
from scheduling.gc_pause import collector_paused
from scheduling.services import events
from tests.conftest import event_kwargs


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_off_inside_on_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_nested_pauses_end_with_the_outermost() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_program_that_turned_it_off_keeps_it_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_an_error_inside_gives_it_back() -> None:
    with pytest.raises(ValueError, match="inside"), collector_paused():
        raise ValueError("inside")
    assert gc.isenabled()


def test_two_threads_the_last_to_leave_turns_it_on() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            seen["after the first left"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert seen == {"after the first left": False}
    assert gc.isenabled()


@pytest.mark.django_db
def test_a_bulk_write_runs_with_the_collector_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    real = events._schedule_specs

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(events, "_schedule_specs", spy)
    schedule_events([event_kwargs(entity_id=f"appt-{i}") for i in range(3)])
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.django_db
def test_a_refused_bulk_write_gives_the_collector_back() -> None:
    with pytest.raises(EventValidationError):
        schedule_events([event_kwargs(), event_kwargs(resource_timezone="Mars/Olympus")])
    assert gc.isenabled()
