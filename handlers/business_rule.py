"""BUSINESS_RULE: run the rule named by ``rule_id`` with its context."""

from __future__ import annotations

from typing import Any

from handlers.errors import SkipOccurrence
from handlers.payload import require
from scheduling.models import Occurrence, ScheduledEvent
from scheduling.rules import RULES


def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    fields = require(event.payload, ["rule_id"])
    rule = RULES.get(fields["rule_id"])
    if rule is None:
        raise SkipOccurrence("the payload's rule_id names no known rule")
    # The rule acts for the slot it was scheduled for, however late it runs.
    return rule(event.payload.get("context") or {}, occurrence.scheduled_for)
