"""Encrypt and decrypt payload bytes with the keys of ``SCHEDULING_PAYLOAD_KEYS``.

Fernet (AES-128-CBC with an HMAC-SHA256 over the token) is authenticated:
a token altered in the database, or written under another key, fails to
decrypt instead of decrypting to garbage. ``MultiFernet`` rotates keys: the
first key encrypts, every key decrypts, so a new key is prepended, stored
tokens are re-encrypted (``manage.py rotate_payload_keys``) and only then is
the old key dropped.

Without ``SCHEDULING_PAYLOAD_KEYS`` one key is derived from ``SECRET_KEY``,
so the embedded default encrypts with no configuration and no secret in the
repository. Production sets the keys: otherwise changing ``SECRET_KEY``
would make every stored payload unreadable.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING = "SCHEDULING_PAYLOAD_KEYS"

# Binds the derived key to this use: the same SECRET_KEY gives unrelated
# keys elsewhere (sessions, signing). Changing it makes stored payloads unreadable.
_DERIVATION_CONTEXT = b"scheduling.payload-encryption.v1"


class PayloadDecryptionError(Exception):
    """A stored token that no configured key decrypts (or that was altered)."""


def encrypt(data: bytes) -> str:
    """``data`` as a Fernet token (ASCII text) under the first key."""
    return _keys()[1].encrypt(data).decode("ascii")


def decrypt(token: str) -> bytes:
    """The bytes ``token`` holds; raise PayloadDecryptionError if no key opens it."""
    try:
        return _keys()[1].decrypt(token.encode())
    except InvalidToken:
        raise PayloadDecryptionError(_undecryptable()) from None


def rotate(token: str) -> str | None:
    """``token`` re-encrypted under the first key; None if it already is.

    Raise PayloadDecryptionError if no key opens it. Returning None for
    current tokens makes a rotation run idempotent: a second run rewrites
    nothing.
    """
    current, multi = _keys()
    raw = token.encode()
    try:
        current.decrypt(raw)
    except InvalidToken:
        pass
    else:
        return None
    try:
        return multi.rotate(raw).decode("ascii")
    except InvalidToken:
        raise PayloadDecryptionError(_undecryptable()) from None


def derived_key(secret_key: str) -> str:
    """The Fernet key used when ``SCHEDULING_PAYLOAD_KEYS`` is empty."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_CONTEXT)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())).decode("ascii")


def configured_keys() -> list[str]:
    """The keys in use, first (encrypting) first: the setting, or the derived key."""
    keys = list(getattr(settings, SETTING, None) or [])
    return keys or [derived_key(settings.SECRET_KEY)]


@functools.cache
def _keys() -> tuple[Fernet, MultiFernet]:
    fernets = []
    for position, key in enumerate(configured_keys(), start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # Names the position, never the key: this message reaches logs.
            raise ImproperlyConfigured(
                f"{SETTING}: key {position} is not a Fernet key (32 url-safe "
                "base64-encoded bytes; generate one with Fernet.generate_key())"
            ) from None
    return fernets[0], MultiFernet(fernets)


def check_keys() -> None:
    """Raise ImproperlyConfigured now if a configured key is malformed."""
    _keys()


def _undecryptable() -> str:
    return (
        f"no key in {SETTING} decrypts this token: the key that wrote it was removed, "
        "the value was altered, or SECRET_KEY changed while no keys were set"
    )


@receiver(setting_changed)
def _forget_keys(*, setting: str, **_: Any) -> None:
    # Tests switch keys with override_settings; the next call reloads them.
    if setting in (SETTING, "SECRET_KEY"):
        _keys.cache_clear()
