from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from project.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("scheduling.api.urls")),
    path("health", health, name="health"),
]
