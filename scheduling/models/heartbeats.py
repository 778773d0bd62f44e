"""Beat's own rows: its sign of life, which the web process reads, and the beat rows
a burst left to delete."""

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


class FiredBeatRows(models.Model):
    """The beat rows of one-offs a burst fired, left for beat to delete once it is published.

    One row per claimed batch, written in the claim's transaction: a burst's
    claims detach each fired one-off from its ``PeriodicTask`` and clock and
    note their ids here instead of deleting them, which took a third of each
    claim (``occurrences.archive_fired_beat_rows`` deletes them after the
    burst's last batch is published). A beat that dies in between leaves the
    row for any beat's next lapsed-lease sweep. The table holds a burst's batches at
    most, so it needs no index beyond the key.
    """

    task_ids = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "fired beat rows"

    def __str__(self) -> str:
        return f"{len(self.task_ids)} beat rows fired by {self.created_at.isoformat()}"
