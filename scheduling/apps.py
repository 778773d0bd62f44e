from __future__ import annotations

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from scheduling import checks, encryption, signals  # noqa: F401 - checks registers

        signals.connect()
        # A malformed key stops every process at start (web, worker, beat),
        # not at the first payload read.
        encryption.check_keys()
