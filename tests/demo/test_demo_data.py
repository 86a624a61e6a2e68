"""`load_demo_data` (run by `make run`): people of every role with a confirmed phone and the SMS
factor, a carrier funded through a bank statement, its fleet and bookings, trucks in the waiting
area of one checkpoint; idempotent; honest when bookings cannot be made now."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from auth2fa.models import BackupCode, SmsDevice
from auth2fa.roles import AUDITORS, CHECKPOINT_STAFF, OPERATORS
from bookings.models import Booking
from carriers.models import Carrier, Member
from checkpoints.models import StaffAssignment
from checkpoints.services import reference_checkpoints_load
from core import clock
from core.clock import ALMATY
from demo.services import ACCOUNTS, AUDITOR, BOARD_CHECKPOINT, OPERATOR, STAFF, demo_data_load
from deposits.models import StatementEntry, Transfer
from deposits.selectors import balances_of, ledger_check
from fees.models import MrpRate
from tests.fees.factories import fees_in_force_today
from vehicles.models import Driver, Vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture
def reference():
    reference_checkpoints_load()
    fees_in_force_today()


def counts() -> dict[str, int]:
    models = (
        get_user_model(),
        Member,
        Carrier,
        Vehicle,
        Driver,
        Booking,
        StatementEntry,
        Transfer,
        SmsDevice,
        StaffAssignment,
    )
    return {model.__name__: model.objects.count() for model in models}


def test_demo_data_is_refused_without_debug_unless_forced(settings, reference):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("load_demo_data")
    call_command("load_demo_data", force=True)


def test_demo_data_is_idempotent(reference):
    demo_data_load()
    first = counts()
    demo_data_load()
    assert counts() == first


def test_every_demo_person_has_a_confirmed_phone_and_the_sms_factor(reference):
    demo_data_load()
    for account in ACCOUNTS:
        person = get_user_model().objects.get(email=account.email)
        assert person.check_password(account.password)
        assert person.phone == account.phone and person.phone_verified_at is not None
        assert SmsDevice.objects.get(user=person).confirmed
    groups = {
        OPERATOR.email: OPERATORS,
        STAFF.email: CHECKPOINT_STAFF,
        AUDITOR.email: AUDITORS,
    }
    for email, group in groups.items():
        person = get_user_model().objects.get(email=email)
        assert person.is_staff and person.groups.filter(name=group).exists()
    staff = get_user_model().objects.get(email=STAFF.email)
    assert StaffAssignment.objects.get(user=staff).checkpoint.code == BOARD_CHECKPOINT
    roles = set(
        Member.objects.filter(carrier__name="Demo Logistics LLP").values_list("role", flat=True)
    )
    assert roles == {"owner", "dispatcher", "accountant"}


def test_backup_codes_are_made_anew_on_each_load_and_the_old_ones_stop_working(reference):
    first = demo_data_load().backup_codes
    second = demo_data_load().backup_codes
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    assert BackupCode.objects.filter(used_at__isnull=True).count() == 10


def test_the_carrier_is_funded_by_an_imported_statement_and_has_fleet_and_bookings(reference):
    carrier = demo_data_load().carrier
    entry = StatementEntry.objects.get(bank_reference="DEMO-TOPUP-0001")
    assert (entry.carrier_id, entry.status) == (carrier.pk, "credited")
    assert entry.statement_import.credited == 2
    kinds = sorted(Vehicle.objects.filter(carrier=carrier).values_list("kind", flat=True))
    assert kinds == ["tractor", "trailer", "truck"]
    assert Driver.objects.filter(carrier=carrier).count() == 3
    upcoming = Booking.objects.filter(carrier=carrier, status="confirmed")
    assert upcoming.count() == 3
    assert all(booking.slot_start > clock.now() for booking in upcoming)
    held = sum(booking.deposit_hold.amount for booking in upcoming)
    balances = balances_of(carrier)
    assert balances.held == held
    fees = sum(booking.fee_amount for booking in upcoming)
    assert balances.available == entry.amount - fees - held
    assert ledger_check().ok


def test_the_board_checkpoint_has_vehicles_waiting(reference):
    demo_data_load()
    waiting = Booking.objects.filter(checkpoint__code=BOARD_CHECKPOINT, status="arrived")
    assert waiting.count() == 3


def test_without_this_years_mrp_the_people_load_and_the_bookings_are_explained(capsys):
    with time_machine.travel(dt.datetime(2027, 1, 5, 10, tzinfo=ALMATY), tick=False):
        reference_checkpoints_load()
        fees_in_force_today()
        MrpRate.objects.filter(year=2027).delete()
        with translation.override("en"):
            call_command("load_demo_data", force=True)
    out = capsys.readouterr().out
    assert "Demo bookings not made now: Bookings are paused" in out
    assert "the MRP for 2027" in out
    assert not Booking.objects.exists()
    for account in ACCOUNTS:
        assert account.email in out
