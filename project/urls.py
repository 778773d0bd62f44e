from __future__ import annotations

from django.contrib import admin
from django.urls import path

from project.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
]
