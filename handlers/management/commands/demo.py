"""Demo data for the embedded default: an admin user and appointments that fire soon."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.utils import timezone

from handlers.models import Appointment
from handlers.services.appointments import book_appointment


class Command(BaseCommand):
    help = (
        "Create the demo admin (DEMO_ADMIN_USERNAME / DEMO_ADMIN_PASSWORD, default admin/admin) "
        "and two appointments: one starting in 16 minutes, whose 15-minute reminder fires "
        "about a minute from now, and one in two days with all four events ahead."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        admin = self._admin()
        patient, _ = User.objects.get_or_create(
            username="demo-patient", defaults={"email": "patient@example.com"}
        )
        now = timezone.now().replace(microsecond=0)
        for title, start in (
            ("Demo: check-up in 16 minutes", now + timedelta(minutes=16)),
            ("Demo: follow-up visit in two days", now + timedelta(days=2)),
        ):
            booking = book_appointment(
                title=title,
                resource="demo-room",
                start_time=start,
                end_time=start + timedelta(minutes=30),
                resource_timezone="America/New_York",
                user_timezone="Europe/London",
                participants=[admin, (patient, "Asia/Tokyo")],
            )
            self._report(booking)
        self.stdout.write(f"Admin: {admin.get_username()} (see DEMO_ADMIN_* to change).")

    def _admin(self) -> User:
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        admin, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        if created:
            admin.is_staff = admin.is_superuser = True
            admin.set_password(os.environ.get("DEMO_ADMIN_PASSWORD", "admin"))
            admin.save()
        return admin

    def _report(self, booking: Any) -> None:
        appointment: Appointment = booking.appointment
        skipped = booking.plan.skipped or "none"
        self.stdout.write(
            f"Appointment {appointment.pk} '{appointment.title}': "
            f"{len(booking.plan.scheduled)} events scheduled, skipped {skipped}"
        )
