from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from project.health import health
from scheduling.metrics.views import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("scheduling.api.urls")),
    path("health", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
]

# JSON under /api/ (503 when a dependency is down), Django's page elsewhere.
handler500 = "scheduling.api.errors.server_error"
