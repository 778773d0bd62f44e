from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from project.health import health
from scheduling.metrics.views import metrics_view

urlpatterns = [
    # The front door: the admin (sign-in, events, the operations dashboard).
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", admin.site.urls),
    path("api/", include("scheduling.api.urls")),
    path("health", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
]

# JSON under /api/ (503 when a dependency is down), Django's page elsewhere.
handler500 = "scheduling.api.errors.server_error"
