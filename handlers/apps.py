from __future__ import annotations

from django.apps import AppConfig


class HandlersConfig(AppConfig):
    name = "handlers"
    verbose_name = "Event handlers"
