"""Telegram as a second factor (A2, A3): linking a chat through the bot's deep link and the
webhook, codes by the Bot API, and the Bot API client itself (notify.telegram)."""

import datetime as dt
import hashlib
import json
import logging

import pytest
import time_machine
from django.urls import include, path
from django.utils import translation

from auth2fa import services
from auth2fa.models import SignInFailure, SmsSent, TelegramDevice, TelegramSent
from core.errors import ApplicationError
from core.models import AuditEvent
from notify.telegram import TelegramDeliveryError, send_telegram
from tests.auth2fa.factories import PASSWORD, T0, registered_person
from tests.fakes.telegram_server import start_update

# Notices go through the outbox (A8); `eager` delivers them right after commit.
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__), pytest.mark.usefixtures("eager")]

# The webhook's URLs as config.urls will include them, plus the project's own.
urlpatterns = [
    path("telegram/", include("auth2fa.telegram_urls")),
    path("", include("config.urls")),
]

SECRET = "webhook-Secret_42"
CHAT = 700100200
OTHER_CHAT = 700100300


class LanguageProbe:
    """Stands in for a message: shows the language active when the message is rendered."""

    def __str__(self) -> str:
        return f"[{translation.get_language()}] probe"


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.TELEGRAM_BOT_USERNAME = "KezekBot"


@pytest.fixture
def person(fake_twilio):
    """A person who reads Kezek in English, so the tests can read the messages."""
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        person = registered_person(fake_twilio)
    person.language = "en"
    person.save(update_fields=["language"])
    return person


def token_of(link: services.TelegramLink) -> str:
    return link.url.split("?start=", 1)[1]


def post_update(client, update, *, secret=SECRET, header=SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header is not None else {}
    return client.post(
        f"/telegram/webhook/{secret}",
        data=json.dumps(update),
        content_type="application/json",
        headers=headers,
    )


def press_start(client, commit, token: str, *, chat_id=CHAT, **kwargs):
    with commit():
        response = post_update(client, start_update(f"/start {token}", chat_id=chat_id, **kwargs))
    assert response.status_code == 200
    return response


def link_telegram(client, commit, person, *, chat_id=CHAT) -> TelegramDevice:
    press_start(
        client, commit, token_of(services.telegram_link_start(user=person)), chat_id=chat_id
    )
    return TelegramDevice.objects.get(user=person)


def start(person):
    return services.sign_in_with_password(username=person.email, password=PASSWORD)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- Linking ---------------------------------------------------------------------------------


def test_a2_telegram_link_is_a_bot_deep_link_and_its_token_is_kept_hashed(person, clock):
    link = services.telegram_link_start(user=person)
    token = token_of(link)
    assert link.url == f"https://t.me/KezekBot?start={token}"
    # Telegram's start parameter: up to 64 characters of A-Z, a-z, 0-9, _ and -.
    assert 20 <= len(token) <= 64
    assert all(ch.isalnum() or ch in "_-" for ch in token)
    assert link.expires_at == T0 + dt.timedelta(minutes=15)
    device = TelegramDevice.objects.get(user=person)
    assert device.link_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(list(TelegramDevice.objects.values()), default=str)
    assert (device.confirmed, device.chat_id) == (False, None)
    # Not a factor until the chat is linked.
    assert services.factors_of(person) == ["sms"]
    assert AuditEvent.objects.filter(action="auth.telegram_link_started", actor=person).exists()


def test_a2_telegram_linking_end_to_end_through_the_webhook(
    person, fake_telegram, fake_twilio, client, commit, clock
):
    token = token_of(services.telegram_link_start(user=person))
    press_start(client, commit, token)
    device = TelegramDevice.objects.get(user=person)
    assert (device.confirmed, device.chat_id, device.linked_at) == (True, CHAT, T0)
    assert services.factors_of(person) == ["sms", "telegram"]
    # The chat is told it is linked, and to whom; the person is told by SMS as well.
    [confirmation] = fake_telegram.texts_to(CHAT)
    assert person.full_name in confirmation
    [sms] = [m["Body"] for m in fake_twilio.messages if m["To"] == person.phone]
    assert "Telegram" in sms and "registrar" in sms
    event = AuditEvent.objects.get(action="auth.factor_added")
    assert event.actor_id == person.pk
    assert event.after == {"factor": "telegram", "device": device.pk, "chat_id": CHAT}


def test_a2_telegram_link_token_still_works_just_before_15_minutes(
    person, fake_telegram, client, commit, clock
):
    token = token_of(services.telegram_link_start(user=person))
    clock.shift(dt.timedelta(minutes=14, seconds=59))
    press_start(client, commit, token)
    assert TelegramDevice.objects.get(user=person).chat_id == CHAT


def test_a2_expired_telegram_link_is_refused_politely_in_the_person_language(
    person, fake_telegram, client, commit, clock, monkeypatch
):
    person.language = "kk"
    person.save(update_fields=["language"])
    token = token_of(services.telegram_link_start(user=person))
    clock.shift(dt.timedelta(minutes=15))
    monkeypatch.setitem(
        services.TELEGRAM_REPLIES, services.TelegramLinkOutcome.EXPIRED, LanguageProbe()
    )
    # The chat's own language (ru) gives way to the language the person chose in Kezek (kk).
    press_start(client, commit, token, language_code="ru")
    device = TelegramDevice.objects.get(user=person)
    assert (device.confirmed, device.chat_id) == (False, None)
    assert fake_telegram.texts_to(CHAT) == ["[kk] probe"]
    assert not AuditEvent.objects.filter(action="auth.factor_added").exists()


def test_a2_expired_telegram_link_message(person, fake_telegram, client, commit, clock):
    token = token_of(services.telegram_link_start(user=person))
    clock.shift(dt.timedelta(minutes=16))
    press_start(client, commit, token)
    [reply] = fake_telegram.texts_to(CHAT)
    assert "expired" in reply and "15 minutes" in reply


def test_a2_unknown_telegram_link_is_answered_in_the_chat_language(
    person, fake_telegram, client, commit, clock, monkeypatch
):
    monkeypatch.setitem(
        services.TELEGRAM_REPLIES, services.TelegramLinkOutcome.UNKNOWN, LanguageProbe()
    )
    press_start(client, commit, "no-such-token", language_code="en")
    press_start(client, commit, "no-such-token-either", language_code="pt-br")
    # A chat language Kezek does not speak falls back to the site's default (ru).
    assert fake_telegram.texts_to(CHAT) == ["[en] probe", "[ru] probe"]
    assert TelegramDevice.objects.filter(chat_id=CHAT).count() == 0


def test_a2_telegram_link_works_once(person, fake_telegram, client, commit, clock):
    token = token_of(services.telegram_link_start(user=person))
    press_start(client, commit, token)
    # The same chat pressing Start again is told it is linked already ...
    assert services.telegram_link_complete(token=token, chat_id=CHAT) == "already_linked"
    # ... and another chat cannot take the link over.
    press_start(client, commit, token, chat_id=OTHER_CHAT)
    [reply] = fake_telegram.texts_to(OTHER_CHAT)
    assert "already been used" in reply
    assert TelegramDevice.objects.get(user=person).chat_id == CHAT
    assert AuditEvent.objects.filter(action="auth.factor_added").count() == 1


def test_a2_a_new_link_replaces_an_unused_one(person, fake_telegram, client, commit, clock):
    first = token_of(services.telegram_link_start(user=person))
    second = token_of(services.telegram_link_start(user=person))
    press_start(client, commit, first)
    assert TelegramDevice.objects.get(user=person).chat_id is None
    press_start(client, commit, second)
    assert TelegramDevice.objects.get(user=person).chat_id == CHAT


def test_a2_a_chat_links_to_one_account_only(
    person, fake_twilio, fake_telegram, client, commit, clock
):
    link_telegram(client, commit, person)
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        other = registered_person(
            fake_twilio,
            iin_bin="230140012350",
            iin="900101300126",
            phone="+77017654321",
            email="bolat@steppe.kz",
        )
    assert (
        services.telegram_link_complete(
            token=token_of(services.telegram_link_start(user=other)), chat_id=CHAT
        )
        == "chat_taken"
    )
    assert services.factors_of(other) == ["sms"]


def test_a2_group_chat_cannot_be_linked(person, fake_telegram, client, commit, clock):
    token = token_of(services.telegram_link_start(user=person))
    press_start(client, commit, token, chat_id=-100123, chat_type="supergroup")
    assert TelegramDevice.objects.get(user=person).chat_id is None
    assert len(fake_telegram.texts_to(-100123)) == 1  # told to use a private chat


def test_a2_relinking_moves_telegram_to_the_new_chat(
    person, fake_telegram, fake_twilio, client, commit, clock
):
    link_telegram(client, commit, person)
    fake_telegram.messages.clear()
    fake_twilio.messages.clear()
    clock.shift(dt.timedelta(days=1))
    device = link_telegram(client, commit, person, chat_id=OTHER_CHAT)
    assert device.chat_id == OTHER_CHAT
    # The old chat hears that Telegram moved; the new one gets the confirmation only.
    [old] = fake_telegram.texts_to(CHAT)
    assert "replaced" in old and "registrar" in old
    assert len(fake_telegram.texts_to(OTHER_CHAT)) == 1
    assert len(fake_twilio.messages) == 1
    event = AuditEvent.objects.filter(action="auth.factor_added").latest("id")
    assert event.before == {"factor": "telegram", "chat_id": CHAT}
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="telegram")
    assert len(fake_telegram.codes_sent_to(OTHER_CHAT)) == 1
    assert fake_telegram.codes_sent_to(CHAT) == []


# --- The webhook -----------------------------------------------------------------------------


def test_a2_webhook_with_a_wrong_secret_is_refused(person, fake_telegram, client, commit, clock):
    update = start_update(
        f"/start {token_of(services.telegram_link_start(user=person))}", chat_id=CHAT
    )
    with commit():
        assert post_update(client, update, secret="guess").status_code == 404
        assert post_update(client, update, header="guess").status_code == 403
    assert TelegramDevice.objects.get(user=person).chat_id is None
    assert fake_telegram.messages == []
    # Without the header (the path holds the secret too) the same update links the chat.
    with commit():
        assert post_update(client, update, header=None).status_code == 200
    assert TelegramDevice.objects.get(user=person).chat_id == CHAT


def test_a2_webhook_is_off_without_a_secret(person, client, settings, clock):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    update = start_update("/start x", chat_id=CHAT)
    assert post_update(client, update, secret="", header=None).status_code == 404
    assert post_update(client, update, secret="anything", header=None).status_code == 404


def test_a2_webhook_takes_post_only(client):
    assert client.get(f"/telegram/webhook/{SECRET}").status_code == 405


def test_a2_webhook_answers_200_to_anything_else(fake_telegram, client, commit, clock):
    with commit():
        not_json = client.post(
            f"/telegram/webhook/{SECRET}", data="{oops", content_type="application/json"
        )
        chatter = post_update(client, start_update("hello", chat_id=CHAT))
        edited = post_update(client, {"update_id": 9, "edited_message": {"text": "/start x"}})
        odd = post_update(client, {"update_id": 10, "message": {"text": "/start x", "chat": {}}})
    assert [r.status_code for r in (not_json, chatter, edited, odd)] == [200, 200, 200, 200]
    assert fake_telegram.messages == []


def test_a2_plain_start_is_answered_with_how_to_link(fake_telegram, client, commit, clock):
    press_start(client, commit, "", language_code="en")
    [reply] = fake_telegram.texts_to(CHAT)
    assert "link Telegram" in reply


def test_a2_webhook_answers_200_even_when_the_service_fails(
    person, client, commit, clock, monkeypatch, caplog
):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "telegram_link_complete", broken)
    with caplog.at_level(logging.ERROR, logger="auth2fa.telegram_views"):
        press_start(client, commit, "any-token")
    assert "linking failed" in caplog.text


# --- Codes by Telegram -------------------------------------------------------------------------


def test_a2_telegram_code_signs_in(person, fake_telegram, fake_twilio, client, commit, clock):
    link_telegram(client, commit, person)
    fake_twilio.messages.clear()
    started = start(person)
    assert started.factors == ["sms", "telegram"]
    assert services.sign_in_code_send(challenge=started.challenge, factor="telegram") == 60
    [code] = fake_telegram.codes_sent_to(CHAT)
    assert fake_twilio.messages == []  # no SMS for a Telegram code
    signed_in = services.sign_in_verify(challenge=started.challenge, factor="telegram", code=code)
    assert signed_in.user == person
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.after == {"first_factor": "password", "second_factor": "telegram"}
    # Single use (A3).
    again = start(person)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=again.challenge, factor="telegram", code=code)
    assert refusal.value.code == "no_code"


def test_a2_telegram_is_not_a_factor_before_it_is_linked(person, clock):
    services.telegram_link_start(user=person)
    started = start(person)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=started.challenge, factor="telegram")
    assert refusal.value.code == "validation_error"


def test_a3_telegram_code_is_stored_hashed_and_expires_after_5_minutes(
    person, fake_telegram, client, commit, clock
):
    link_telegram(client, commit, person)
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="telegram")
    [code] = fake_telegram.codes_sent_to(CHAT)
    device = TelegramDevice.objects.get(user=person)
    assert device.code_hash and code not in device.code_hash
    clock.shift(dt.timedelta(minutes=5))
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=started.challenge, factor="telegram", code=code)
    assert refusal.value.code == "code_expired"


def test_a3_telegram_resend_waits_60_seconds(person, fake_telegram, client, commit, clock):
    link_telegram(client, commit, person)
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="telegram")
    clock.shift(59)
    for factor in ("telegram", "sms"):  # the wait is per sign-in, whatever the factor
        with pytest.raises(ApplicationError) as refusal:
            services.sign_in_code_send(challenge=started.challenge, factor=factor)
        assert (refusal.value.status, refusal.value.retry_after) == (429, 1)
    clock.shift(1)
    services.sign_in_code_send(challenge=started.challenge, factor="telegram")
    assert len(fake_telegram.codes_sent_to(CHAT)) == 2


def test_a3_five_wrong_telegram_codes_kill_the_code_and_count_as_failures(
    person, fake_telegram, client, commit, clock
):
    link_telegram(client, commit, person)
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="telegram")
    [code] = fake_telegram.codes_sent_to(CHAT)
    outcomes = []
    for _ in range(5):
        with pytest.raises(ApplicationError) as refusal:
            services.sign_in_verify(
                challenge=started.challenge, factor="telegram", code=wrong(code)
            )
        outcomes.append(refusal.value.code)
    assert outcomes == ["invalid_code"] * 4 + ["code_exhausted"]
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=started.challenge, factor="telegram", code=code)
    assert refusal.value.code == "code_exhausted"
    reasons = set(SignInFailure.objects.filter(user=person).values_list("reason", flat=True))
    assert reasons == {"code:telegram"}
    assert SignInFailure.objects.filter(user=person).count() == 6


def test_a3_at_most_5_telegram_codes_per_chat_per_hour(
    person, fake_telegram, client, commit, clock
):
    link_telegram(client, commit, person)
    for _ in range(5):
        services.sign_in_code_send(challenge=start(person).challenge, factor="telegram")
        clock.shift(60)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=start(person).challenge, factor="telegram")
    assert refusal.value.status == 429
    assert refusal.value.retry_after == 60 * 60 - 5 * 60
    assert len(fake_telegram.codes_sent_to(CHAT)) == 5
    # Telegram codes are not SMS: the phone's own limits are untouched.
    assert not SmsSent.objects.filter(purpose="sign_in").exists()
    services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
    # The hour counts from the first of them.
    clock.shift(dt.timedelta(minutes=55, seconds=1))
    services.sign_in_code_send(challenge=start(person).challenge, factor="telegram")
    assert len(fake_telegram.codes_sent_to(CHAT)) == 6


def test_a3_at_most_20_telegram_codes_per_chat_per_day(
    person, fake_telegram, client, commit, clock
):
    link_telegram(client, commit, person)
    for _ in range(20):
        services.sign_in_code_send(challenge=start(person).challenge, factor="telegram")
        clock.shift(dt.timedelta(minutes=13))
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=start(person).challenge, factor="telegram")
    assert refusal.value.status == 429
    assert refusal.value.retry_after > 3600
    assert TelegramSent.objects.filter(chat_id=CHAT).count() == 20


def test_a3_telegram_delivery_failure_answers_503_and_a_retry_works(
    person, fake_telegram, client, commit, clock
):
    link_telegram(client, commit, person)
    fake_telegram.messages.clear()
    started = start(person)
    fake_telegram.fail_next = 1
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=started.challenge, factor="telegram")
    assert (refusal.value.code, refusal.value.status) == ("delivery_failed", 503)
    assert refusal.value.retry_after == 60
    clock.shift(60)
    services.sign_in_code_send(challenge=started.challenge, factor="telegram")
    [code] = fake_telegram.codes_sent_to(CHAT)
    assert services.sign_in_verify(challenge=started.challenge, factor="telegram", code=code)


# --- The Bot API client (notify.telegram) -----------------------------------------------------


def test_b12_telegram_client_sends_through_the_configured_api_base(fake_telegram):
    message_id = send_telegram(CHAT, "Kezek code: 123456")
    assert message_id == "1"
    assert fake_telegram.messages == [
        {"chat_id": CHAT, "text": "Kezek code: 123456", "message_id": 1}
    ]


def test_b12_a_bot_api_failure_is_a_delivery_error_not_a_crash(fake_telegram):
    fake_telegram.fail_next = 1
    with pytest.raises(TelegramDeliveryError, match="refused"):
        send_telegram(CHAT, "hello")
    assert send_telegram(CHAT, "hello again")
    assert fake_telegram.texts_to(CHAT) == ["hello again"]


def test_b12_a_wrong_bot_token_is_a_delivery_error_that_does_not_show_the_token(
    fake_telegram, settings
):
    settings.TELEGRAM_BOT_TOKEN = "999:wrong-secret-token"
    with pytest.raises(TelegramDeliveryError) as error:
        send_telegram(CHAT, "hello")
    assert "wrong-secret-token" not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert fake_telegram.messages == []


def test_b12_unreachable_bot_api_is_a_delivery_error(settings):
    settings.TELEGRAM_BOT_TOKEN = "999:secret-token"
    settings.TELEGRAM_API_BASE = "http://127.0.0.1:9"  # the discard port: nothing listens
    with pytest.raises(TelegramDeliveryError) as error:
        send_telegram(CHAT, "hello")
    assert "secret-token" not in str(error.value)


def test_b12_without_a_bot_token_telegram_messages_are_logged(settings, caplog):
    settings.TELEGRAM_BOT_TOKEN = ""
    with caplog.at_level(logging.WARNING, logger="notify.telegram"):
        assert send_telegram(CHAT, "code 654321") == "console"
    assert str(CHAT) in caplog.text and "654321" in caplog.text
