"""R2: from 1 December, next year's MRP missing is an operator notice (admin index, the fees page
for operators, /healthz as a warning, the daily job's WARNING line); never before, never once
entered. Bookings refused for it from 1 January: tests/bookings/test_r2_missing_mrp_refusal.py."""

import datetime as dt
import logging
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.management import call_command

from auth2fa.roles import AUDITORS, OPERATORS
from core.clock import ALMATY
from core.tasks import log_operator_notices, worker_heartbeat
from fees.models import MrpRate
from fees.selectors import missing_mrp
from tests.fees.factories import fees_in_force_today

pytestmark = pytest.mark.django_db

DECEMBER_1 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ALMATY)
NOVEMBER_30 = dt.datetime(2026, 11, 30, 18, 0, tzinfo=ALMATY)
WARNING = "The MRP for 2027 has not been entered yet"


@pytest.fixture
def no_mrp_2027():
    """The reference fees of 2024–2026 and nothing for 2027, as on the day this was written."""
    with time_machine.travel(DECEMBER_1, tick=False):
        fees_in_force_today()
    MrpRate.objects.filter(year__gte=2027).delete()


def person_in(role: str, django_user_model, email: str):
    person = django_user_model.objects.create_user(
        email, "a-long-passphrase", full_name=role, is_staff=True
    )
    person.groups.add(Group.objects.get(name=role))
    return person


@pytest.fixture
def operator(django_user_model):
    return person_in(OPERATORS, django_user_model, "operator@example.kz")


def test_r2_no_notice_in_november_nor_once_next_years_mrp_is_entered(no_mrp_2027):
    assert missing_mrp(today=NOVEMBER_30.date()) is None
    assert missing_mrp(today=DECEMBER_1.date()).year == 2027
    MrpRate.objects.create(year=2027, value=Decimal("4500.00"))
    assert missing_mrp(today=DECEMBER_1.date()) is None


def test_r2_admin_index_warns_operators_from_1_december(
    no_mrp_2027, operator, client, sign_in_browser, django_user_model
):
    with time_machine.travel(DECEMBER_1, tick=False):
        page = sign_in_browser(client, operator).get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
        assert page.status_code == 200
        assert WARNING in page.content.decode()
        # An auditor cannot enter an MRP: nothing to act on, no notice.
        auditor = person_in(AUDITORS, django_user_model, "auditor@example.kz")
        page = sign_in_browser(client, auditor).get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
        assert page.status_code == 200
        assert WARNING not in page.content.decode()


def test_r2_fees_page_warns_operators_not_the_public(
    no_mrp_2027, operator, client, sign_in_browser
):
    with time_machine.travel(DECEMBER_1, tick=False):
        public = client.get("/fees/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "MRP (monthly calculation index) in 2026" in public
        assert WARNING not in public
        own = sign_in_browser(client, operator).get("/fees/", HTTP_ACCEPT_LANGUAGE="en")
        assert WARNING in own.content.decode()


def test_r2_healthz_reports_the_missing_mrp_as_a_warning_not_a_failure(
    no_mrp_2027, client, settings
):
    settings.REDIS_URL = ""
    with time_machine.travel(NOVEMBER_30, tick=False):
        worker_heartbeat()
        body = client.get("/healthz").json()
        assert body["warnings"] == []
    with time_machine.travel(DECEMBER_1, tick=False):
        worker_heartbeat()
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert response.json()["warnings"] == ["mrp_missing_2027"]


def test_r2_daily_job_logs_the_missing_mrp_at_warning(no_mrp_2027, caplog):
    caplog.set_level(logging.DEBUG, logger="core.notices")
    with time_machine.travel(NOVEMBER_30, tick=False):
        assert log_operator_notices() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    with time_machine.travel(DECEMBER_1, tick=False):
        assert log_operator_notices() == 1
    (line,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    # The code for monitoring; the words in the portal's default language (Russian).
    assert line.getMessage().startswith("Operator notice mrp_missing_2027: МРП на 2027 год")


def test_r2_operator_notices_command_runs_as_of_a_date(no_mrp_2027, capsys):
    call_command("operator_notices", "--as-of", "2026-11-30")
    assert "no operator notices" in capsys.readouterr().out
    call_command("operator_notices", "--as-of", "2026-12-01")
    assert "mrp_missing_2027:" in capsys.readouterr().out


def test_r2_the_public_fees_page_asks_for_no_operator_notice(monkeypatch, client):
    from django.contrib.auth.models import AnonymousUser

    from core import notices

    def asked(moment):
        raise AssertionError("operator notices were worked out for the public")

    monkeypatch.setattr(notices, "_sources", [asked])
    assert notices.notices_for(AnonymousUser()) == []
    fees_in_force_today()
    assert client.get("/fees/").status_code == 200
