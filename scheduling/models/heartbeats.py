"""Beat's sign of life, in the database so that the web process can read it."""

from __future__ import annotations

from django.db import models


class BeatHeartbeat(models.Model):
    """The latest tick of one running beat, upserted by ``EventScheduler`` every few seconds.

    One row per beat process (``instance`` is ``hostname:pid``); rows of
    beats that stopped ticking a day ago are deleted by the next write. The
    table holds a handful of rows, so it needs no index beyond the key.
    """

    instance = models.CharField(max_length=255, unique=True)
    started_at = models.DateTimeField()
    last_tick_at = models.DateTimeField()
    # Holds the beat lock (scheduling.leader): this beat runs the schedule.
    is_leader = models.BooleanField(default=False)

    def __str__(self) -> str:
        role = "leader" if self.is_leader else "standby"
        return f"{self.instance} ({role}, last tick {self.last_tick_at.isoformat()})"
