"""Re-encrypt every stored payload under the first key of SCHEDULING_PAYLOAD_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduling.encryption import SETTING
from scheduling.services.payload_keys import rotate_stored_payloads

# Enough to find the rows; a count says how many there are in all.
_LISTED = 20


class Command(BaseCommand):
    help = (
        f"Re-encrypt stored payloads under the first key of {SETTING}. Rotation: prepend "
        "a new key, run this, then drop the old key. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows per transaction (default 500)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        rotation = rotate_stored_payloads(batch_size=options["batch_size"])
        self.stdout.write(
            f"Rewrote {rotation.rewritten} rows under the current key; "
            f"{rotation.current} already were."
        )
        if rotation.unreadable:
            listed = ", ".join(rotation.unreadable[:_LISTED])
            more = "" if len(rotation.unreadable) <= _LISTED else ", ..."
            raise CommandError(
                f"{len(rotation.unreadable)} rows could not be decrypted with any key in "
                f"{SETTING} and were left as they are: {listed}{more}"
            )
