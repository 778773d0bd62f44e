"""``GET /health``: 200 when the database, the broker and beat are up, 503 when one is not.

Public (load balancers and old clients probe it without credentials) and
never cached: each request checks again.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from scheduling.health import check_health


@csrf_exempt  # read-only: any other method is a 405, not a CSRF 403
@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """``{"status": "ok"|"unavailable", "checks": {...}}``; GET and HEAD only (405 otherwise)."""
    report = check_health()
    body = {"status": "ok" if report.ok else "unavailable", "checks": report.checks}
    return JsonResponse(body, status=200 if report.ok else 503)
