import logging

import pytest

from notify.sms import SmsDeliveryError, send_sms
from tests.notify.sms_allowance import allowance


def test_b12_twilio_backend_sends_through_the_configured_api_base(fake_twilio):
    sid = send_sms(allowance("+77011234567"), "Kezek code: 123456")
    assert sid.startswith("SM")
    assert fake_twilio.messages == [
        {"To": "+77011234567", "From": "+77000000000", "Body": "Kezek code: 123456", "sid": sid}
    ]
    assert fake_twilio.codes_sent_to("+77011234567") == ["123456"]


def test_b12_a_provider_failure_is_a_delivery_error_not_a_crash(fake_twilio):
    fake_twilio.fail_next = 1
    with pytest.raises(SmsDeliveryError, match="refused"):
        send_sms(allowance("+77011234567"), "hello")
    assert send_sms(allowance("+77011234567"), "hello again").startswith("SM")
    assert [m["Body"] for m in fake_twilio.messages] == ["hello again"]


def test_b12_wrong_credentials_are_a_delivery_error(fake_twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    with pytest.raises(SmsDeliveryError):
        send_sms(allowance("+77011234567"), "hello")
    assert fake_twilio.messages == []


def test_b12_unreachable_provider_is_a_delivery_error(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE = "http://127.0.0.1:9"  # the discard port: nothing listens
    settings.TWILIO_ACCOUNT_SID = "AC" + "1" * 32
    settings.TWILIO_AUTH_TOKEN = "x"
    with pytest.raises(SmsDeliveryError):
        send_sms(allowance("+77011234567"), "hello")


def test_console_backend_logs_the_message(settings, caplog):
    settings.SMS_BACKEND = "console"
    with caplog.at_level(logging.WARNING, logger="notify.sms"):
        assert send_sms(allowance("+77011234567"), "code 654321") == "console"
    assert "+77011234567" in caplog.text and "654321" in caplog.text


def test_unknown_backend_is_refused(settings):
    settings.SMS_BACKEND = "carrier-pigeon"
    with pytest.raises(SmsDeliveryError, match="SMS_BACKEND"):
        send_sms(allowance("+77011234567"), "x")
