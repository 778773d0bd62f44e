"""Keep events in step with edits of their beat rows made outside this app.

This app writes beat rows with ``bulk_create``, ``COPY`` (large batches,
``scheduling.bulk_insert``) and ``update()``, which send no signals; so these
receivers run only for edits by others, chiefly the admin's periodic-task
editor. A calendar saved as it stands moves nothing and is passed over:
django-celery-beat saves its default entries' crontab (``celery.backend_cleanup``)
at every beat start, and the events sharing that crontab were read each time.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django.db.models.signals import post_save, pre_delete, pre_save
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from scheduling.models import ScheduledEvent
from scheduling.services import sync

# The columns that make a calendar: a save that changes none of them moves no event.
_CALENDAR_FIELDS: dict[type[Model], tuple[str, ...]] = {
    ClockedSchedule: ("clocked_time",),
    CrontabSchedule: ("minute", "hour", "day_of_week", "day_of_month", "month_of_year", "timezone"),
}


def connect() -> None:
    post_save.connect(_periodic_task_saved, sender=PeriodicTask, dispatch_uid="scheduling.task")
    for model in _CALENDAR_FIELDS:
        pre_save.connect(_note_unchanged, sender=model, dispatch_uid=f"scheduling.{model.__name__}")
    post_save.connect(_clocked_saved, sender=ClockedSchedule, dispatch_uid="scheduling.clocked")
    post_save.connect(_crontab_saved, sender=CrontabSchedule, dispatch_uid="scheduling.crontab")
    pre_delete.connect(_periodic_task_deleted, sender=PeriodicTask, dispatch_uid="scheduling.del")


def _periodic_task_saved(instance: PeriodicTask, raw: bool = False, **_: Any) -> None:
    if not raw:
        sync.follow_beat_rows(
            ScheduledEvent.objects.filter(periodic_task=instance), now=timezone.now()
        )


def _note_unchanged(sender: type[Model], instance: Model, raw: bool = False, **_: Any) -> None:
    """Mark ``instance`` if its save rewrites the calendar already stored."""
    if raw or instance.pk is None:
        return
    stored = {name: getattr(instance, name) for name in _CALENDAR_FIELDS[sender]}
    instance._scheduling_unchanged = sender._default_manager.filter(  # type: ignore[attr-defined]
        pk=instance.pk, **stored
    ).exists()


def _moves_events(instance: Model, raw: bool) -> bool:
    return not raw and not getattr(instance, "_scheduling_unchanged", False)


def _clocked_saved(instance: ClockedSchedule, raw: bool = False, **_: Any) -> None:
    if _moves_events(instance, raw):
        _follow(PeriodicTask.objects.filter(clocked=instance))


def _crontab_saved(instance: CrontabSchedule, raw: bool = False, **_: Any) -> None:
    if _moves_events(instance, raw):
        _follow(PeriodicTask.objects.filter(crontab=instance))


def _follow(tasks: QuerySet[PeriodicTask]) -> None:
    # The tasks' ids first, then their events by the unique index on
    # periodic_task_id: as one join, PostgreSQL with stale statistics read
    # every scheduled event (0.3 s at 1M) to find the few of one crontab.
    ids = list(tasks.values_list("pk", flat=True))
    if ids:
        sync.follow_beat_rows(
            ScheduledEvent.objects.filter(periodic_task_id__in=ids), now=timezone.now()
        )


def _periodic_task_deleted(instance: PeriodicTask, **_: Any) -> None:
    sync.cancel_for_deleted_beat_row(
        ScheduledEvent.objects.filter(periodic_task=instance), now=timezone.now()
    )
