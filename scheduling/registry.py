"""Event types: each declared once, beside its handler, with its policies.

::

    from datetime import timedelta
    import scheduling

    @scheduling.event_type("INVOICE_DUE", misfire_grace=timedelta(hours=1), max_retries=3)
    def handle(event, occurrence):
        ...
        return {"reminded": 1}

A declaration runs when its module is imported: the engine imports the
``event_handlers`` module of every installed app when Django starts (as the
admin does with ``admin`` modules), and an app may also import its handler
modules from ``AppConfig.ready()``. Scheduling accepts only registered types,
and a worker records an occurrence of a type it has no handler for as
skipped, with that reason.

Policies (each may be overridden for a deployment by the settings named):

- ``misfire_grace``: how late a firing may still run; ``None`` runs it
  however late (``SCHEDULING_MISFIRE_GRACE_SECONDS[type]``);
- ``max_retries``, ``retry_backoff``, ``retry_backoff_max``: transient errors
  are retried this often, waiting ``retry_backoff`` doubled each time up to
  ``retry_backoff_max`` (``SCHEDULING_TASK_MAX_RETRIES``,
  ``SCHEDULING_RETRY_BACKOFF_SECONDS``, ``SCHEDULING_RETRY_BACKOFF_MAX_SECONDS``
  apply to types that do not set them);
- ``permanent_errors``: exception classes that retrying cannot fix (besides
  ``scheduling.PermanentError``, always permanent): recorded as failed at
  once, never retried;
- ``catch_up``: what a recurring event does with slots it missed:
  ``"latest"`` (the default: the latest runs once), ``"skip"`` or ``"each"``;
- ``jitter``: spread firings over up to this long after their instant (each
  event by a fixed offset drawn from its id), so that thousands due at one
  instant do not reach the workers in one second;
- ``overlap``: ``"allow"`` (the default) or ``"skip"``: a recurring event's
  slot due while its previous firing is unfinished is recorded as skipped.

An event may override ``misfire_grace``, ``catch_up``, ``jitter`` and
``overlap`` for itself (``scheduling.policies``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from scheduling.models import Occurrence, ScheduledEvent

Handler = Callable[["ScheduledEvent", "Occurrence"], dict[str, Any]]

# What a type name may be: it is stored, shown, and typed by HTTP callers.
_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_UNSET: Any = object()


class RegistrationError(Exception):
    """A type declared twice, or declared with a malformed name or policy."""


@dataclass(frozen=True)
class EventType:
    """A registered event type: its name, handler and policies."""

    name: str
    handler: Handler
    misfire_grace: timedelta | None = None
    max_retries: int | None = None
    retry_backoff: timedelta | None = None
    retry_backoff_max: timedelta | None = None
    permanent_errors: tuple[type[BaseException], ...] = ()
    catch_up: str = "latest"
    jitter: timedelta = timedelta(0)
    overlap: str = "allow"

    def grace(self) -> timedelta | None:
        """The misfire grace, ``SCHEDULING_MISFIRE_GRACE_SECONDS`` first."""
        overrides: dict[str, int | None] = settings.SCHEDULING_MISFIRE_GRACE_SECONDS
        if self.name in overrides:
            seconds = overrides[self.name]
            return None if seconds is None else timedelta(seconds=seconds)
        return self.misfire_grace

    def retries(self) -> int:
        if self.max_retries is not None:
            return self.max_retries
        return int(settings.SCHEDULING_TASK_MAX_RETRIES)

    def retry_countdown(self, retries: int) -> float:
        """Seconds before retry number ``retries + 1``: doubling, capped."""
        base = self.retry_backoff or timedelta(seconds=settings.SCHEDULING_RETRY_BACKOFF_SECONDS)
        cap = self.retry_backoff_max or timedelta(
            seconds=settings.SCHEDULING_RETRY_BACKOFF_MAX_SECONDS
        )
        return min(cap, base * 2**retries).total_seconds()


_TYPES: dict[str, EventType] = {}


def event_type(
    name: str,
    *,
    misfire_grace: timedelta | None = _UNSET,
    max_retries: int | None = None,
    retry_backoff: timedelta | None = None,
    retry_backoff_max: timedelta | None = None,
    permanent_errors: tuple[type[BaseException], ...] = (),
    catch_up: str = "latest",
    jitter: timedelta = timedelta(0),
    overlap: str = "allow",
) -> Callable[[Handler], Handler]:
    """Declare an event type handled by the decorated function.

    ``misfire_grace`` must be given (``None`` for "run however late"): how late
    a firing is still worth running is a decision for each type, not a
    default. Declaring the same name twice is an error, unless it is the same
    handler (a module imported twice).
    """
    if misfire_grace is _UNSET:
        raise RegistrationError(f"event type {name}: say misfire_grace (None: run however late)")
    if not _NAME.match(name):
        raise RegistrationError(
            f"event type {name!r}: use capitals, digits and underscores, at most 64"
        )
    _check_controls(name, catch_up=catch_up, jitter=jitter, overlap=overlap)

    def register(handler: Handler) -> Handler:
        declared = EventType(
            name=name,
            handler=handler,
            misfire_grace=misfire_grace,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            permanent_errors=tuple(permanent_errors),
            catch_up=catch_up,
            jitter=jitter,
            overlap=overlap,
        )
        existing = _TYPES.get(name)
        if existing is not None and _qualname(existing.handler) != _qualname(handler):
            raise RegistrationError(
                f"event type {name} is already declared by {_qualname(existing.handler)}"
            )
        _TYPES[name] = declared
        return handler

    return register


# The most an event's firings may be spread over: less than the shortest gap
# between two slots of any rule, so a jittered firing never passes its next slot.
MAX_JITTER = timedelta(minutes=30)


def _check_controls(name: str, *, catch_up: str, jitter: timedelta, overlap: str) -> None:
    if catch_up not in ("latest", "skip", "each"):
        raise RegistrationError(f"event type {name}: catch_up is 'latest', 'skip' or 'each'")
    if overlap not in ("allow", "skip"):
        raise RegistrationError(f"event type {name}: overlap is 'allow' or 'skip'")
    if not timedelta(0) <= jitter <= MAX_JITTER:
        raise RegistrationError(f"event type {name}: jitter is from 0 to {MAX_JITTER}")


def _qualname(handler: Handler) -> str:
    return f"{handler.__module__}.{getattr(handler, '__qualname__', handler)}"


def get(name: str) -> EventType | None:
    """The registered type ``name``; None when nothing declares it."""
    return _TYPES.get(name)


def names() -> list[str]:
    """Every registered type name, sorted."""
    return sorted(_TYPES)


def unregister(name: str) -> None:
    """Forget a type (tests, and apps that replace a built-in)."""
    _TYPES.pop(name, None)


def autodiscover() -> None:
    """Import the ``event_handlers`` module of every installed app that has one."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("event_handlers")
