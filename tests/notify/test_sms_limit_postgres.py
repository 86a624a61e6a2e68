"""A3/A8 under concurrency on PostgreSQL: senders in parallel (codes, invitations, the outbox's
workers) count their SMS to one phone one by one under the phone's lock, so at most 5 go in an
hour. The control takes the lock away and shows the overrun it prevents."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connections, transaction

from auth2fa.models import SmsSent
from notify import locks, sms

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PHONE = "+77019999999"
SENDERS = 8


@pytest.fixture
def slow_count(monkeypatch):
    """Each sender reads the phone's count and then pauses, so parallel senders overlap
    between reading the count and recording their SMS."""
    read = sms.sms_wait_seconds

    def slow(phone, now, **limits):
        wait = read(phone, now, **limits)
        time.sleep(0.3)
        return wait

    monkeypatch.setattr(sms, "sms_wait_seconds", slow)


def take_in_parallel() -> int:
    barrier = threading.Barrier(SENDERS)
    granted, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                sms.sms_allowance_take(PHONE, purpose="sign_in")
            granted.append(1)
        except sms.SmsRefused:
            pass
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return len(granted)


def test_a8_parallel_senders_to_one_phone_get_five_sms_an_hour(slow_count):
    assert take_in_parallel() == settings.SMS_PER_PHONE_PER_HOUR
    assert SmsSent.objects.filter(phone=PHONE).count() == settings.SMS_PER_PHONE_PER_HOUR


def test_a8_control_without_the_phone_lock_parallel_senders_overrun_the_limit(
    slow_count, monkeypatch
):
    monkeypatch.setattr(locks, "phone", lambda number: None)
    assert take_in_parallel() > settings.SMS_PER_PHONE_PER_HOUR
