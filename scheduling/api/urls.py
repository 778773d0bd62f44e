from __future__ import annotations

from django.urls import path, re_path

from scheduling.api import openapi, views

app_name = "api"

urlpatterns = [
    path("events/schedule", views.schedule, name="schedule"),
    path("events/bulk", views.schedule_bulk, name="bulk"),
    path("events/upcoming", views.upcoming, name="upcoming"),
    path("events/<str:event_id>", views.event_detail, name="event"),
    path("events/<str:event_id>/pause", views.pause, name="pause"),
    path("events/<str:event_id>/resume", views.resume, name="resume"),
    path("events/<str:event_id>/run", views.run_now, name="run"),
    path("openapi.json", openapi.document_view, name="openapi"),
    # Last: any other path under the API answers JSON, not Django's HTML 404.
    re_path(r"^.*$", views.unknown_endpoint, name="unknown"),
]
