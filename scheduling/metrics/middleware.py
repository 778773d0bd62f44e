"""Count HTTP requests by route name, method and status."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from scheduling.metrics import HTTP_REQUESTS

# Methods outside these are counted as "other": a client chooses the
# method, and every new label value is a series kept forever.
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestMetricsMiddleware:
    """Place it first: it then sees the status of every answer, errors included.

    The route is the URL pattern's name (``api:schedule``), never the path:
    paths hold ids, and each distinct label value is a series of its own.
    Requests that match no pattern share the route ``unmatched``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name if match is not None else "") or "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(route=route, method=method, status=str(response.status_code)).inc()
        return response
