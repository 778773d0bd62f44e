"""REPORT_GENERATION: check the payload and record the firing.

The payload must carry ``report_id``. The domain
effect of this type (see the appointments issue in the tracker) is not
wired yet: the handler logs the firing and returns what it received, so
the occurrence and its task result show it.
"""

from __future__ import annotations

import logging
from typing import Any

from handlers.payload import require
from scheduling.models import Occurrence, ScheduledEvent

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("report_id",)


def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    fields = require(event.payload, REQUIRED_KEYS)
    logger.info(
        "REPORT_GENERATION %s for %s at %s", event.id, event.entity_id, occurrence.scheduled_for
    )
    return fields
