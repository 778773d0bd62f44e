"""gunicorn's settings for the web process (Procfile: ``--config python:project.gunicorn``).

With ``LOG_FORMAT=json`` gunicorn's own lines (start, workers, the access
log) are JSON objects too, like every record of the Django application;
otherwise gunicorn keeps its format. Nothing here imports Django or
prometheus_client: the master never loads the application.
"""

from __future__ import annotations

import os

if os.environ.get("LOG_FORMAT", "plain").strip().lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "scheduling.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            name: {"level": "INFO", "handlers": ["console"], "propagate": False}
            for name in ("gunicorn.error", "gunicorn.access")
        },
    }
