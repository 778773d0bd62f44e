"""What happens to a firing reached late (beat or broker was down, or a backlog).

Each event type has a grace window: a firing claimed by beat, or started by
a worker, more than that after its instant is recorded as ``missed`` instead
of being run, because acting on it would do more harm than good (a "15
minutes before" reminder three hours late). ``None`` means "always run, however late".

What a recurring event does with the slots it missed is its catch-up policy
(``scheduling.models.CatchUp``): by default the latest is claimed once and
the others are passed over. See ``claim_due_occurrences``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduling import registry


def grace_for(event_type: str) -> timedelta | None:
    """The grace window of a type, as declared (``scheduling.registry``).

    ``SCHEDULING_MISFIRE_GRACE_SECONDS`` overrides a declaration. A type no
    longer registered keeps no grace (its firing reaches the worker, which
    records it as skipped with the reason).
    """
    declared = registry.get(event_type)
    return None if declared is None else declared.grace()


def lateness_beyond_grace(
    grace: timedelta | None,
    scheduled_for: datetime,
    now: datetime,
    *,
    event_type: str,
    stage: str = "claimed",
) -> str | None:
    """Why a firing is missed, or None if it is still worth running.

    ``grace`` is the event's (``scheduling.policies.grace``). ``stage`` names
    where the lateness was found: ``claimed`` by beat, or ``started`` by a
    worker (a message that waited in a backlog).
    """
    late = now - scheduled_for
    if grace is None or late <= grace:
        return None
    return f"missed: {stage} {late} after its instant; the grace for {event_type} is {grace}"
