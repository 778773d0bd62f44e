"""LOG_FORMAT=json: one JSON object per line, naming the event and occurrence being run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run as a worker's pool child runs a task: Celery's task signals around
# the records, logging configured by Celery's own setup call (the worker's).
CHILD = textwrap.dedent(
    """
    import logging, sys
    import django
    django.setup()
    from celery.signals import task_postrun, task_prerun
    from celery.utils.log import LoggingProxy
    from project.celery import app

    app.log.setup(logging.INFO, None, redirect_stdouts=True, redirect_level="WARNING")
    assert not isinstance(sys.stdout, LoggingProxy), "Celery took stdout over"
    from scheduling.tasks import process_event as task
    kwargs = {"event_id": "ev-1", "occurrence_id": "oc-1"}
    task_prerun.send(sender=task, task_id="t-1", task=task, args=(), kwargs=kwargs)
    log = logging.getLogger("handlers.example")
    log.info("two\\nlines")
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("it failed")
    task_postrun.send(sender=task, task_id="t-1", task=task, args=(), kwargs=kwargs)
    log.warning("after the task")
    logging.getLogger("scheduling.beat").info(
        "published", extra={"occurrence_ids": ["oc-2", "oc-3"]}
    )
    """
)


def run_child(**env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "LOG_FORMAT"}
    return subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_json_logs_are_one_object_per_line_with_the_occurrence_being_run() -> None:
    child = run_child(LOG_FORMAT="json")
    assert child.returncode == 0, child.stderr

    records = [json.loads(line) for line in child.stderr.splitlines()]

    by_message = {r["message"]: r for r in records}
    inside = by_message["two\nlines"]
    assert inside["level"] == "INFO"
    assert inside["logger"] == "handlers.example"
    assert inside["time"].endswith("+00:00")
    assert (inside["event_id"], inside["occurrence_id"]) == ("ev-1", "oc-1")
    failed = by_message["it failed"]
    assert failed["level"] == "ERROR"
    assert "ZeroDivisionError" in failed["exception"]
    assert failed["occurrence_id"] == "oc-1"
    assert "event_id" not in by_message["after the task"]
    assert by_message["published"]["occurrence_ids"] == ["oc-2", "oc-3"]


def test_plain_logs_stay_plain_lines() -> None:
    child = run_child()
    assert child.returncode == 0, child.stderr

    assert " WARNING handlers.example: after the task" in child.stderr
    assert not child.stderr.lstrip().startswith("{")


def test_an_unknown_log_format_is_refused() -> None:
    child = run_child(LOG_FORMAT="xml")

    assert child.returncode != 0
    assert "LOG_FORMAT must be plain or json" in child.stderr
