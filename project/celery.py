"""The Celery app, configured from Django settings (``CELERY_*``)."""

from __future__ import annotations

import logging.config
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Every installed app's tasks modules: the engine's backend.process_event among them.
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**_: Any) -> None:
    """Worker and beat log as the web process does: Django's LOGGING, LOG_FORMAT included.

    With a receiver of this signal Celery configures no logging of its own:
    it neither replaces the root logger's handlers nor turns print() output
    into WARNING records (which is how the console e-mail backend's
    messages showed as warnings). Celery's ``--loglevel`` is then unused;
    LOG_LEVEL sets the level.
    """
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
