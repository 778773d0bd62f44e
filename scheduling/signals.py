"""Keep events in step with edits of their beat rows made outside this app.

This app writes beat rows with ``bulk_create``, ``COPY`` (large batches,
``scheduling.bulk_insert``) and ``update()``, which send no signals; so these
receivers run only for edits by others, chiefly the admin's periodic-task
editor.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_delete
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from scheduling.models import ScheduledEvent
from scheduling.services import sync


def connect() -> None:
    post_save.connect(_periodic_task_saved, sender=PeriodicTask, dispatch_uid="scheduling.task")
    post_save.connect(_clocked_saved, sender=ClockedSchedule, dispatch_uid="scheduling.clocked")
    post_save.connect(_crontab_saved, sender=CrontabSchedule, dispatch_uid="scheduling.crontab")
    pre_delete.connect(_periodic_task_deleted, sender=PeriodicTask, dispatch_uid="scheduling.del")


def _periodic_task_saved(instance: PeriodicTask, raw: bool = False, **_: Any) -> None:
    if not raw:
        sync.follow_beat_rows(
            ScheduledEvent.objects.filter(periodic_task=instance), now=timezone.now()
        )


def _clocked_saved(instance: ClockedSchedule, raw: bool = False, **_: Any) -> None:
    if not raw:
        sync.follow_beat_rows(
            ScheduledEvent.objects.filter(periodic_task__clocked=instance), now=timezone.now()
        )


def _crontab_saved(instance: CrontabSchedule, raw: bool = False, **_: Any) -> None:
    if not raw:
        sync.follow_beat_rows(
            ScheduledEvent.objects.filter(periodic_task__crontab=instance), now=timezone.now()
        )


def _periodic_task_deleted(instance: PeriodicTask, **_: Any) -> None:
    sync.cancel_for_deleted_beat_row(
        ScheduledEvent.objects.filter(periodic_task=instance), now=timezone.now()
    )
