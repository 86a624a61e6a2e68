"""C3, D4: an operator's closure is made by one service, `closure_create`: the closure, its
audit event, the cancelling of the bookings inside it and the counters of its days, in one
transaction; the admin makes closures through it."""

import datetime as dt

import pytest

from auth2fa.roles import CHECKPOINT_STAFF, OPERATORS
from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoints.models import Closure, SlotCounter
from core.clock import ALMATY
from core.models import AuditEvent
from deposits.selectors import ledger_check
from tests.bookings.test_staff_page import messages_of, person
from tests.worlds import at, book, refused, trucks

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model):
    return person(django_user_model, "operator@registrar.kz", OPERATORS)


def close(world, operator, **kwargs):
    fields = {
        "checkpoint": world.checkpoint,
        "direction": "",
        "starts_at": at(2, 0),
        "ends_at": at(3, 0),
        "reason": "Road works",
        "actor": operator,
    }
    return services.closure_create(**{**fields, **kwargs})


def test_c3_closure_create_makes_audits_cancels_inside_and_closes_the_counters(
    world, operator, clock
):
    world.top_up("1000000.00")
    inside = book(world, start=at(2, 9))
    outside = book(world, vehicle=trucks(world, 1)[0], start=at(3, 9))
    created = close(world, operator)
    closure = Closure.objects.get()
    assert created.closure == closure and closure.created_by == operator
    assert [booking.pk for booking in created.cancelled] == [inside.pk]
    inside.refresh_from_db()
    assert inside.status == "cancelled_by_operator" and deposit_status(inside) == "released"
    assert Booking.objects.get(pk=outside.pk).status == "confirmed"
    event = AuditEvent.objects.get(action="closure.created")
    assert event.actor == operator and event.object_id == str(closure.pk)
    assert event.after["reason"] == "Road works" and event.after["checkpoint"] == "KORDAI"
    # The closed hour takes nothing and holds nothing: no counter is left over capacity.
    counter = SlotCounter.objects.get(pk=inside.counter_id)
    assert (counter.planned, counter.capacity, counter.taken) == (0, 0, 0)
    assert created.overbooked == []
    assert ledger_check().ok


def test_c3_closure_create_is_one_transaction_nothing_stays_of_a_failed_one(
    world, operator, clock, monkeypatch
):
    world.top_up("1000000.00")
    inside = book(world, start=at(2, 9))

    def refund_fails(**kwargs):
        raise RuntimeError("the ledger is down")

    monkeypatch.setattr(services, "fee_refund", refund_fails)
    with pytest.raises(RuntimeError):
        close(world, operator)
    assert not Closure.objects.exists()
    assert not AuditEvent.objects.filter(action="closure.created").exists()
    inside.refresh_from_db()
    assert inside.status == "confirmed" and deposit_status(inside) == "held"


def test_c3_only_operators_close_a_checkpoint(world, django_user_model, clock):
    officer = person(django_user_model, "officer@kordai.kz", CHECKPOINT_STAFF)
    refused(lambda: close(world, officer), "forbidden")
    assert not Closure.objects.exists()


def test_c3_closure_create_refuses_a_period_ending_before_it_starts_and_no_reason(
    world, operator, clock
):
    wrong = refused(lambda: close(world, operator, ends_at=at(2, 0)), "validation_error")
    assert set(wrong.fields) == {"ends_at"}
    empty = refused(lambda: close(world, operator, reason="  "), "validation_error")
    assert set(empty.fields) == {"reason"}
    other = refused(lambda: close(world, operator, direction="sideways"), "validation_error")
    assert set(other.fields) == {"direction"}
    assert not Closure.objects.exists()


def test_c3_the_admin_makes_a_closure_through_closure_create(
    world, operator, signed_in, clock, monkeypatch
):
    world.top_up("1000000.00")
    inside = book(world, start=at(2, 9))
    calls = []
    real = services.closure_create

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, "closure_create", spy)
    day = at(2, 0).astimezone(ALMATY).date().isoformat()
    response = signed_in(operator).post(
        "/admin/checkpoints/closure/add/",
        {
            "checkpoint": world.checkpoint.pk,
            "direction": "exit",
            "starts_at_0": day,
            "starts_at_1": "08:00",
            "ends_at_0": day,
            "ends_at_1": "12:00",
            "reason": "Road works",
        },
        follow=True,
    )
    assert response.status_code == 200
    (call,) = calls
    assert call["actor"] == operator and call["direction"] == "exit"
    assert call["starts_at"] == at(2, 8) and call["ends_at"] == at(2, 8) + dt.timedelta(hours=4)
    closure = Closure.objects.get()
    assert closure.created_by == operator and closure.reason == "Road works"
    # The service's audit event, not the admin's generic one.
    assert AuditEvent.objects.filter(action="closure.created", object_id=str(closure.pk)).exists()
    assert not AuditEvent.objects.filter(action="admin.added", object_id=str(closure.pk)).exists()
    assert Booking.objects.get(pk=inside.pk).status == "cancelled_by_operator"
    assert any("1 booking inside the closure was cancelled" in m for m in messages_of(response))
