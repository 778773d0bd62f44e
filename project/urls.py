from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from project.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("scheduling.api.urls")),
    path("health", health, name="health"),
]

# JSON under /api/ (503 when a dependency is down), Django's page elsewhere.
handler500 = "scheduling.api.errors.server_error"
