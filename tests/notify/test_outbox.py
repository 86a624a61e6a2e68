"""B12 through the outbox: messages written in the booking's transaction, delivered after commit
by SMS (the fake Twilio) or Telegram (the fake Bot API), in the person's language, retried when
the provider fails — and a failed delivery never undoes a booking."""

import datetime as dt
import logging
import types
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext

from auth2fa.models import SmsDevice, TelegramDevice, User
from bookings import services as bookings
from bookings.models import Booking
from bookings.selectors import deposit_status
from carriers.models import Member
from core.errors import ApplicationError
from core.money import format_tenge
from deposits.selectors import balances_of
from notify import services, tasks
from notify.models import Message
from tests.worlds import NOW, at

pytestmark = pytest.mark.django_db

FEE_2026 = Decimal("4325.00")
DEPOSIT_2026 = Decimal("86500.00")
CHAT = 700_100_200


def book(world, *, start=None, vehicle=None, member=None) -> Booking:
    return bookings.booking_create(
        member=member or world.member,
        request=bookings.BookingRequest(
            checkpoint_code="KORDAI",
            direction="exit",
            service="regular",
            slot_start=start or at(1, 9),
            vehicle_id=(vehicle or world.truck).pk,
            trailer_id=None,
            driver_ids=[world.drivers[0].pk],
        ),
    )


def speaks(user: User, language: str) -> User:
    user.language = language
    user.save(update_fields=["language"])
    return user


def link_telegram(user: User, chat_id: int = CHAT) -> TelegramDevice:
    return TelegramDevice.objects.create(
        user=user, name="Telegram", confirmed=True, chat_id=chat_id
    )


def dispatcher_of(world, *, phone: str | None = "+77015550101") -> Member:
    user = User.objects.create_user(
        "dispatch@steppe.kz", "x", full_name="Dana Dispatcher", phone=phone, language="en"
    )
    if phone:
        SmsDevice.objects.create(user=user, name="Phone", phone=phone, confirmed=True)
    return Member.objects.create(carrier=world.carrier, user=user, role=Member.Role.DISPATCHER)


@pytest.fixture
def owner(world):
    return speaks(world.member.user, "en")


# --- Written with the booking, delivered after commit ---------------------------------------------


def test_b12_booking_made_is_queued_in_its_transaction_and_sent_by_sms_after_commit(
    world, owner, eager, commit
):
    world.top_up("100000.00")
    with commit():
        booking = book(world)
        message = Message.objects.get(booking=booking)
        assert message.status == Message.Status.QUEUED
        assert world.fake_twilio.messages == []  # nothing leaves before the commit
    message.refresh_from_db()
    assert (message.kind, message.channel, message.address) == (
        "booking_created",
        "sms",
        "+77011234567",
    )
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert message.provider_id.startswith("SM")
    assert message.recipient == owner and message.language == "en"
    assert [(m["To"], m["Body"]) for m in world.fake_twilio.messages] == [
        (
            "+77011234567",
            f"Kezek: booking {booking.number} is made: Kordai, 21.03 09:00, vehicle 123 ABC 02.",
        )
    ]


def test_b12_a_rolled_back_booking_leaves_no_message_and_sends_nothing(world, owner, eager, commit):
    world.top_up("100000.00")
    with commit(), pytest.raises(RuntimeError), transaction.atomic():
        book(world)
        assert Message.objects.count() == 1
        raise RuntimeError("something later in the same transaction failed")
    assert not Booking.objects.exists()
    assert not Message.objects.exists()
    assert world.fake_twilio.messages == []


def test_b12_a_refused_booking_queues_nothing(world, owner, eager, commit):
    world.top_up("1000.00")
    with commit(), pytest.raises(ApplicationError):
        book(world)
    assert not Message.objects.exists()


def test_b12_notify_refuses_to_run_outside_a_transaction(world, owner, monkeypatch):
    world.top_up("100000.00")
    booking = book(world)
    outside = types.SimpleNamespace(in_atomic_block=False)
    with monkeypatch.context() as patched:
        patched.setattr(services.transaction, "get_connection", lambda using=None: outside)
        with pytest.raises(RuntimeError, match="inside the transaction"):
            services.booking_event_notify(booking=booking, event="booking_created")


def test_b12_unknown_event_or_missing_extra_is_a_programming_error(world, owner):
    world.top_up("100000.00")
    booking = book(world)
    with pytest.raises(ValueError, match="No text"):
        services.booking_event_notify(booking=booking, event="booking_teleported")
    with pytest.raises(ValueError, match="old_slot_start"):
        services.booking_event_notify(booking=booking, event="booking_rescheduled")


def test_b12_linked_telegram_is_used_instead_of_sms(world, owner, fake_telegram, eager, commit):
    link_telegram(owner)
    world.top_up("100000.00")
    with commit():
        booking = book(world)
    message = Message.objects.get(booking=booking)
    assert (message.channel, message.address, message.status) == ("telegram", str(CHAT), "sent")
    assert fake_telegram.texts_to(CHAT) == [message.body]
    assert booking.number in message.body
    assert world.fake_twilio.messages == []


def test_b12_the_dispatcher_who_booked_and_the_owner_are_both_told(
    world, owner, fake_telegram, eager, commit
):
    link_telegram(owner)
    dispatcher = dispatcher_of(world)
    world.top_up("100000.00")
    with commit():
        booking = book(world, member=dispatcher)
    by_person = {m.recipient_id: m for m in Message.objects.filter(booking=booking)}
    assert set(by_person) == {dispatcher.user_id, owner.pk}
    assert (by_person[dispatcher.user_id].channel, by_person[dispatcher.user_id].address) == (
        "sms",
        "+77015550101",
    )
    assert by_person[owner.pk].channel == "telegram"
    assert [m["To"] for m in world.fake_twilio.messages] == ["+77015550101"]
    assert len(fake_telegram.texts_to(CHAT)) == 1


def test_b12_the_messages_of_one_event_are_queued_with_one_insert(world, owner):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    link_telegram(owner)
    dispatcher = dispatcher_of(world)
    world.top_up("100000.00")
    with CaptureQueriesContext(connection) as queries:
        booking = book(world, member=dispatcher)
    inserts = [
        q["sql"] for q in queries.captured_queries if 'INSERT INTO "notify_message' in q["sql"]
    ]
    assert len(inserts) == 1, inserts
    messages = list(Message.objects.filter(booking=booking).order_by("pk"))
    # The person who booked first, then the owners (as `_recipients` names them).
    assert [m.recipient_id for m in messages] == [dispatcher.user_id, owner.pk]
    assert all(m.status == "queued" and m.attempts == 0 for m in messages)


def _recipients_by_the_orm(booking):
    """What the ORM itself reads for `_recipients`' queryset: the oracle of its compiled run."""
    return [
        (person.pk, person.telegram_chat, person.sms_phone)
        for person in services._recipients_query(booking.created_by_id, booking.carrier_id)
    ]


def test_b12_recipients_read_from_compiled_sql_are_the_orm_querys(world, owner, fake_twilio):
    from tests.worlds import make_other_world

    world.top_up("1000000.00")
    dispatcher = dispatcher_of(world)
    # The owner: a confirmed SMS phone after an unconfirmed one, and a linked chat.
    SmsDevice.objects.create(user=owner, name="Old", phone="+77015550199", confirmed=False)
    SmsDevice.objects.create(user=owner, name="New", phone="+77015550198", confirmed=True)
    link_telegram(owner)
    # A second owner with an unlinked chat and no phone; an inactive owner.
    second = User.objects.create_user("owner2@steppe.kz", "x", full_name="Second Owner")
    Member.objects.create(carrier=world.carrier, user=second, role=Member.Role.OWNER)
    TelegramDevice.objects.create(user=second, name="Telegram", confirmed=False, chat_id=None)
    gone = User.objects.create_user("gone@steppe.kz", "x", full_name="Gone", is_active=False)
    Member.objects.create(carrier=world.carrier, user=gone, role=Member.Role.OWNER)
    # An accountant (not told) and another carrier's owner (not told).
    accountant = User.objects.create_user("acc@steppe.kz", "x", full_name="Acc")
    Member.objects.create(carrier=world.carrier, user=accountant, role=Member.Role.ACCOUNTANT)
    make_other_world(fake_twilio)
    by_owner = book(world)
    by_dispatcher = book(world, member=dispatcher, vehicle=world.tractor)
    for booking in (by_owner, by_dispatcher):
        booking = Booking.objects.select_related("created_by").get(pk=booking.pk)
        expected = _recipients_by_the_orm(booking)
        assert len(expected) == (4 if booking == by_dispatcher else 3)
        read = services._recipients(booking)
        by_pk = {row[0]: row for row in expected}
        # The person who booked first, then the other owners by id; the inactive one left out.
        order = [booking.created_by_id] + [
            pk for pk in sorted(by_pk) if pk != booking.created_by_id
        ]
        assert [(user.pk, chat, phone) for user, chat, phone in read] == [
            by_pk[pk] for pk in order if pk != gone.pk
        ]
    # The dispatcher left the carrier: no longer told of the bookings they made.
    Member.objects.filter(user=dispatcher.user).delete()
    booking = Booking.objects.select_related("created_by").get(pk=by_dispatcher.pk)
    assert [user.pk for user, _c, _p in services._recipients(booking)] == [
        pk for pk, _c, _p in _recipients_by_the_orm(booking) if pk != gone.pk
    ]


def test_b12_a_person_with_no_confirmed_phone_or_chat_gets_nothing(world, owner, caplog):
    dispatcher = dispatcher_of(world, phone=None)
    world.top_up("100000.00")
    with caplog.at_level(logging.INFO, logger="notify.services"):
        booking = book(world, member=dispatcher)
    assert [m.recipient_id for m in Message.objects.filter(booking=booking)] == [owner.pk]
    assert "Nobody to tell" in caplog.text


def test_b12_a_person_who_left_the_carrier_is_not_told_of_its_bookings(world, owner):
    dispatcher = dispatcher_of(world)
    world.top_up("100000.00")
    booking = book(world, member=dispatcher)
    Message.objects.all().delete()
    Member.objects.filter(pk=dispatcher.pk).delete()
    with transaction.atomic():
        services.booking_event_notify(booking=booking, event="booking_reminder")
    assert [m.recipient_id for m in Message.objects.all()] == [owner.pk]


# --- In the person's language ------------------------------------------------------------------


def test_b12_the_text_is_rendered_in_the_recipients_language(world, owner):
    speaks(owner, "kk")
    world.top_up("100000.00")
    booking = book(world)
    message = Message.objects.get(booking=booking)
    assert message.language == "kk"
    with translation.override("kk"):
        expected = gettext(
            "Kezek: booking %(number)s is made: %(checkpoint)s, %(slot)s, vehicle %(plate)s."
        ) % {
            "number": booking.number,
            "checkpoint": "Қордай",
            "slot": "21.03 09:00",
            "plate": "123 ABC 02",
        }
    assert message.body == expected
    english = services.message_text(booking=booking, event="booking_created", language="en")
    assert message.body != english
    assert "Kordai" in english and "Қордай" in message.body
    # The active language of whoever made the change does not matter.
    with translation.override("ru"):
        assert services.message_text(booking=booking, event="booking_created", language="kk") == (
            message.body
        )


# --- The events --------------------------------------------------------------------------------


def test_b12_reschedule_tells_the_old_and_the_new_hour(world, owner):
    world.top_up("600000.00")
    booking = book(world)
    bookings.booking_reschedule(member=world.member, booking=booking, slot_start=at(1, 11))
    message = Message.objects.get(booking=booking, kind="booking_rescheduled")
    assert message.body == (
        f"Kezek: booking {booking.number} is moved from 21.03 09:00 to 21.03 11:00: Kordai, "
        "vehicle 123 ABC 02."
    )


def test_b12_a_cancellation_tells_the_deposit_released_then_forfeited(world, owner, clock):
    world.top_up("300000.00")
    first = book(world)
    bookings.booking_cancel(member=world.member, booking=first)
    assert deposit_status(first) == "released"
    released = Message.objects.get(booking=first, kind="deposit_released")
    assert format_tenge(DEPOSIT_2026) in released.body
    assert first.number in released.body

    clock.shift(dt.timedelta(hours=1))
    second = book(world, start=at(2, 9))
    bookings.booking_cancel(member=world.member, booking=second)
    second.refresh_from_db()
    assert deposit_status(second) == "forfeited"
    forfeited = Message.objects.get(booking=second, kind="deposit_forfeited")
    assert format_tenge(DEPOSIT_2026) in forfeited.body and "90 days" in forfeited.body
    assert not Message.objects.filter(booking=second, kind="deposit_released").exists()


def test_b12_an_operator_cancellation_carries_its_reason(world, owner):
    world.top_up("100000.00")
    booking = book(world)
    with transaction.atomic():
        (message,) = services.booking_event_notify(
            booking=booking,
            event="booking_cancelled_by_operator",
            extra={"reason": "Road works on the bridge"},
        )
    assert message.body.startswith(f"Kezek: booking {booking.number} (Kordai, 21.03 09:00")
    assert message.body.endswith("Reason: Road works on the bridge")


# --- The SMS provider fails: the booking stands, the message is retried ---------------------------


def test_b12_sms_provider_fails_the_booking_stands_and_the_message_is_retried_and_delivered(
    world, owner, clock, eager, commit
):
    world.top_up("100000.00")
    world.fake_twilio.fail_next = 2
    with commit():
        booking = book(world)

    # The booking stands: confirmed, fee charged, deposit held.
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    balances = balances_of(world.carrier)
    assert balances.available == Decimal("100000.00") - FEE_2026 - DEPOSIT_2026
    assert balances.held == DEPOSIT_2026

    # The first attempt (right after commit) failed: queued again, after 1 minute.
    message = Message.objects.get(booking=booking)
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1
    assert "Twilio refused" in message.last_error
    assert message.next_attempt_at == NOW + dt.timedelta(minutes=1)
    assert world.fake_twilio.messages == []

    # Not due yet: nothing is tried.
    assert services.messages_deliver_due() == 0
    message.refresh_from_db()
    assert message.attempts == 1

    # A minute later the second attempt fails too: 2 minutes more.
    clock.shift(dt.timedelta(minutes=1))
    assert services.messages_deliver_due() == 0
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 2)
    assert message.next_attempt_at == NOW + dt.timedelta(minutes=3)

    # The provider has recovered: the job delivers it.
    clock.shift(dt.timedelta(minutes=2))
    assert services.messages_deliver_due() == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 3)
    assert message.sent_at == NOW + dt.timedelta(minutes=3)
    assert message.provider_id == world.fake_twilio.messages[0]["sid"]
    assert [m["Body"] for m in world.fake_twilio.messages] == [message.body]
    assert "Twilio refused" in message.last_error  # why it was late stays visible

    # Sent once: later runs leave it alone.
    clock.shift(dt.timedelta(hours=1))
    assert services.messages_deliver_due() == 0
    assert len(world.fake_twilio.messages) == 1


def test_b12_telegram_failure_is_retried_too(world, owner, fake_telegram, clock, eager, commit):
    link_telegram(owner)
    world.top_up("100000.00")
    fake_telegram.fail_next = 1
    with commit():
        booking = book(world)
    message = Message.objects.get(booking=booking)
    assert (message.status, message.attempts) == ("queued", 1)
    assert "Telegram refused" in message.last_error
    clock.shift(dt.timedelta(minutes=1))
    assert services.messages_deliver_due() == 1
    assert fake_telegram.texts_to(CHAT) == [message.body]


def test_b12_a_message_fails_for_good_after_8_attempts_and_an_operator_can_retry_it(
    world, owner, clock, eager, commit
):
    world.top_up("100000.00")
    world.fake_twilio.fail_next = 1000
    booking = book(world)
    message = Message.objects.get(booking=booking)
    waits = []
    for _attempt in range(services.MAX_ATTEMPTS):
        before = message.next_attempt_at
        clock.move_to(before)
        assert services.message_deliver(message_id=message.pk) in ("retry", "failed")
        message.refresh_from_db()
        waits.append(message.next_attempt_at - before)
    assert message.status == Message.Status.FAILED
    assert message.attempts == services.MAX_ATTEMPTS
    assert "Twilio refused" in message.last_error
    assert [w.total_seconds() / 60 for w in waits[:-1]] == [1, 2, 5, 10, 30, 60, 120]

    # Failed is final: the job does not try again.
    clock.shift(dt.timedelta(days=1))
    requests_before = world.fake_twilio.fail_next
    assert services.messages_deliver_due() == 0
    assert world.fake_twilio.fail_next == requests_before

    # "Retry now" (the admin action's service): one more attempt, at once after commit.
    world.fake_twilio.fail_next = 0
    with commit():
        assert services.messages_retry(message_ids=[message.pk]) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert len(world.fake_twilio.messages) == 1
    # A message already sent is not retried.
    assert services.messages_retry(message_ids=[message.pk]) == 0


def test_b12_retry_of_a_failed_message_that_fails_again_is_failed_again(world, owner, clock):
    world.top_up("100000.00")
    book(world)
    message = Message.objects.get()
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.FAILED, attempts=services.MAX_ATTEMPTS
    )
    assert services.messages_retry(message_ids=[message.pk]) == 1
    world.fake_twilio.fail_next = 1
    assert services.message_deliver(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", services.MAX_ATTEMPTS)


# --- Claims and leases --------------------------------------------------------------------------


def test_b12_a_claimed_message_is_not_sent_by_another_worker_until_its_lease_lapses(
    world, owner, clock, caplog
):
    world.top_up("100000.00")
    book(world)
    message = Message.objects.get()
    # A worker claims it and dies before sending (or while sending).
    claimed, dead_token = services._claim(message.pk, as_of=NOW, now=NOW)
    assert claimed.status == Message.Status.SENDING and claimed.attempts == 1
    assert services.message_deliver(message_id=message.pk) == "skipped"
    clock.shift(services.LEASE - dt.timedelta(seconds=1))
    assert services.messages_deliver_due() == 0
    assert world.fake_twilio.messages == []

    # The lease has lapsed: the next run takes it over and sends it.
    clock.shift(dt.timedelta(seconds=1))
    assert services.messages_deliver_due() == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)
    assert len(world.fake_twilio.messages) == 1

    # The stale worker waking up cannot overwrite what the other one recorded.
    with caplog.at_level(logging.ERROR, logger="notify.services"):
        services._record_failure(claimed, dead_token, "late failure")
        services._record_sent(claimed, dead_token, "SMlate")
    message.refresh_from_db()
    assert (message.status, message.provider_id) == ("sent", world.fake_twilio.messages[0]["sid"])
    assert "claim had lapsed" in caplog.text


def test_b12_an_abandoned_last_attempt_ends_failed(world, owner, clock):
    world.top_up("100000.00")
    book(world)
    message = Message.objects.get()
    Message.objects.filter(pk=message.pk).update(attempts=services.MAX_ATTEMPTS - 1)
    services._claim(message.pk, as_of=NOW, now=NOW)
    clock.shift(services.LEASE)
    assert services.messages_deliver_due() == 0
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "stopped" in message.last_error
    assert world.fake_twilio.messages == []


def test_b12_deliver_skips_messages_not_due_or_already_sent(world, owner, clock):
    world.top_up("100000.00")
    book(world)
    message = Message.objects.get()
    Message.objects.filter(pk=message.pk).update(next_attempt_at=NOW + dt.timedelta(minutes=5))
    assert services.message_deliver(message_id=message.pk) == "skipped"
    assert (
        services.message_deliver(message_id=message.pk, as_of=NOW + dt.timedelta(minutes=5))
        == "sent"
    )
    assert (
        services.message_deliver(message_id=message.pk, as_of=NOW + dt.timedelta(days=1))
        == "skipped"
    )
    assert services.message_deliver(message_id=999_999) == "skipped"
    assert len(world.fake_twilio.messages) == 1


# --- Reminders ---------------------------------------------------------------------------------


def test_b12_reminder_is_sent_within_2_hours_of_the_slot_not_before(world, owner):
    world.top_up("100000.00")
    booking = book(world)  # 21.03 09:00
    assert services.reminders_send(as_of=at(1, 9) - dt.timedelta(hours=2, minutes=5)) == 0
    assert services.reminders_send(as_of=at(1, 9) - dt.timedelta(hours=1, minutes=55)) == 1
    reminder = Message.objects.get(kind="booking_reminder")
    assert reminder.booking == booking
    assert reminder.body == (
        "Kezek reminder: vehicle 123 ABC 02 is booked at Kordai for 21.03 09:00 "
        f"(booking {booking.number})."
    )
    # Once: the next runs (every 5 minutes) do not repeat it.
    assert services.reminders_send(as_of=at(1, 9) - dt.timedelta(hours=1, minutes=50)) == 0
    assert services.reminders_send(as_of=at(1, 9) - dt.timedelta(minutes=5)) == 0
    # After the slot has started, nothing.
    Message.objects.all().delete()
    assert services.reminders_send(as_of=at(1, 9)) == 0


def test_b12_two_overlapping_reminder_runs_queue_one_reminder(world, owner, monkeypatch):
    world.top_up("100000.00")
    book(world)
    as_of = at(1, 9) - dt.timedelta(hours=1)
    assert services.reminders_send(as_of=as_of) == 1
    # A second run that read "no reminder yet" before the first committed: the unique key stops it.
    monkeypatch.setattr(services, "_reminded", lambda bookings: set())
    assert services.reminders_send(as_of=as_of) == 0
    assert Message.objects.filter(kind="booking_reminder").count() == 1


def test_b12_no_reminder_for_bookings_not_confirmed(world, owner):
    world.top_up("300000.00")
    cancelled = book(world)
    bookings.booking_cancel(member=world.member, booking=cancelled)
    assert services.reminders_send(as_of=at(1, 9) - dt.timedelta(hours=1)) == 0
    assert not Message.objects.filter(kind="booking_reminder").exists()


def test_b12_a_rescheduled_booking_is_reminded_of_its_new_hour(world, owner):
    world.top_up("600000.00")
    booking = book(world, start=at(0, 13))  # today 13:00, booked at 10:00
    assert services.reminders_send(as_of=NOW + dt.timedelta(hours=1, minutes=5)) == 1
    booking = bookings.booking_reschedule(
        member=world.member, booking=booking, slot_start=at(0, 15)
    )
    assert services.reminders_send(as_of=NOW + dt.timedelta(hours=1, minutes=10)) == 0
    assert services.reminders_send(as_of=at(0, 15) - dt.timedelta(hours=1)) == 1
    bodies = list(
        Message.objects.filter(kind="booking_reminder")
        .order_by("pk")
        .values_list("body", flat=True)
    )
    assert ["20.03 13:00" in bodies[0], "20.03 15:00" in bodies[1]] == [True, True]


# --- Jobs, commands and tasks ---------------------------------------------------------------------


def test_b12_commands_run_the_jobs_as_of_a_moment(world, owner, capsys):
    world.top_up("100000.00")
    book(world)
    Message.objects.update(status=Message.Status.SENT)
    as_of = (at(1, 9) - dt.timedelta(hours=1)).isoformat()
    call_command("send_reminders", "--as-of", as_of, "--allow-future")
    assert "queued 1 reminders" in capsys.readouterr().out
    call_command("deliver_outbox", "--as-of", as_of, "--allow-future")
    assert "sent 1 messages" in capsys.readouterr().out
    assert len(world.fake_twilio.messages) == 1


def test_b12_celery_task_path_with_eager_tasks(world, owner, clock, settings, commit):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    world.top_up("100000.00")
    world.fake_twilio.fail_next = 1
    with commit():
        booking = book(world)
    message = Message.objects.get(booking=booking)
    assert message.status == Message.Status.QUEUED  # the task ran after commit and failed
    clock.shift(dt.timedelta(minutes=1))
    assert tasks.deliver_outbox.delay().get() == 1
    clock.move_to(at(1, 8))
    with commit():
        assert tasks.send_reminders.delay().get() == 1  # each reminder is sent after its commit
    assert Message.objects.filter(status=Message.Status.SENT).count() == 2
    assert tasks.deliver_message.delay(message.pk).get() == "skipped"
    assert len(world.fake_twilio.messages) == 2


def test_b12_after_commit_each_message_is_handed_to_the_worker(world, owner, commit, monkeypatch):
    handed = []
    monkeypatch.setattr(tasks.deliver_message, "delay", handed.append)
    world.top_up("100000.00")
    with commit():
        booking = book(world)
        assert handed == []
    assert handed == [Message.objects.get(booking=booking).pk]


def test_b12_a_broker_that_is_down_loses_nothing(world, owner, commit, monkeypatch, caplog):
    def broker_down(message_id):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.deliver_message, "delay", broker_down)
    world.top_up("100000.00")
    with caplog.at_level(logging.WARNING, logger="notify.services"), commit():
        booking = book(world)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert "deliver_outbox will send it" in caplog.text
    assert services.messages_deliver_due() == 1
    assert len(world.fake_twilio.messages) == 1
