"""Parallel wrong guesses (A3) on PostgreSQL with real threads.

Each guess checks the code under a row lock on the device, so at most five guesses are ever
weighed against one code, however many arrive at once. The control run takes the lock away and
shows the race it guards against: concurrent guesses all read "0 failures so far" and all get
weighed.
"""

import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections

from auth2fa import services
from auth2fa.models import CodeDevice, SignInFailure, SmsDevice
from auth2fa.services import sign_in
from core.errors import ApplicationError
from tests.auth2fa.factories import PASSWORD, registered_person

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GUESSERS = 20


def _race(challenge: str, wrong_code: str) -> list[str]:
    barrier = threading.Barrier(GUESSERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess():
        try:
            barrier.wait()
            services.sign_in_verify(challenge=challenge, factor="sms", code=wrong_code)
            outcome = "signed_in"
        except ApplicationError as exc:
            outcome = exc.code
        except Exception as exc:  # a crash must show in the outcomes, not vanish with the thread
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)
        connections.close_all()

    threads = [threading.Thread(target=guess) for _ in range(GUESSERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _slow_reads(monkeypatch):
    """Widen the window between reading the counters and writing them back."""
    original = CodeDevice.check_code

    def slow_check(self, code, *, now):
        time.sleep(0.05)
        return original(self, code, now=now)

    monkeypatch.setattr(CodeDevice, "check_code", slow_check)


@pytest.fixture
def code_sent(fake_twilio, settings):
    person = registered_person(fake_twilio)
    started = services.sign_in_with_password(username=person.email, password=PASSWORD)
    services.sign_in_code_send(challenge=started.challenge, factor="sms")
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    return person, started.challenge, f"{(int(code) + 1) % 1_000_000:06d}"


def test_a3_parallel_wrong_guesses_are_counted_one_by_one(code_sent, monkeypatch):
    assert connection.vendor == "postgresql"
    person, challenge, wrong_code = code_sent
    _slow_reads(monkeypatch)
    outcomes = _race(challenge, wrong_code)
    # Exactly five guesses were weighed against the code (4 "wrong", the 5th kills it); every
    # refused guess counts towards the account, so the 10th refusal locks sign-in (A3).
    assert Counter(outcomes) == {"invalid_code": 4, "code_exhausted": 5, "sign_in_locked": 11}
    assert SmsDevice.objects.get(user=person).code_failures == 5
    assert SignInFailure.objects.filter(user=person).count() == 10


def test_a3_control_without_the_row_lock_the_race_lets_guesses_through(code_sent, monkeypatch):
    person, challenge, wrong_code = code_sent
    _slow_reads(monkeypatch)
    original = sign_in._code_device
    monkeypatch.setattr(
        sign_in, "_code_device", lambda user, factor, *, lock: original(user, factor, lock=False)
    )
    original_open = sign_in._open_sign_in
    monkeypatch.setattr(
        sign_in,
        "_open_sign_in",
        lambda challenge, now, *, lock=False: original_open(challenge, now, lock=False),
    )
    outcomes = _race(challenge, wrong_code)
    # Without the lock many more than five guesses were weighed (lost updates on the counter).
    weighed = outcomes.count("invalid_code")
    assert weighed > 5, outcomes
    assert SmsDevice.objects.get(user=person).code_failures < weighed
