"""BUSINESS_RULE: run the rule named by ``rule_id`` with its context."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from handlers.payload import require
from handlers.rules import RULES
from scheduling import PermanentError, event_type
from scheduling.models import Occurrence, ScheduledEvent


# Rules act on "now": an hour late, they may act on stale premises.
# A rule run still going when its next slot comes: the next waits for a later slot.
@event_type("BUSINESS_RULE", misfire_grace=timedelta(hours=1), overlap="skip")
def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    fields = require(event.payload, ["rule_id"])
    rule = RULES.get(fields["rule_id"])
    if rule is None:
        raise PermanentError("the payload's rule_id names no known rule")
    # The rule acts for the slot it was scheduled for, however late it runs.
    return rule(event.payload.get("context") or {}, occurrence.scheduled_for)
