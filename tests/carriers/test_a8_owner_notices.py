"""A8: every owner of the carrier is told when a new member joins it, by the role the member
has: the newcomer's name is typed by the newcomer and never reaches an owner's phone."""

import pytest

from carriers.models import Member
from notify.models import Message
from tests.notify.owners import JOINER_NAME, SECOND_OWNER_CHAT, joined, second_owner

pytestmark = pytest.mark.django_db


def test_a8_the_owners_are_told_of_a_new_member(world, english, fake_telegram, eager, commit):
    owner = world.member.user
    owner.language = "en"
    owner.save(update_fields=["language"])
    other_owner = second_owner(world, language="en")
    with commit():
        member = joined(world, Member.Role.ACCOUNTANT)
    told = {m.recipient_id: m for m in Message.objects.filter(kind="member_joined")}
    assert set(told) == {owner.pk, other_owner.pk}  # not the newcomer
    expected = (
        "Kezek: a new member joined your carrier with the role accountant. Not expected? "
        "Check the carrier's people."
    )
    assert [(m.status, m.language, m.body) for m in told.values()] == [
        ("sent", "en", expected),
        ("sent", "en", expected),
    ]
    assert [(m["To"], m["Body"]) for m in world.fake_twilio.messages] == [(owner.phone, expected)]
    assert fake_telegram.texts_to(SECOND_OWNER_CHAT) == [expected]
    assert member.user.full_name == JOINER_NAME
    assert all(JOINER_NAME not in m.body for m in told.values())


def test_a8_a_new_owner_is_told_of_their_own_joining_with_the_others(world, english, commit):
    with commit():
        member = joined(world, Member.Role.OWNER)
    told = set(Message.objects.filter(kind="member_joined").values_list("recipient", flat=True))
    assert told == {world.member.user_id, member.user_id}
