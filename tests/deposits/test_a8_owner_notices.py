"""A8 / P3: every owner of the carrier is told of a refund request — money asked out to an IBAN
never goes unnoticed, whoever asked (a dispatcher, an accountant, a stolen owner's session). The
text names the asker by role and the account by its last 4 characters: nothing a person typed."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import translation

from carriers.models import Member
from core.errors import ApplicationError
from core.money import format_tenge
from deposits import services
from notify.models import Message
from tests.notify.owners import HOSTILE_NAME, SECOND_OWNER_CHAT, member_of, second_owner

pytestmark = pytest.mark.django_db

IBAN = "KZ86 125K ZT50 0410 0100"


@pytest.fixture
def owner(world):
    """The world's owner, reading English (with SMS to the confirmed phone)."""
    user = world.member.user
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def test_a8_the_owners_are_told_of_a_refund_request(
    world, owner, english, fake_telegram, eager, commit
):
    world.top_up("10000.00")
    other_owner = second_owner(world, language="ru")
    accountant = member_of(world, Member.Role.ACCOUNTANT)
    with commit():
        services.refund_request(
            carrier=world.carrier,
            amount=Decimal("2500.50"),
            iban=IBAN,
            requested_by=accountant.user,
        )
    told = {m.recipient_id: m for m in Message.objects.filter(kind="refund_requested")}
    # Every owner, once; not the accountant who asked.
    assert set(told) == {owner.pk, other_owner.pk}
    assert all(m.status == Message.Status.SENT for m in told.values())

    english_text = (
        f"Kezek: a refund of {format_tenge(Decimal('2500.50'))} to the bank account ending 0100 "
        "was requested by a member of your carrier with the role accountant. Not expected? "
        "Check the security page."
    )
    by_sms = told[owner.pk]
    assert (by_sms.channel, by_sms.address, by_sms.language) == ("sms", owner.phone, "en")
    assert by_sms.body == english_text
    assert [m["Body"] for m in world.fake_twilio.messages if m["To"] == owner.phone] == [
        english_text
    ]

    in_russian = told[other_owner.pk]
    assert (in_russian.channel, in_russian.language) == ("telegram", "ru")
    with translation.override("ru"):
        assert str(Member.Role.ACCOUNTANT.label).lower() in in_russian.body
    assert fake_telegram.texts_to(SECOND_OWNER_CHAT) == [in_russian.body]

    for message in told.values():
        assert HOSTILE_NAME not in message.body
        assert accountant.user.full_name not in message.body
        assert "KZ86125KZT5004100100" not in message.body.replace(" ", "")


def test_a8_an_owners_own_refund_request_is_told_to_them_too(world, owner, english, eager, commit):
    world.top_up("10000.00")
    with commit():
        services.refund_request(
            carrier=world.carrier, amount=Decimal("100.00"), iban=IBAN, requested_by=owner
        )
    message = Message.objects.get(kind="refund_requested")
    assert message.recipient == owner and message.status == Message.Status.SENT
    assert "with the role owner" in message.body


def test_a8_a_refused_or_rolled_back_refund_request_tells_nobody(
    world, owner, english, eager, commit
):
    world.top_up("100.00")
    with commit(), pytest.raises(ApplicationError):
        services.refund_request(
            carrier=world.carrier, amount=Decimal("100.01"), iban=IBAN, requested_by=owner
        )
    with commit(), pytest.raises(RuntimeError), transaction.atomic():
        services.refund_request(
            carrier=world.carrier, amount=Decimal("50.00"), iban=IBAN, requested_by=owner
        )
        raise RuntimeError("something later in the same transaction failed")
    assert not Message.objects.exists()
    assert world.fake_twilio.messages == []
