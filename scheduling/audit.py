"""Who is acting, and the audit entries written in their name.

The actor is set once at the edge, by the API's authentication
(``acting_as(Actor.service(...))``) or by ``AuditActorMiddleware`` for a
signed-in admin user; services call ``record`` in their own transaction, so
an entry exists exactly when its change was committed. Code running outside
a request (beat, worker, management commands) acts as ``system``.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from scheduling import bulk_insert
from scheduling.models import ActorType, AuditAction, AuditEntry


@dataclass(frozen=True)
class Actor:
    type: str
    name: str
    address: str | None = None

    @classmethod
    def service(cls, service_id: str, address: str | None) -> Actor:
        return cls(ActorType.SERVICE, service_id, address)

    @classmethod
    def user(cls, username: str, address: str | None) -> Actor:
        return cls(ActorType.USER, username, address)


def _process_name() -> str:
    # "manage.py demo", "celery beat": enough to tell which program acted.
    return " ".join(arg.rsplit("/", 1)[-1] for arg in sys.argv[:2])[:150] or "python"


_SYSTEM = Actor(ActorType.SYSTEM, _process_name())
_current: contextvars.ContextVar[Actor] = contextvars.ContextVar("audit_actor", default=_SYSTEM)


def current_actor() -> Actor:
    return _current.get()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Attribute every change made inside the block to ``actor``."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


def record(action: AuditAction, target: object, **details: Any) -> None:
    record_many(action, [(target, details)])


def record_many(action: AuditAction, items: Iterable[tuple[object, dict[str, Any]]]) -> None:
    """One entry per ``(target, details)``, all by the current actor, in one insert."""
    bulk_insert.insert(entries(action, items), ids=False)


def entries(
    action: AuditAction, items: Iterable[tuple[object, dict[str, Any]]]
) -> list[AuditEntry]:
    """``record_many``'s entries, not inserted: for a caller that inserts them with its own rows."""
    actor = current_actor()
    now = timezone.now()
    return [
        bulk_insert.build(
            AuditEntry,
            at=now,
            actor_type=actor.type,
            actor=actor.name[:150],
            address=actor.address,
            action=action,
            target=str(target),
            details=details,
        )
        for target, details in items
    ]


def client_address(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: a forwarded-for header is the client's to forge unless
    # a trusted proxy sets it, and that is a deployment's choice to make.
    return request.META.get("REMOTE_ADDR") or None


class AuditActorMiddleware:
    """Act as the signed-in user for the rest of the request (the admin)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        with acting_as(Actor.user(user.get_username(), client_address(request))):
            return self.get_response(request)
