"""Log records that name the event and occurrence they are about; one JSON object per line.

While the worker runs ``backend.process_event`` every record logged, by
the engine, a handler or a library, carries the task's ``event_id`` and
``occurrence_id`` (``ContextFilter``, from a context variable set around
the task by Celery's task signals). Code may also pass them, or
``event_ids`` / ``occurrence_ids`` for a batch, with ``extra=``.
``JsonFormatter`` writes time, level, logger, message and those ids.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any

from celery.signals import task_postrun, task_prerun

from scheduling.conf import EVENT_TASK_NAME

_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "scheduling_log_context", default=None
)
# Attributes a record may carry (from the context or extra=), in output order.
ID_FIELDS = ("event_id", "occurrence_id", "event_ids", "occurrence_ids")


class ContextFilter(logging.Filter):
    """Give each record the ids of the occurrence being run, unless it has its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_CONTEXT.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _task_starts(task: Any = None, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    if getattr(task, "name", None) != EVENT_TASK_NAME or not kwargs:
        return
    ids = {name: str(kwargs[name]) for name in ("event_id", "occurrence_id") if kwargs.get(name)}
    _CONTEXT.set(ids)


def _task_ends(**_: Any) -> None:
    _CONTEXT.set(None)


def connect() -> None:
    """Name the event and occurrence in every record logged while a worker runs one."""
    task_prerun.connect(_task_starts, weak=False, dispatch_uid="scheduling.logs.starts")
    task_postrun.connect(_task_ends, weak=False, dispatch_uid="scheduling.logs.ends")
