"""Every payload of the original integration guide, as the guide writes it, through real
beat and worker: each reaches its handler and does its work (issue 11 §4).

The guide's calls (``AppointmentEventScheduler``, ``BusinessRuleScheduler``,
``schedule_monthly_report``, the system clean-up) are reproduced field by field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from handlers.models import Appointment, AppointmentStatus, Notification, Report
from scheduling import schedule_event
from scheduling.models import FINAL_OCCURRENCE_STATUSES, Occurrence

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _guide_event(event_type: str, entity_id: str, payload: dict[str, Any], **extra: Any) -> Any:
    return schedule_event(
        event_type=event_type,
        entity_id=entity_id,
        scheduled_time=timezone.now() + timedelta(seconds=3),
        resource_timezone="America/New_York",
        user_timezone="Europe/London",
        payload=payload,
        **extra,
    )


def test_the_guides_payloads_each_do_their_work(live_system, wait_for, django_user_model) -> None:
    alice = django_user_model.objects.create_user("alice", "alice@example.com", "pw")
    start = timezone.now() + timedelta(days=2)
    appointment = Appointment.objects.create(
        title="Dentist",
        resource="chair-2",
        start_time=start,
        end_time=start + timedelta(hours=1),
        resource_timezone="America/New_York",
        user_timezone="Europe/London",
    )
    appointment.participants.add(alice, through_defaults={"timezone": ""})
    done = Appointment.objects.create(
        title="Check-up",
        resource="chair-2",
        start_time=start - timedelta(days=3),
        end_time=start - timedelta(days=3) + timedelta(hours=1),
        resource_timezone="America/New_York",
        user_timezone="Europe/London",
        status=AppointmentStatus.COMPLETED,
    )
    done.participants.add(alice, through_defaults={"timezone": ""})

    events = {
        # AppointmentEventScheduler.schedule_appointment_events, a reminder.
        "reminder": _guide_event(
            "APPOINTMENT_REMINDER",
            str(appointment.id),
            {
                "appointment_id": str(appointment.id),
                "reminder_type": "24_hour_reminder",
                "participant_ids": [alice.pk],
                "title": appointment.title,
                "start_time": appointment.start_time.isoformat(),
            },
        ),
        # ...and its follow-up.
        "follow_up": _guide_event(
            "APPOINTMENT_FOLLOW_UP",
            str(done.id),
            {"appointment_id": str(done.id), "follow_up_type": "satisfaction_survey"},
        ),
        # BusinessRuleScheduler.schedule_daily_rule.
        "rule": _guide_event(
            "BUSINESS_RULE",
            "mark_no_shows",
            {"rule_id": "mark_no_shows", "context": {}},
        ),
        # BusinessRuleScheduler.schedule_monthly_report.
        "report": _guide_event(
            "REPORT_GENERATION",
            "monthly-appointments",
            {"report_id": "monthly-appointments", "report_type": "monthly"},
        ),
        # The system clean-up.
        "cleanup": _guide_event("DATA_CLEANUP", "system", {"days_to_keep": 90}),
    }

    def all_finished() -> bool:
        return Occurrence.objects.filter(
            event__in=events.values(), status__in=FINAL_OCCURRENCE_STATUSES
        ).count() == len(events)

    wait_for(all_finished, timeout=60, what="every guide event to finish")
    outcomes = {name: Occurrence.objects.get(event=event).status for name, event in events.items()}
    assert outcomes == dict.fromkeys(events, "succeeded")
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert kinds == {"24_hour_reminder", "satisfaction_survey"}
    assert Report.objects.get().schedule.name == "monthly-appointments"
