from __future__ import annotations

from django.apps import AppConfig

from scheduling.conf import apply_defaults

# Before any model or module of the engine reads a setting.
apply_defaults()


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from scheduling import checks, encryption, logs, registry, signals  # noqa: F401 - checks
        from scheduling.metrics import processes

        signals.connect()
        # Every installed app's event types, the engine's built-in one included.
        registry.autodiscover()
        # A malformed key stops every process at start (web, worker, beat),
        # not at the first payload read.
        encryption.check_keys()
        # The worker's log records name the event and occurrence they are about.
        logs.connect()
        # A process's live gauges leave the shared metrics directory with it.
        processes.connect()
