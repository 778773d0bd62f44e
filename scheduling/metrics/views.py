"""``GET /metrics``: the Prometheus exposition, for a bearer token or a staff user.

The token is ``SCHEDULING_METRICS_TOKEN`` (``Authorization: Bearer …``);
without one configured, only a signed-in staff user may read. No token and
no session answers 401, a wrong token or a non-staff user 403.
"""

from __future__ import annotations

import glob
import os
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from scheduling.metrics.collector import DatabaseCollector
from scheduling.metrics.processes import multiproc_dir, reap_dead_processes


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = _refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """None if the request may read the metrics, else the answer to give."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given:
        token = settings.SCHEDULING_METRICS_TOKEN
        if token and secrets.compare_digest(given.strip().encode(), token.encode()):
            return None
        return _plain(403, "Wrong token.")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return None if user.is_active and user.is_staff else _plain(403, "Staff only.")
    response = _plain(401, "Send Authorization: Bearer <SCHEDULING_METRICS_TOKEN>.")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _plain(status: int, text: str) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


class _ThisProcess(Collector):
    """The default registry: this process's series, when there is no shared directory."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class _SharedFiles(multiprocess.MultiProcessCollector):
    """prometheus_client's collector of every process's files, but for those still empty.

    A process makes its file and only then sizes it; a scrape in between
    read no bytes, and the whole scrape failed with ``struct.error`` (an
    answer 500, every series lost), and for good if the process died in
    that instant (prometheus/client_python#1199, open as of 0.26.0). An
    empty file holds no value yet: leaving it out loses nothing.
    """

    def collect(self) -> Iterable[Metric]:
        files = [f for f in glob.glob(os.path.join(self._path, "*.db")) if _has_bytes(f)]
        return self.merge(files, accumulate=True)


def _has_bytes(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:  # gone since the listing: a dead process's live gauge
        return False


def scrape_registry() -> CollectorRegistry:
    """Every process's series (or this one's) and the database-derived ones."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiproc_dir()
    if path:
        # Emptied (or not made yet) before the processes start: no files, no series.
        os.makedirs(path, exist_ok=True)
        reap_dead_processes(path)
        _SharedFiles(registry, path=path)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector())
    return registry
