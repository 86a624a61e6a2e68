"""C1–C3 in the admin: operators set overrides and closures, the counters follow at once and
the change is audited; checkpoint staff read the closures of their own checkpoints; nobody
edits a counter by hand (A5, A6)."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import reverse

from auth2fa.roles import AUDITORS, CHECKPOINT_STAFF, OPERATORS
from checkpoints.models import Closure, HourOverride, QuotaOverride, SlotCounter, StaffAssignment
from checkpoints.services import slot_take
from core import clock
from core.clock import ALMATY
from core.models import AuditEvent

pytestmark = pytest.mark.django_db


def make_person(django_user_model, email, role):
    person = django_user_model.objects.create_user(
        email, "a-long-passphrase", full_name=email.split("@")[0].title(), is_staff=True
    )
    person.groups.add(Group.objects.get(name=role))
    return person


@pytest.fixture
def signed_in(sign_in_browser):
    def make(person):
        return sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), person)

    return make


@pytest.fixture
def operator(django_user_model):
    return make_person(django_user_model, "operator@registrar.kz", OPERATORS)


@pytest.fixture
def day():
    return clock.local_today() + dt.timedelta(days=2)


def take(checkpoint, day, hour, service="regular"):
    with transaction.atomic():
        return slot_take(
            checkpoint=checkpoint,
            direction="exit",
            start=dt.datetime.combine(day, dt.time(hour), tzinfo=ALMATY),
            service=service,
        )


def test_c1_operator_overrides_an_hour_and_the_counter_follows(
    checkpoint, operator, signed_in, day
):
    counter = take(checkpoint, day, 9)
    browser = signed_in(operator)
    response = browser.post(
        reverse("admin:checkpoints_houroverride_add"),
        {
            "checkpoint": checkpoint.pk,
            "direction": "exit",
            "date": day.isoformat(),
            "hour": 9,
            "capacity": 40,
            "note": "Extra lane",
        },
    )
    assert response.status_code == 302, response.content
    counter.refresh_from_db()
    assert (counter.planned, counter.capacity, counter.taken) == (40, 40, 1)
    assert AuditEvent.objects.filter(action="admin.added", object_type="checkpoints.houroverride")
    assert AuditEvent.objects.filter(action="capacity.refreshed", actor=operator).exists()

    override = HourOverride.objects.get()
    response = browser.post(
        reverse("admin:checkpoints_houroverride_delete", args=[override.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    counter.refresh_from_db()
    assert counter.capacity == 26  # back to the rules


def test_c1_lowering_below_taken_warns_the_operator(checkpoint, operator, signed_in, day):
    take(checkpoint, day, 9)
    take(checkpoint, day, 9)
    response = signed_in(operator).post(
        reverse("admin:checkpoints_houroverride_add"),
        {"checkpoint": checkpoint.pk, "direction": "exit", "date": day, "hour": 9, "capacity": 1},
        follow=True,
    )
    messages = [str(message) for message in response.context["messages"]]
    assert any("more places taken than its new capacity" in message for message in messages)
    counter = SlotCounter.objects.get()
    assert (counter.planned, counter.capacity, counter.taken) == (1, 2, 2)


def test_c2_operator_sets_a_days_quota(checkpoint, operator, signed_in, day):
    quota = take(checkpoint, day, 9, service="accelerated")
    response = signed_in(operator).post(
        reverse("admin:checkpoints_quotaoverride_add"),
        {
            "checkpoint": checkpoint.pk,
            "direction": "exit",
            "date": day,
            "service": "accelerated",
            "capacity": 12,
        },
    )
    assert response.status_code == 302
    quota.refresh_from_db()
    assert quota.capacity == 12
    assert QuotaOverride.objects.get().capacity == 12


def test_c1_new_daily_capacity_or_opening_hours_reach_the_counters(
    checkpoint, operator, signed_in, day
):
    counter = take(checkpoint, day, 9)
    browser = signed_in(operator)
    url = reverse("admin:checkpoints_checkpoint_change", args=[checkpoint.pk])
    page = browser.get(url)
    form = page.context["adminform"].form
    data = {
        name: form[name].value() for name in form.fields if form[name].value() not in (None, False)
    }
    data.update(
        {
            "daily_capacity": 300,
            "opens_at": "08:00",
            "closes_at": "20:00",
            "staff_assignments-TOTAL_FORMS": 0,
            "staff_assignments-INITIAL_FORMS": 0,
        }
    )
    assert browser.post(url, data).status_code == 302
    counter.refresh_from_db()
    assert counter.capacity == 24  # 282 over 12 hours from 08:00: 24 for the first six

    data.update({"opens_at": "22:00", "closes_at": "06:00"})
    page = browser.post(url, data)
    assert page.status_code == 200  # refused: crossing midnight is not supported
    assert "midnight" in page.content.decode()


def test_c3_operator_closes_a_checkpoint_and_its_hours_take_nothing(
    checkpoint, operator, signed_in, day
):
    counter = take(checkpoint, day, 10)
    response = signed_in(operator).post(
        reverse("admin:checkpoints_closure_add"),
        {
            "checkpoint": checkpoint.pk,
            "direction": "",
            "starts_at_0": day.isoformat(),
            "starts_at_1": "10:00",
            "ends_at_0": day.isoformat(),
            "ends_at_1": "12:00",
            "reason": "Road works",
        },
        follow=True,
    )
    assert response.status_code == 200
    closure = Closure.objects.get()
    assert closure.created_by == operator
    assert closure.starts_at == dt.datetime.combine(day, dt.time(10), tzinfo=ALMATY)
    counter.refresh_from_db()
    assert (counter.planned, counter.capacity, counter.taken) == (0, 1, 1)
    messages = [str(message) for message in response.context["messages"]]
    assert any("more places taken" in message for message in messages)


def test_c3_staff_read_the_closures_of_their_checkpoints_only(
    django_user_model, make_checkpoint, signed_in
):
    theirs, other = make_checkpoint("KALZHAT"), make_checkpoint("DOSTYK")
    guard = make_person(django_user_model, "guard@kalzhat.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=guard, checkpoint=theirs)
    start = clock.now()
    for checkpoint in (theirs, other):
        Closure.objects.create(
            checkpoint=checkpoint,
            starts_at=start,
            ends_at=start + dt.timedelta(hours=2),
            reason="Storm",
        )
    browser = signed_in(guard)
    listing = browser.get(reverse("admin:checkpoints_closure_changelist"))
    assert listing.status_code == 200
    assert {closure.checkpoint for closure in listing.context["cl"].queryset} == {theirs}
    assert browser.get(reverse("admin:checkpoints_closure_add")).status_code == 403
    assert browser.get(reverse("admin:checkpoints_houroverride_changelist")).status_code == 403
    assert browser.get(reverse("admin:checkpoints_slotcounter_changelist")).status_code == 403


def test_c6_counters_are_read_only_for_everyone(
    django_user_model, checkpoint, operator, signed_in, day
):
    counter = take(checkpoint, day, 9)
    auditor = make_person(django_user_model, "auditor@registrar.kz", AUDITORS)
    for person in (operator, auditor):
        browser = signed_in(person)
        assert browser.get(reverse("admin:checkpoints_slotcounter_changelist")).status_code == 200
        change_url = reverse("admin:checkpoints_slotcounter_change", args=[counter.pk])
        assert browser.get(change_url).status_code == 200
        assert browser.post(change_url, {"taken": 0}).status_code == 403
        assert browser.get(reverse("admin:checkpoints_slotcounter_add")).status_code == 403
    auditor_browser = signed_in(auditor)
    assert auditor_browser.get(reverse("admin:checkpoints_closure_changelist")).status_code == 200
    assert auditor_browser.get(reverse("admin:checkpoints_closure_add")).status_code == 403
    counter.refresh_from_db()
    assert counter.taken == 1
