"""An e-mail backend that takes its time: a handler a test can kill in the middle.

Set ``EMAIL_BACKEND=tests.e2e.slow_mail.SlowFileBackend`` and
``SLOW_MAIL_SECONDS`` in a worker's environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.filebased import EmailBackend


class SlowFileBackend(EmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        time.sleep(float(os.environ.get("SLOW_MAIL_SECONDS", "5")))
        return super().send_messages(email_messages)
