"""Make, revoke and check the per-service keys of the HTTP API.

A key reads ``<prefix>.<secret>``: the prefix (public, unique) finds the row,
the SHA-256 of the whole key must match its digest. Only the digest is
stored, so a key is shown once, when it is made, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from scheduling import audit
from scheduling.exceptions import EventValidationError
from scheduling.models import ApiKey, AuditAction

_SERVICE_MAX = int(getattr(ApiKey._meta.get_field("service_id"), "max_length", 64))
# Recording every use would make each request a write; a minute is enough
# to tell a key in use from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def create_api_key(*, service_id: str, name: str = "") -> tuple[ApiKey, str]:
    """Make a key bound to ``service_id``; return it and its secret text."""
    service_id = service_id.strip()
    if not service_id or len(service_id) > _SERVICE_MAX:
        raise EventValidationError({"service_id": f"must be 1 to {_SERVICE_MAX} characters"})
    prefix = secrets.token_hex(6)
    raw_key = f"{prefix}.{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        service_id=service_id,
        name=name,
        prefix=prefix,
        digest=_digest(raw_key),
        created_by=audit.current_actor().name[:150],
    )
    audit.record(AuditAction.KEY_CREATE, prefix, service_id=service_id, name=name)
    return key, raw_key


@transaction.atomic
def revoke_api_key(key: ApiKey) -> bool:
    """Revoke ``key`` from now on; return False if it already was."""
    revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit.record(AuditAction.KEY_REVOKE, key.prefix, service_id=key.service_id)
    key.refresh_from_db(fields=["revoked_at"])
    return bool(revoked)


def authenticate(raw_key: str) -> ApiKey | None:
    """The active key whose text is ``raw_key``, or None."""
    prefix, _, _secret = raw_key.partition(".")
    key = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    # Compared in constant time even when no row matched, so response times
    # do not tell a known prefix from an unknown one.
    expected = key.digest if key is not None else _digest("")
    if not hmac.compare_digest(expected, _digest(raw_key)) or key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
