"""A8 on PostgreSQL with real threads: several registrations may wait on one phone (the answer to
a registration tells nobody who is registered), but only one of them is ever confirmed with it.

The code check locks the phone's waiting registrations, so two holders of codes for the same
phone are weighed one by one and the later one is refused; under the service, the partial unique
indexes refuse a second confirmed person with the phone, whoever writes."""

import threading

import pytest
from django.db import IntegrityError, connections, transaction

from auth2fa import services
from auth2fa.models import SmsDevice, User
from core import clock
from core.errors import ApplicationError
from tests.auth2fa.factories import PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PHONE = "+77015550131"
IINS = ["600101000015", "600101000025"]
BINS = ["700101000016", "700101000026"]


def _in_parallel(*calls) -> list[str]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(call):
        try:
            barrier.wait()
            outcome = call()
        except ApplicationError as exc:
            outcome = exc.code
        except IntegrityError:
            outcome = "integrity_error"
        except Exception as exc:  # a crash must show in the outcomes, not vanish with the thread
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)
        connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def _two_waiting_registrations(fake_twilio) -> list[tuple[User, str]]:
    waiting = []
    for index in range(2):
        user = services.registration_create(
            carrier_kind="company",
            carrier_iin_bin=BINS[index],
            carrier_name=f"Carrier {index}",
            full_name=f"Person {index}",
            iin=IINS[index],
            phone=PHONE,
            email=f"person{index}@example.kz",
            password=PASSWORD,
        ).user
        waiting.append((user, fake_twilio.codes_sent_to(PHONE)[-1]))
    return waiting


def test_a8_two_code_checks_of_one_phone_at_once_confirm_one_person(fake_twilio):
    waiting = _two_waiting_registrations(fake_twilio)

    def verify(code):
        return lambda: services.registration_verify(phone=PHONE, code=code) and "verified"

    outcomes = _in_parallel(*(verify(code) for _, code in waiting))
    assert outcomes == ["phone_registered", "verified"]
    assert User.objects.confirmed().filter(phone=PHONE).count() == 1
    assert SmsDevice.objects.filter(phone=PHONE, confirmed=True).count() == 1


def test_a8_the_database_confirms_one_person_per_phone_whoever_writes(fake_twilio):
    """Without the service's locks: two confirmations written at once, one stands."""
    waiting = _two_waiting_registrations(fake_twilio)

    def confirm(user):
        def write():
            with transaction.atomic():
                User.objects.filter(pk=user.pk).update(phone_verified_at=clock.now())
            return "confirmed"

        return write

    outcomes = _in_parallel(*(confirm(user) for user, _ in waiting))
    assert outcomes == ["confirmed", "integrity_error"]
    assert User.objects.confirmed().filter(phone=PHONE).count() == 1
