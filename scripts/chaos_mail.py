"""A chaos-only e-mail backend: Django's file backend, slowed down on demand.

``scripts/chaos.py`` sets ``EMAIL_BACKEND=scripts.chaos_mail.SlowFileBackend``
in the processes it starts, so that a handler lasts long enough to be killed
inside it. The delay is read from the file named by ``CHAOS_MAIL_DELAY_FILE``
before each message ("0.3 1.0": sleep a random time in that range; missing,
empty or "0": no delay), so the chaos script slows handlers down only while
it kills workers and lets a backlog drain at full speed.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core.mail.backends.filebased import EmailBackend
from django.core.mail.message import EmailMessage


def delay_range(path: Path | None) -> tuple[float, float]:
    """The (low, high) delay in the control file; (0, 0) when there is none."""
    if path is None:
        return 0.0, 0.0
    try:
        words = path.read_text().split()
    except FileNotFoundError:
        return 0.0, 0.0
    if not words:
        return 0.0, 0.0
    low = float(words[0])
    return low, float(words[1]) if len(words) > 1 else low


class SlowFileBackend(EmailBackend):
    """Sleep before writing each message: a kill then lands mid-handler."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        control = os.environ.get("CHAOS_MAIL_DELAY_FILE")
        self.control = Path(control) if control else None

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        low, high = delay_range(self.control)
        if high > 0:
            time.sleep(random.uniform(low, high) * len(email_messages))
        return int(super().send_messages(email_messages))
