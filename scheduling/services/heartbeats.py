"""Beat's heartbeat: the one write that says a beat is alive."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from scheduling.models import BeatHeartbeat

# A beat silent this long has stopped (its restart writes a row of its own, or
# the same row when it gets the same hostname and pid, as in a container).
HEARTBEAT_RETENTION = timedelta(days=1)


@transaction.atomic
def record_beat_tick(
    *, instance: str, started_at: datetime, is_leader: bool, now: datetime
) -> None:
    """Upsert ``instance``'s heartbeat at ``now`` and delete heartbeats silent for a day.

    One INSERT ... ON CONFLICT DO UPDATE, so the first write and the later
    ones cost the same; raises DatabaseError when the database is unreachable.
    """
    BeatHeartbeat.objects.bulk_create(
        [
            BeatHeartbeat(
                instance=instance, started_at=started_at, last_tick_at=now, is_leader=is_leader
            )
        ],
        update_conflicts=True,
        unique_fields=["instance"],
        update_fields=["started_at", "last_tick_at", "is_leader"],
    )
    BeatHeartbeat.objects.filter(last_tick_at__lt=now - HEARTBEAT_RETENTION).delete()
