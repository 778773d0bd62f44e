"""Errors as the API returns them: JSON with a message per field.

A dependency that is down (the database, or the Redis of the rate limits,
refused or silent) is a 503 with ``Retry-After``; anything else unexpected
is a 500 naming nothing of the request or the code. Never an HTML page.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

# How long a client should wait after a 503: a restart or failover of the
# database or Redis takes seconds; a longer outage gets retried again.
RETRY_AFTER_SECONDS = 5
# Failures of a dependency, not of the request: refused, reset, timed out, or
# cut by a deadline (scheduling.db_deadline), or a statement PostgreSQL
# cancelled (statement_timeout). IntegrityError and DataError are not here:
# they are the request's doing, and the views turn the expected ones into 4xx.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, BrokerError)


def _redis_failures() -> tuple[type[Exception], ...]:
    # Redis counts the rate limits when it is installed (the redis extra);
    # the engine runs without it.
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:
        return ()
    return (RedisConnectionError, RedisTimeoutError)


UNAVAILABLE += _redis_failures()


class ApiError(Exception):
    """Stop handling the request and answer ``status`` with this body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def response(self) -> JsonResponse:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        response = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def bad_request(errors: Mapping[str, list[str]]) -> ApiError:
    return ApiError(400, "invalid", "The request is not valid; see errors.", errors)


def not_found() -> ApiError:
    return ApiError(404, "not_found", "No such event for this service.")


def unavailable() -> ApiError:
    return ApiError(
        503,
        "unavailable",
        f"The service is unavailable; retry in {RETRY_AFTER_SECONDS} s.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_error() -> ApiError:
    return ApiError(500, "internal", "Internal error; it has been logged.")


def dependency_down(exc: Exception) -> ApiError:
    """The 503 for ``exc``, one of ``UNAVAILABLE``, logged without a traceback.

    While an outage lasts every request fails alike: the class and the
    driver's message (it may name a host, never a password) are enough.
    """
    logger.warning("api: dependency unavailable: %s: %s", type(exc).__name__, exc)
    return unavailable()


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: JSON under the API, Django's page elsewhere.

    ``api_endpoint`` answers ApiError and a dependency down itself; any
    other exception goes up to Django, which logs it with its traceback (and
    tells error trackers) and calls this. So does a failure around the
    views, in a middleware. The body names nothing of the request.
    """
    if not _is_api(request):
        return defaults.server_error(request)
    exc = sys.exception()
    if isinstance(exc, UNAVAILABLE):
        return unavailable().response()
    return internal_error().response()


def _is_api(request: HttpRequest) -> bool:
    match = request.resolver_match
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
    return "api" in match.namespaces
