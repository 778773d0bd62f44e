"""Keep the shared metrics directory true to the processes that are alive.

In multiprocess mode each process has its own files. Counters and
histograms of a process that exited stay (totals must not go down when a
gunicorn or pool worker is replaced); its live gauges (beat's leader flag)
must go, or a beat that died leading would show as leader forever. So a
process marks itself dead when it exits normally (``atexit``: beat, the
Celery worker, gunicorn's workers, which leave through ``sys.exit``), the
Celery pool's children when they exit (they leave through ``os._exit``,
past ``atexit``: the ``worker_process_shutdown`` signal), and each scrape
drops the live gauges of processes killed outright (SIGKILL runs nothing;
gunicorn kills a worker past its timeout).
The scrape's check uses process ids, so the directory must be shared only
by processes of one host (one process-id namespace).

The directory itself is emptied before the processes start
(``scripts/run.sh`` does for the embedded default).
"""

from __future__ import annotations

import atexit
import os
import re
from pathlib import Path
from typing import Any

from celery.signals import worker_process_shutdown
from prometheus_client import multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def multiproc_dir() -> str | None:
    """The shared directory of every process's metrics, or None for in-memory ones."""
    return os.environ.get(MULTIPROC_ENV) or None


def mark_process_dead(pid: int) -> None:
    """Drop the live gauges of process ``pid`` (no-op without a shared directory)."""
    path = multiproc_dir()
    if path:
        multiprocess.mark_process_dead(pid, path)


def reap_dead_processes(path: str) -> None:
    """Drop the live gauges of every process that left its files and is gone."""
    pids = {int(m[1]) for f in Path(path).iterdir() if (m := _LIVE_GAUGE_FILE.match(f.name))}
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _this_process_exits() -> None:
    # The pid at exit, not at import: a forked child inherits this hook.
    mark_process_dead(os.getpid())


def _pool_child_exits(pid: int | None = None, **_: Any) -> None:
    mark_process_dead(pid or os.getpid())


_connected = False


def connect() -> None:
    """Mark this process dead when it exits, and Celery's pool children when they do."""
    global _connected
    if _connected:
        return
    _connected = True
    atexit.register(_this_process_exits)
    worker_process_shutdown.connect(_pool_child_exits, weak=False)
