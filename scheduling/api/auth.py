"""Authenticate, authorise and meter every API request.

``api_endpoint`` wraps a view: it checks the method, finds the caller's key
(401), holds it to the service it names (403), spends its rate budget (429)
and runs the view acting as that service, so every change it makes is
audited in the service's name. ApiError raised anywhere becomes its JSON; a
dependency down (the database, the rate limits' Redis) a 503 with
Retry-After. The database work of a request is bounded by
``SCHEDULING_API_DATABASE_TIMEOUT_SECONDS`` (scheduling.db_deadline), so a
silent database is a 503 in time too, not a hung worker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from scheduling import audit
from scheduling.api import ratelimit
from scheduling.api.errors import UNAVAILABLE, ApiError, dependency_down
from scheduling.db_deadline import database_deadline
from scheduling.models import ApiKey
from scheduling.services.api_keys import authenticate

View = Callable[..., HttpResponse]


def api_endpoint(*methods: str) -> Callable[[View], View]:
    """Make ``view(request, key, ...)`` an API endpoint answering ``methods``."""

    def decorate(view: View) -> View:
        @csrf_exempt  # no cookies: a key in a header cannot be forged cross-site
        @functools.wraps(view)
        def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                with database_deadline(settings.SCHEDULING_API_DATABASE_TIMEOUT_SECONDS):
                    return _serve(request, view, methods, args, kwargs)
            except ApiError as exc:
                return exc.response()
            except UNAVAILABLE as exc:
                return dependency_down(exc).response()
            # Anything else goes up to Django: logged, then JSON 500 (errors.server_error).

        endpoint.allowed_methods = methods  # type: ignore[attr-defined] # read by the OpenAPI test
        return endpoint

    return decorate


def _serve(
    request: HttpRequest,
    view: View,
    methods: tuple[str, ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> HttpResponse:
    if request.method not in methods:
        raise ApiError(
            405,
            "method_not_allowed",
            f"Use {' or '.join(methods)}.",
            headers={"Allow": ", ".join(methods)},
        )
    key = _authorised_key(request)
    charge(key, 1)
    actor = audit.Actor.service(key.service_id, audit.client_address(request))
    with audit.acting_as(actor):
        return view(request, key, *args, **kwargs)


def _authorised_key(request: HttpRequest) -> ApiKey:
    service = request.headers.get("X-Service-Name", "")
    raw_key = request.headers.get("X-API-Key", "")
    if not service or not raw_key:
        raise ApiError(401, "unauthenticated", "Send X-Service-Name and X-API-Key.")
    key = authenticate(raw_key)
    if key is None:
        raise ApiError(401, "unauthenticated", "Unknown or revoked API key.")
    if key.service_id != service:
        raise ApiError(403, "forbidden", "This API key is not for that service.")
    return key


def require_own_service(key: ApiKey, fields: Mapping[str, object], field: str) -> None:
    """403 if ``fields`` has a ``service_id`` that is not the key's own service.

    Absent is fine, and so is null (JSON null counts as absent).
    """
    named = fields.get("service_id")
    if named is not None and named != key.service_id:
        raise ApiError(
            403,
            "forbidden",
            "A service may act only in its own name.",
            {field: [f"must be {key.service_id!r}, the service of this API key"]},
        )


def charge(key: ApiKey, cost: int) -> None:
    """Spend ``cost`` units of the key's budget; 429 (spending none) if it is short."""
    if cost <= 0:
        return
    verdict = ratelimit.spend(key.pk, cost)
    if not verdict.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"Rate limit reached; retry in {verdict.retry_after} s.",
            headers={"Retry-After": str(verdict.retry_after)},
        )
