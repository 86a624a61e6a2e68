"""The outbox in the admin: operators and auditors read it; operators retry failed messages."""

import pytest
from django.test import Client
from django.urls import reverse

from auth2fa.roles import AUDITORS, CHECKPOINT_STAFF, OPERATORS
from bookings import services as bookings
from notify import services
from notify.models import Message
from tests.factories import StaffFactory
from tests.worlds import at

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
CHANGELIST = "admin:notify_message_changelist"


@pytest.fixture
def failed_message(world):
    world.top_up("100000.00")
    booking = bookings.booking_create(
        member=world.member,
        request=bookings.BookingRequest(
            checkpoint_code="KORDAI",
            direction="exit",
            service="regular",
            slot_start=at(1, 9),
            vehicle_id=world.truck.pk,
            trailer_id=None,
            driver_ids=[world.drivers[0].pk],
        ),
    )
    message = Message.objects.get(booking=booking)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.FAILED,
        attempts=services.MAX_ATTEMPTS,
        last_error="Twilio refused the message: Queue overflow",
    )
    return message


def signed_in(django_user_model, sign_in_browser, role: str, email: str) -> Client:
    return sign_in_browser(Client(), StaffFactory(email=email, full_name=role, roles=[role]))


def test_b12_operator_reads_the_outbox_and_retries_a_failed_message(
    django_user_model, sign_in_browser, failed_message, eager, commit, world
):
    operator = signed_in(django_user_model, sign_in_browser, OPERATORS, "op@registrar.kz")
    page = operator.get(reverse(CHANGELIST), {"status__exact": "failed"}, **EN)
    assert page.status_code == 200
    assert failed_message.address in page.content.decode()
    assert "retry_now" in page.content.decode()

    number = failed_message.booking.number
    found = operator.get(reverse(CHANGELIST), {"q": number}, **EN)
    assert list(found.context["cl"].result_list) == [failed_message]
    nothing = operator.get(reverse(CHANGELIST), {"q": "K-0009999-9"}, **EN)
    assert list(nothing.context["cl"].result_list) == []

    detail = operator.get(
        reverse("admin:notify_message_change", args=[failed_message.pk]), **EN
    ).content.decode()
    assert "Queue overflow" in detail and "claim_token" not in detail

    with commit():
        done = operator.post(
            reverse(CHANGELIST),
            {"action": "retry_now", "_selected_action": [failed_message.pk]},
            **EN,
        )
    assert done.status_code == 302
    failed_message.refresh_from_db()
    assert failed_message.status == Message.Status.SENT
    assert [m["Body"] for m in world.fake_twilio.messages] == [failed_message.body]


def test_b12_nobody_edits_or_deletes_messages_in_the_admin(
    django_user_model, sign_in_browser, failed_message
):
    operator = signed_in(django_user_model, sign_in_browser, OPERATORS, "op@registrar.kz")
    change = reverse("admin:notify_message_change", args=[failed_message.pk])
    operator.post(change, {"status": "sent", "body": "edited"}, **EN)
    failed_message.refresh_from_db()
    assert (failed_message.status, failed_message.body) != ("sent", "edited")
    delete = reverse("admin:notify_message_delete", args=[failed_message.pk])
    assert operator.post(delete, {"post": "yes"}, **EN).status_code == 403
    assert operator.get(reverse("admin:notify_message_add"), **EN).status_code == 403


def test_b12_auditors_read_the_outbox_but_cannot_retry(
    django_user_model, sign_in_browser, failed_message
):
    auditor = signed_in(django_user_model, sign_in_browser, AUDITORS, "audit@registrar.kz")
    page = auditor.get(reverse(CHANGELIST), **EN)
    assert page.status_code == 200
    assert "retry_now" not in page.content.decode()
    auditor.post(
        reverse(CHANGELIST), {"action": "retry_now", "_selected_action": [failed_message.pk]}, **EN
    )
    failed_message.refresh_from_db()
    assert failed_message.status == Message.Status.FAILED


def test_b12_checkpoint_staff_do_not_see_the_outbox(
    django_user_model, sign_in_browser, failed_message
):
    staff = signed_in(django_user_model, sign_in_browser, CHECKPOINT_STAFF, "kordai@kgd.kz")
    assert staff.get(reverse(CHANGELIST), **EN).status_code == 403
