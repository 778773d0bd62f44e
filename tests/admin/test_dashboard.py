"""The operations dashboard page (scheduling.admin.dashboard), through Django's test client."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from scheduling.models import EventStatus
from tests.conftest import NOW
from tests.dashboard_rows import TRACEBACK, demo, event, firing

pytestmark = pytest.mark.django_db

URL = "/admin/scheduling/dashboard/"


@pytest.fixture
def rows(frozen_now) -> None:
    demo(NOW, upcoming=40, recent=60)


def staff(*, can_view_events: bool) -> User:
    user = User.objects.create_user("carol", "carol@example.com", "pw", is_staff=True)
    if can_view_events:
        user.user_permissions.add(Permission.objects.get(codename="view_scheduledevent"))
    return user


def test_the_url_is_named() -> None:
    assert reverse("admin:scheduling_dashboard") == URL


def test_staff_with_the_view_permission_see_every_section(client, rows) -> None:
    client.force_login(staff(can_view_events=True))
    page = client.get(URL).content.decode()
    for heading in (
        "Beat instances",
        "Due backlog",
        "Firing lag",
        "Outcomes, last 24 h",
        "Upcoming, next 24 h, by event type: 40",
        "Latest failures",
    ):
        assert heading in page
    assert "beat-1.example:4101" in page
    assert "<svg" in page
    assert "APPOINTMENT_REMINDER (" in page  # the chart's legend


def test_anonymous_visitors_are_sent_to_the_login_page(client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_view_permission_are_refused(client) -> None:
    client.force_login(staff(can_view_events=False))
    assert client.get(URL).status_code == 403


def test_the_index_page_links_to_the_dashboard_for_those_who_may_open_it(client) -> None:
    client.force_login(staff(can_view_events=True))
    assert f'href="{URL}"' in client.get("/admin/").content.decode()
    User.objects.filter(username="carol").delete()
    client.force_login(staff(can_view_events=False))
    assert f'href="{URL}"' not in client.get("/admin/").content.decode()


def test_an_outcome_links_to_its_firings_in_the_occurrence_list(admin_client, frozen_now) -> None:
    owner = event(next_run_at=None, status=EventStatus.FAILED)
    for hours in (1, 5):
        firing(owner, scheduled_for=NOW - timedelta(hours=hours), status="failed", error=TRACEBACK)
    firing(owner, scheduled_for=NOW - timedelta(hours=30), status="failed", error=TRACEBACK)
    firing(owner, scheduled_for=NOW - timedelta(hours=2))

    outcomes = admin_client.get(URL).context["outcomes"]["rows"]
    failed = next(row for row in outcomes if row["status"] == "failed")
    assert failed["count"] == "2"
    query = parse_qs(urlsplit(failed["url"]).query)
    assert query == {
        "status__exact": ["failed"],
        "finished_at__gt": ["2026-11-30T12:00:00+00:00"],
        "finished_at__lte": ["2026-12-01T12:00:00+00:00"],
    }

    listing = admin_client.get(failed["url"])
    assert listing.status_code == 200
    assert {o.status for o in listing.context["cl"].result_list} == {"failed"}
    assert listing.context["cl"].result_count == 2  # the one of 30 h ago is left out


def test_the_backlog_links_to_the_due_events(admin_client, frozen_now) -> None:
    for seconds in (30, 5):
        event(next_run_at=NOW - timedelta(seconds=seconds))
    event(next_run_at=NOW + timedelta(minutes=5))
    backlog = admin_client.get(URL).context["backlog"]
    assert (backlog["due"], backlog["oldest_age"]) == ("2", "30 s")
    assert admin_client.get(backlog["url"]).context["cl"].result_count == 2


def test_the_page_costs_one_query_per_read_whatever_the_rows(
    admin_client, frozen_now, django_assert_max_num_queries
) -> None:
    demo(NOW, upcoming=300, recent=300)
    # Session, user, then one per read: beats, backlog (2), lag, outcomes, failures, timeline.
    with django_assert_max_num_queries(10):
        assert admin_client.get(URL).status_code == 200


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.4, "0.4 s"), (4, "4 s"), (125, "2 min 5 s"), (3600, "1 h"), (93784, "1 d 2 h")],
)
def test_durations_read_in_two_units_at_most(seconds, shown) -> None:
    from scheduling.admin.dashboard import duration

    assert duration(seconds) == shown
