import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from core import clock
from core.money import format_tenge, mrp_to_tenge, tenge


def test_money_is_decimal_tenge_never_float():
    assert tenge("78640") == Decimal("78640.00")
    assert tenge(Decimal("0.005")) == Decimal("0.01")
    with pytest.raises(TypeError):
        tenge(0.1)
    assert mrp_to_tenge(20, Decimal("3932")) == Decimal("78640.00")
    assert format_tenge(Decimal("4325")) == "4\u202f325.00 ₸"


def test_as_of_takes_a_datetime_with_offset_or_a_local_date():
    assert clock.parse_as_of("2026-03-20") == dt.datetime(2026, 3, 20, tzinfo=clock.ALMATY)
    assert clock.parse_as_of("2026-03-20T09:00:00+05:00").utcoffset() == dt.timedelta(hours=5)
    with pytest.raises(ValueError, match="offset"):
        clock.parse_as_of("2026-03-20T09:00:00")
    with pytest.raises(ValueError, match="ISO 8601"):
        clock.parse_as_of("20.03.2026")


def test_r4_almaty_is_utc_plus_5():
    moment = dt.datetime(2026, 6, 1, 19, 30, tzinfo=dt.UTC)
    assert clock.local_date(moment) == dt.date(2026, 6, 2)
    assert moment.astimezone(clock.ALMATY).utcoffset() == dt.timedelta(hours=5)


def test_production_refuses_the_generated_secret_key(settings):
    from config.production_guard import refuse_unsafe_production

    settings.DEBUG = False
    settings.SECRET_KEY_IS_GENERATED = True
    settings.SMS_BACKEND = "twilio"
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        refuse_unsafe_production()
    settings.SECRET_KEY_IS_GENERATED = False
    refuse_unsafe_production()
    settings.DEBUG = True
    settings.SECRET_KEY_IS_GENERATED = True
    refuse_unsafe_production()


def test_a2_production_refuses_the_console_sms_backend_and_warns_of_password_sign_in(
    settings, caplog
):
    """The console backend writes every sign-in code to the log: with DEBUG off it does not
    start; password sign-in starts but says so at WARNING."""
    from config.production_guard import refuse_unsafe_production

    settings.DEBUG, settings.SECRET_KEY_IS_GENERATED = False, False
    settings.SMS_BACKEND, settings.SMS_CONSOLE_ALLOWED = "console", False
    with pytest.raises(ImproperlyConfigured, match="SMS_BACKEND is console"):
        refuse_unsafe_production()
    settings.SMS_CONSOLE_ALLOWED = True  # the bench: nobody real signs in
    settings.PASSWORD_LOGIN = True
    with caplog.at_level("WARNING", logger="kezek.production"):
        refuse_unsafe_production()
    assert "PASSWORD_LOGIN is on" in caplog.text
    caplog.clear()
    settings.SMS_BACKEND, settings.PASSWORD_LOGIN = "twilio", False
    refuse_unsafe_production()
    assert caplog.text == ""


def test_job_command_refuses_a_future_as_of_unless_allowed():
    from django.core.management.base import CommandError

    future = (clock.now() + dt.timedelta(days=2)).date().isoformat()
    with pytest.raises(CommandError, match="--allow-future"):
        call_command("publish_audit_head", as_of=future)
