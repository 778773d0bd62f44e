"""The notification outbox: rows first, e-mails second, each sent once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from handlers.models import Appointment, Notification, Participant
from scheduling.models import Occurrence

logger = logging.getLogger(__name__)

Render = Callable[[Participant], tuple[str, str]]


def notify_participants(
    *, occurrence: Occurrence, appointment: Appointment, kind: str, render: Render
) -> dict[str, int]:
    """Write one notification per participant for this firing and send its e-mail.

    Idempotent per firing: a second run finds the rows (unique per firing,
    user and kind) and sends only what is still unsent. ``render`` gives
    (subject, body) for a participant. Return how many rows were written and
    how many e-mails went out now.
    """
    written = 0
    participants = Participant.objects.filter(appointment=appointment).select_related("user")
    for participant in participants:
        subject, body = render(participant)
        _, created = Notification.objects.get_or_create(
            occurrence=occurrence,
            user=participant.user,
            kind=kind,
            defaults={"appointment": appointment, "subject": subject, "body": body},
        )
        written += created
    return {"notifications": written, "emails_sent": send_pending(occurrence)}


def message_id(note: Notification) -> str:
    """The same for every attempt at the same notification."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return f"<notification-{note.pk}@{domain}>"


def send_pending(occurrence: Occurrence) -> int:
    """Send the firing's unsent notifications; each is marked sent right after."""
    sent = 0
    for note in Notification.objects.filter(
        occurrence=occurrence, sent_at__isnull=True
    ).select_related("user"):
        if not note.user.email:
            continue
        message = EmailMessage(
            note.subject,
            note.body,
            settings.DEFAULT_FROM_EMAIL,
            [note.user.email],
            headers={"Message-ID": message_id(note)},
        )
        message.send()
        # A crash between send and mark repeats the e-mail, never loses it;
        # the repeat has the same Message-ID, so mail systems can drop it.
        Notification.objects.filter(pk=note.pk).update(sent_at=timezone.now())
        # INFO, one line whatever the e-mail backend: the address stays out
        # of the log, the Message-ID finds the message in the mail system's.
        logger.info("sent e-mail %s (%s) to user %s", message_id(note), note.kind, note.user_id)
        sent += 1
    return sent
