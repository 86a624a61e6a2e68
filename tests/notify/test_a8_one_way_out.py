"""A8: every SMS leaves through one door, `notify.sms`: codes, invitations and the outbox's notices
all count against one phone's limits (A3: 5 an hour, 20 a day), go only to served countries, and
nothing can send an SMS without the allowance that counting gives."""

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.db import transaction

from auth2fa import services as auth
from auth2fa.models import SmsSent
from carriers import services as carriers
from carriers.models import Member
from core.errors import ApplicationError
from notify import services
from notify.models import Message
from notify.sms import SmsRefused, send_sms, sms_allowance_take
from tests.auth2fa.factories import PASSWORD, registered_person
from tests.test_import_cycles import project_modules

pytestmark = pytest.mark.django_db

PHONE = "+77019999999"


@pytest.fixture
def owner(fake_twilio, clock):
    return registered_person(fake_twilio)


def invited_person(fake_twilio, owner):
    """A person with PHONE, confirmed, who an owner then keeps inviting."""
    return registered_person(
        fake_twilio,
        iin_bin="377835337400",
        iin="377835337400",
        phone=PHONE,
        email="stranger@other.kz",
        name="Other Carrier",
    )


def queue_notice(person, kind=Message.Kind.FACTOR_CHANGED):
    with transaction.atomic():
        [message] = services.person_notify(person=person, kind=kind, text="Kezek: x", phone=PHONE)
    return message


def sent_to(fake_twilio, phone=PHONE) -> list[str]:
    return [m["Body"] for m in fake_twilio.messages if m["To"] == phone]


def test_a8_invitations_notices_and_codes_count_against_one_phone_limit(owner, fake_twilio, clock):
    person = invited_person(fake_twilio, owner)
    SmsSent.objects.all().delete()  # registration's code is yesterday's news here
    inviter = Member.objects.get(user=owner)
    for _ in range(2):
        carriers.member_invite(by=inviter, phone=PHONE, role="dispatcher")
    assert services.message_deliver(message_id=queue_notice(person).pk) == "sent"
    # Three SMS in the hour: the rest of the limit is kept for sign-in codes.
    held = queue_notice(person)
    assert services.message_deliver(message_id=held.pk) == "retry"
    with pytest.raises(ApplicationError) as refused:
        carriers.member_invite(by=inviter, phone=PHONE, role="accountant")
    assert refused.value.status == 429
    for _ in range(2):  # a new sign-in may send at once (A3)
        started = auth.sign_in_with_password(username=person.email, password=PASSWORD)
        auth.sign_in_code_send(challenge=started.challenge, factor="sms")
    assert len(sent_to(fake_twilio)) == 5
    # The sixth SMS to the phone in the hour, a sign-in code, is refused (A3).
    started = auth.sign_in_with_password(username=person.email, password=PASSWORD)
    with pytest.raises(ApplicationError) as refused:
        auth.sign_in_code_send(challenge=started.challenge, factor="sms")
    assert refused.value.status == 429
    assert len(sent_to(fake_twilio)) == 5
    assert SmsSent.objects.filter(phone=PHONE).count() == 5


def test_a8_notices_never_use_up_the_sign_in_codes(owner, fake_twilio, clock):
    person = invited_person(fake_twilio, owner)
    SmsSent.objects.all().delete()
    outcomes = [services.message_deliver(message_id=queue_notice(person).pk) for _ in range(6)]
    assert outcomes == ["sent"] * 3 + ["retry"] * 3
    started = auth.sign_in_with_password(username=person.email, password=PASSWORD)
    auth.sign_in_code_send(challenge=started.challenge, factor="sms")
    assert fake_twilio.codes_sent_to(PHONE)


def test_a8_a_notice_over_the_phone_limit_waits_for_it_and_then_goes(owner, fake_twilio, clock):
    person = invited_person(fake_twilio, owner)
    SmsSent.objects.all().delete()
    for _ in range(3):
        assert services.message_deliver(message_id=queue_notice(person).pk) == "sent"
    held = queue_notice(person)
    assert services.message_deliver(message_id=held.pk) == "retry"
    held.refresh_from_db()
    assert held.status == Message.Status.QUEUED and held.attempts == 0
    assert held.next_attempt_at > held.created_at + dt.timedelta(minutes=59)
    assert len(sent_to(fake_twilio)) == 3
    clock.shift(dt.timedelta(hours=1, seconds=1))
    assert services.messages_deliver_due() == 1
    held.refresh_from_db()
    assert held.status == Message.Status.SENT and len(sent_to(fake_twilio)) == 4


def test_a8_a_call_forward_over_the_phone_limit_is_not_sent_late(owner, fake_twilio, clock):
    person = invited_person(fake_twilio, owner)
    SmsSent.objects.all().delete()
    for _ in range(3):
        services.message_deliver(message_id=queue_notice(person).pk)
    called = queue_notice(person, kind=Message.Kind.DRIVER_CALLED)
    assert services.message_deliver(message_id=called.pk) == "failed"
    called.refresh_from_db()
    assert called.status == Message.Status.FAILED and "Held back" in called.last_error


def test_a8_the_outbox_sends_no_sms_to_a_country_that_is_not_served(owner, fake_twilio, settings):
    person = invited_person(fake_twilio, owner)
    settings.SMS_ALLOWED_COUNTRY_CODES = ["996"]
    message = queue_notice(person)
    assert services.message_deliver(message_id=message.pk) == "failed"
    assert sent_to(fake_twilio) == []


def test_a8_an_sms_refused_by_the_provider_does_not_count(owner, fake_twilio, clock):
    person = invited_person(fake_twilio, owner)
    SmsSent.objects.all().delete()
    fake_twilio.fail_next = 1
    message = queue_notice(person)
    assert services.message_deliver(message_id=message.pk) == "retry"
    assert not SmsSent.objects.filter(phone=PHONE).exists()


def test_a8_no_sms_leaves_without_a_counted_allowance():
    with pytest.raises(TypeError, match="SmsAllowance"):
        send_sms(PHONE, "hello")  # type: ignore[arg-type]
    with transaction.atomic():
        for _ in range(3):
            sms_allowance_take(PHONE, purpose="test")
        with pytest.raises(SmsRefused):
            sms_allowance_take(PHONE, purpose="test")
        for _ in range(2):  # the two kept for codes
            sms_allowance_take(PHONE, purpose="sign_in")
        with pytest.raises(SmsRefused) as refused:
            sms_allowance_take(PHONE, purpose="sign_in")
    assert 0 < refused.value.wait_seconds <= 3600


def test_a8_only_notify_sms_makes_an_allowance():
    """The one door: nothing outside notify.sms builds an SmsAllowance (tests of the backends
    do, in tests.notify.sms_allowance)."""
    makers = set()
    for module, path in project_modules().items():
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SmsAllowance":
                makers.add(module)
    assert makers <= {"notify.sms", "tests.notify.sms_allowance"}
    assert "notify.sms" in makers
