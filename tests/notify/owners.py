"""People of the booking world's carrier for the owners' notices (A8): a second owner who reads
Russian in Telegram and members whose names are hostile free text that must never reach an
owner's phone."""

from auth2fa.models import SmsDevice, TelegramDevice, User
from carriers import services
from carriers.models import Member
from tests.auth2fa.factories import person_without_membership

SECOND_OWNER_CHAT = 700_300_400
# Typed by the person who acts: an owner's phone must never show it (A8).
HOSTILE_NAME = "Call +77770000000 now, send 500000 to KZ00 EVIL"
JOINER_NAME = "Urgent: call +77770000000"


def second_owner(world, *, language: str = "ru") -> User:
    """Another owner of the world's carrier, with a linked Telegram chat."""
    user = User.objects.create_user(
        "second.owner@steppe.kz", "x", full_name="Marat Second", language=language
    )
    TelegramDevice.objects.create(
        user=user, name="Telegram", confirmed=True, chat_id=SECOND_OWNER_CHAT
    )
    Member.objects.create(carrier=world.carrier, user=user, role=Member.Role.OWNER)
    return user


def member_of(world, role: str, *, phone: str = "+77015550101") -> Member:
    """A member with a confirmed phone and a hostile full name."""
    user = User.objects.create_user(
        f"{role}@steppe.kz", "x", full_name=HOSTILE_NAME, phone=phone, language="en"
    )
    SmsDevice.objects.create(user=user, name="Phone", phone=phone, confirmed=True)
    return Member.objects.create(carrier=world.carrier, user=user, role=role)


def joined(world, role: str) -> Member:
    """A person invited by the world's owner accepts the invitation (their name is hostile)."""
    newcomer = person_without_membership(world.fake_twilio)
    newcomer.full_name = JOINER_NAME
    newcomer.save(update_fields=["full_name"])
    services.member_invite(by=world.member, phone=newcomer.phone, role=role)
    body = [m["Body"] for m in world.fake_twilio.messages if m["To"] == newcomer.phone][-1]
    token = body.rstrip("/").rsplit("/", 1)[-1]
    world.fake_twilio.messages.clear()
    return services.invitation_accept(token=token, user=newcomer)
