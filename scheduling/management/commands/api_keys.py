"""Make, revoke and list the HTTP API's keys: ``manage.py api_keys create --service billing``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduling.exceptions import EventValidationError
from scheduling.models import ApiKey
from scheduling.services.api_keys import create_api_key, revoke_api_key


class Command(BaseCommand):
    help = "Make (printed once), revoke or list the API keys of services."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        create = commands.add_parser("create", help="Make a key and print it (only this once).")
        create.add_argument("--service", required=True, help="The service_id the key is bound to.")
        create.add_argument("--name", default="", help="What the key is for.")
        revoke = commands.add_parser("revoke", help="Revoke a key by its prefix.")
        revoke.add_argument("prefix")
        commands.add_parser("list", help="List keys (never their secrets).")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(**options)

    def _create(self, *, service: str, name: str, **_: Any) -> None:
        try:
            _key, raw_key = create_api_key(service_id=service, name=name)
        except EventValidationError as exc:
            problems = (f"{field} {' '.join(m)}" for field, m in exc.message_dict.items())
            raise CommandError("; ".join(problems)) from None
        # The bare key alone on stdout, so scripts can capture it.
        self.stdout.write(raw_key)
        self.stderr.write(f"Key for service {service!r}: store it now, it is not shown again.")

    def _revoke(self, *, prefix: str, **_: Any) -> None:
        key = ApiKey.objects.filter(prefix=prefix.split(".")[0]).first()
        if key is None:
            raise CommandError(f"no API key with prefix {prefix!r}")
        if not revoke_api_key(key):
            raise CommandError(f"key {key.prefix} was already revoked")
        self.stdout.write(f"Revoked {key.prefix} ({key.service_id}).")

    def _list(self, **_: Any) -> None:
        for key in ApiKey.objects.order_by("service_id", "created_at"):
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            self.stdout.write(f"{key.prefix}  {key.service_id:<20} {state:<24} {key.name}")
