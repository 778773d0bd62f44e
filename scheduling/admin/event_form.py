"""The admin's forms for events: the change form (time, payload, recurrence) and the
reschedule action's form. Both are read in a named zone, and say which.

Each checks its input as the service will (``check_event_update``), so a bad
value is an error on its field and nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib.admin import widgets
from django.utils import timezone

from scheduling.exceptions import EventValidationError
from scheduling.models import ScheduledEvent
from scheduling.services.controls import check_controls
from scheduling.services.events import check_event_update
from scheduling.timecheck import TimeValueError, is_valid_timezone, wall_clock_in_zone

EDITABLE = ["scheduled_time", "recurrence", "payload"]
# Saved by set_event_controls; empty: the event type's.
CONTROLS = ["misfire_grace_seconds", "catch_up", "jitter_seconds", "overlap"]


class WallClockField(forms.SplitDateTimeField):
    """A date and a time as typed, read in the zone active for the form."""

    def compress(self, data_list: Any) -> datetime | None:
        if not data_list:
            return None
        naive = datetime.combine(*data_list)
        try:
            return wall_clock_in_zone(naive, timezone.get_current_timezone_name())
        except TimeValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class ScheduledEventForm(forms.ModelForm):
    """Time, recurrence and payload of a scheduled event; saved by ``update_event``."""

    scheduled_time = WallClockField(
        label="Scheduled time",
        widget=widgets.AdminSplitDateTime,
        help_text="The one-off's instant, or the first a recurring event may fire.",
    )

    class Meta:
        model = ScheduledEvent
        fields = [*EDITABLE, *CONTROLS]
        help_texts = {
            "misfire_grace_seconds": "How late a firing may still run; empty: the type's.",
            "catch_up": "Missed slots of a recurring event; empty: the type's (latest).",
            "jitter_seconds": "Spread firings over up to this many seconds; empty: the type's.",
            "overlap": "A slot due while the previous firing runs; empty: the type's.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors or not self.instance.pk:
            return cleaned
        try:
            check_event_update(
                self.instance_as_stored(),
                **self.changes(EDITABLE),
                now=timezone.now(),
            )
            check_controls(**self.changes(CONTROLS))
        except EventValidationError as exc:
            self.add_service_errors(exc)
        return cleaned

    def changes(self, names: list[str]) -> dict[str, Any]:
        """The fields among ``names`` the form changed, with their new values."""
        return {name: self.cleaned_data[name] for name in names if name in self.changed_data}

    def instance_as_stored(self) -> ScheduledEvent:
        # ModelForm's _post_clean has not yet copied the input onto the instance
        # here, but re-read anyway: the checks compare with what is stored.
        return ScheduledEvent.objects.get(pk=self.instance.pk)

    def add_service_errors(self, exc: EventValidationError) -> None:
        for key, messages in exc.message_dict.items():
            field, _, part = key.partition(".")  # "recurrence.interval"
            text = [f"{part}: {m}" if part else m for m in messages]
            self.add_error(field if field in self.fields else None, text)


class RescheduleForm(forms.Form):
    """The reschedule action's new time: a wall clock in a named zone."""

    when = forms.SplitDateTimeField(
        label="New time",
        widget=widgets.AdminSplitDateTime,
        help_text="Date and time to the second.",
    )
    zone = forms.CharField(
        label="In time zone", help_text="An IANA name, such as America/New_York or UTC."
    )

    def clean_zone(self) -> str:
        zone: str = self.cleaned_data["zone"].strip()
        if not is_valid_timezone(zone):
            raise forms.ValidationError(
                f"{zone!r} is not a time zone name; use an IANA name such as Europe/Paris"
            )
        return zone

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "when" in cleaned and "zone" in cleaned:
            # The split field made the input aware in the current zone (UTC):
            # its wall clock is what was typed, read here in the chosen zone.
            try:
                cleaned["instant"] = wall_clock_in_zone(cleaned["when"], cleaned["zone"])
            except TimeValueError as exc:
                self.add_error("when", str(exc))
        return cleaned
