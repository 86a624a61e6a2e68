"""P1: bank statements are imported into the ledger once per bank reference; a payment whose
personal account is found is credited, any other is parked for an operator and never lost; a
statement of another account is refused whole. The command and the admin call the same service."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.urls import reverse
from django.utils import translation

from auth2fa.roles import AUDITORS, OPERATORS
from carriers.models import Carrier
from core.clock import ALMATY
from core.errors import ApplicationError
from core.models import AuditEvent
from deposits import services
from deposits.management.commands.import_bank_statement import Command as ImportCommand
from deposits.models import (
    Account,
    RefundRequest,
    StatementEntry,
    StatementImport,
    Transfer,
)
from deposits.selectors import balances_of, ledger_check, system_balance
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

D = Decimal
SAMPLES = Path(__file__).parent / "samples"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
OTHER_IBAN = "KZ75601A861000123456"
CARRIER_IBAN = "KZ18722S000012345678"
Reason = StatementEntry.ParkReason


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def carrier_with_account(sequence: int, name: str) -> Carrier:
    """A carrier whose personal account number is that of `sequence` (the number is made from
    the carrier's id: 12345678 → KZK123456782, as quoted in the sample statements)."""
    carrier = Carrier.objects.create(
        pk=sequence, kind="company", iin_bin=f"{sequence:012d}", name=name
    )
    services.personal_account_open(carrier=carrier)
    return carrier


@pytest.fixture
def keruen():
    return carrier_with_account(12345678, "Keruen LLP")  # KZK123456782


@pytest.fixture
def zholaushy():
    return carrier_with_account(2024, "Zholaushy LLP")  # KZK000020248


def import_sample(name: str, **kwargs) -> StatementImport:
    return services.bank_statement_import(data=sample(name), filename=name, **kwargs)


def counts(statement_import: StatementImport) -> tuple[int, int, int, int]:
    return (
        statement_import.credited,
        statement_import.already_imported,
        statement_import.parked,
        statement_import.skipped,
    )


def assert_clean():
    report = ledger_check()
    assert report.ok, report.problems


def reasons() -> dict[str, str]:
    return dict(
        StatementEntry.objects.filter(status="parked").values_list("bank_reference", "park_reason")
    )


# --- The service --------------------------------------------------------------------------------


def test_p1_camt053_statement_credits_matched_lines_and_parks_the_rest(keruen, zholaushy):
    statement_import = import_sample("camt053-v02-day.xml")

    # 6 booked credits: 2 name an open account, 4 are parked; a debit, a pending entry and a
    # reversal are skipped.
    assert counts(statement_import) == (2, 0, 4, 3)
    assert statement_import.format == "camt.053.001.02"
    assert statement_import.account_iban == "KZ86125KZT5004100100"
    assert statement_import.statement_id == "20240501-KZ86125KZT5004100100"
    assert statement_import.finished_at is not None
    assert len(statement_import.sha256) == 64
    assert balances_of(keruen).available == D("150000.00")
    assert balances_of(zholaushy).available == D("86500.00")
    assert system_balance(Account.Kind.BANK_INCOMING) == D("-236500.00")

    credited = StatementEntry.objects.get(bank_reference="KZ240501CR000117")
    assert credited.status == "credited"
    assert credited.carrier == keruen
    assert credited.transfer.amount == D("150000.00")
    assert credited.transfer.reference_id == "KZ240501CR000117"
    assert credited.transfer.description.startswith("ТОО «Керуен» — Пополнение лицевого счёта")
    assert credited.payer_bin == "230140012340"
    assert credited.payer_iban == "KZ75601A861000123456"
    assert credited.booked_at == dt.datetime(2024, 5, 1, tzinfo=ALMATY)
    assert credited.raw["ntry_ref"] == "000117"

    assert reasons() == {
        "KZ240501CR000119": Reason.UNKNOWN_NUMBER,  # KZK314159260: no such account yet
        "KZ240501CR000120": Reason.NO_NUMBER,
        "KZ240501CR000121": Reason.SEVERAL_NUMBERS,
        "KZ240501CR000122": Reason.NO_NUMBER,  # a mistyped check digit is no number
    }
    assert not StatementEntry.objects.filter(bank_reference__contains="DB").exists()
    assert not StatementEntry.objects.filter(status="parked", transfer__isnull=False).exists()
    assert StatementEntry.objects.filter(statement_import=statement_import).count() == 6

    event = AuditEvent.objects.get(action="deposits.statement_imported")
    assert event.object_id == str(statement_import.pk)
    assert event.after["credited"] == 2
    assert event.after["parked"] == 4
    assert event.after["skipped"] == 3
    assert event.after["already_imported"] == 0
    assert AuditEvent.objects.filter(action="ledger.top_up").count() == 2
    assert_clean()


def test_p1_reimporting_a_statement_credits_nothing_new(keruen, zholaushy):
    first = import_sample("camt053-v02-day.xml")
    again = import_sample("camt053-v02-day.xml")

    assert counts(first) == (2, 0, 4, 3)
    assert counts(again) == (0, 6, 0, 3)
    assert again.sha256 == first.sha256
    assert balances_of(keruen).available == D("150000.00")
    assert Transfer.objects.filter(kind="top_up").count() == 2
    assert StatementEntry.objects.count() == 6
    # Every line stays with the import it first came in.
    assert set(StatementEntry.objects.values_list("statement_import", flat=True)) == {first.pk}
    assert AuditEvent.objects.filter(action="deposits.statement_imported").count() == 2
    assert_clean()


def test_p1_a_line_parked_before_is_not_credited_by_a_later_import(keruen):
    import_sample("camt053-v02-day.xml")  # KZK000020248 has no account yet: parked
    carrier_with_account(2024, "Zholaushy LLP")

    again = import_sample("camt053-v02-day.xml")

    assert again.credited == 0
    assert StatementEntry.objects.get(bank_reference="KZ240501CR000118").status == "parked"


def test_p1_csv_statement_and_batch_camt_are_imported_the_same_way(keruen, zholaushy):
    csv_import = import_sample("statement.csv")
    assert counts(csv_import) == (2, 0, 1, 1)
    assert csv_import.format == "csv"
    assert balances_of(zholaushy).available == D("1250000.50")
    assert reasons() == {"KZB240503000303": Reason.NO_NUMBER}

    arys = carrier_with_account(7070, "Arys Trans LLP")  # KZK000070706
    sole_trader = carrier_with_account(55555, "Seitkali B.")  # KZK000555557
    batch_import = import_sample("camt053-v08-batch.xml")
    # A batch of three transfers gives three lines; KZK271828188 has no account.
    assert counts(batch_import) == (3, 0, 1, 2)
    assert balances_of(arys).available == D("150000.00")
    assert balances_of(sole_trader).available == D("77500.50")
    assert reasons()["KZ240502BT000201/KZ240502TX000302"] == Reason.UNKNOWN_NUMBER
    assert_clean()


def test_p1_a_statement_of_another_account_is_refused_whole(keruen):
    data = sample("camt053-v02-day.xml").replace(b"KZ86 125K ZT50 0410 0100", OTHER_IBAN.encode())

    with pytest.raises(ApplicationError) as refusal:
        services.bank_statement_import(data=data, filename="other.xml")

    assert refusal.value.code == "statement_wrong_account"
    assert OTHER_IBAN in refusal.value.message
    assert "KZ86125KZT5004100100" in refusal.value.message
    assert not StatementImport.objects.exists()
    assert not StatementEntry.objects.exists()
    assert not Transfer.objects.exists()
    assert balances_of(keruen).available == 0


def test_p1_the_registrar_iban_setting_is_compared_normalised(keruen, settings):
    settings.REGISTRAR_IBAN = "kz86 125k zt50 0410 0100"
    assert import_sample("camt053-v02-day.xml").account_iban == "KZ86125KZT5004100100"


def test_p1_an_unreadable_statement_is_refused_and_nothing_is_stored(keruen):
    with pytest.raises(ApplicationError) as refusal:
        import_sample("malformed/batch-does-not-add-up.xml")
    assert refusal.value.code == "statement_invalid"
    assert not StatementImport.objects.exists()
    assert not Transfer.objects.exists()


def test_p1_a_statement_over_the_size_limit_is_refused(keruen):
    with pytest.raises(ApplicationError) as refusal:
        services.bank_statement_import(
            data=sample("camt053-v02-day.xml"), filename="day.xml", max_bytes=1000
        )
    assert refusal.value.code == "statement_invalid"
    assert "too large" in refusal.value.message


CSV_WITH_DOLLARS = b"""# account: KZ86125KZT5004100100
reference;booked_at;amount;currency;payer_name;remittance
USD-1;2024-05-06;500.00;USD;Silk Road Ltd;Top-up KZK123456782
KZT-1;2024-05-06;1000.00;KZT;Silk Road Ltd;Top-up KZK123456782
"""


def test_p1_a_payment_in_another_currency_is_parked_never_credited(keruen, person):
    statement_import = services.bank_statement_import(data=CSV_WITH_DOLLARS, filename="usd.csv")

    assert counts(statement_import) == (1, 0, 1, 0)
    dollars = StatementEntry.objects.get(bank_reference="USD-1")
    assert (dollars.status, dollars.park_reason) == ("parked", Reason.CURRENCY)
    assert (dollars.amount, dollars.currency) == (D("500.00"), "USD")
    assert dollars.payer_name == "Silk Road Ltd"
    assert balances_of(keruen).available == D("1000.00")
    with pytest.raises(ApplicationError) as refusal:
        services.parked_entry_assign(entry=dollars, carrier=keruen, actor=person)
    assert "USD" in refusal.value.message
    assert balances_of(keruen).available == D("1000.00")


def test_p1_a_bank_reference_topped_up_otherwise_is_parked_not_credited_twice(keruen, zholaushy):
    services.account_top_up(carrier=zholaushy, amount=D("1.00"), bank_reference="KZ240501CR000117")

    statement_import = import_sample("camt053-v02-day.xml")

    assert statement_import.credited == 1
    assert reasons()["KZ240501CR000117"] == Reason.REFERENCE_USED
    assert balances_of(keruen).available == 0
    assert_clean()


def test_p1_the_same_top_up_made_before_is_linked_not_moved_again(keruen, zholaushy):
    earlier = services.account_top_up(
        carrier=keruen, amount=D("150000.00"), bank_reference="KZ240501CR000117"
    )

    import_sample("camt053-v02-day.xml")

    assert StatementEntry.objects.get(bank_reference="KZ240501CR000117").transfer == earlier
    assert balances_of(keruen).available == D("150000.00")
    assert_clean()


# --- Parked lines assigned by an operator ------------------------------------------------------


@pytest.fixture
def person(django_user_model):
    return django_user_model.objects.create_user(
        "operator@registrar.kz", "x", full_name="Operator", is_staff=True
    )


def test_p1_a_parked_line_assigned_by_an_operator_is_credited_once(keruen, zholaushy, person):
    import_sample("camt053-v02-day.xml")
    entry = StatementEntry.objects.get(bank_reference="KZ240501CR000120")

    assigned = services.parked_entry_assign(
        entry=entry, carrier=zholaushy, actor=person, note="Payer's letter of 02.05"
    )

    assert assigned.status == "assigned"
    assert assigned.carrier == zholaushy
    assert assigned.assigned_by == person
    assert assigned.assign_note == "Payer's letter of 02.05"
    assert assigned.transfer.amount == D("20000.00")
    assert assigned.park_reason == Reason.NO_NUMBER  # why it had been parked stays on record
    assert balances_of(zholaushy).available == D("106500.00")
    event = AuditEvent.objects.get(action="deposits.statement_entry_assigned")
    assert event.actor == person
    assert event.before["status"] == "parked"
    assert event.after["carrier"] == zholaushy.pk

    with pytest.raises(ApplicationError) as refusal:
        services.parked_entry_assign(entry=entry, carrier=keruen, actor=person)
    assert refusal.value.code == "not_changeable"
    assert refusal.value.status == 409
    assert balances_of(zholaushy).available == D("106500.00")
    assert balances_of(keruen).available == D("150000.00")

    # A later import of the same statement leaves the assigned line alone.
    assert import_sample("camt053-v02-day.xml").credited == 0
    assert balances_of(zholaushy).available == D("106500.00")
    assert_clean()


def test_p1_a_line_credited_by_the_import_cannot_be_assigned(keruen, zholaushy, person):
    import_sample("camt053-v02-day.xml")
    entry = StatementEntry.objects.get(bank_reference="KZ240501CR000117")
    with pytest.raises(ApplicationError) as refusal:
        services.parked_entry_assign(entry=entry, carrier=zholaushy, actor=person)
    assert refusal.value.code == "not_changeable"
    assert balances_of(zholaushy).available == D("86500.00")


# --- The command ---------------------------------------------------------------------------------


def run_command(*args) -> tuple[str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    call_command("import_bank_statement", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_p1_command_prints_what_was_credited_already_imported_and_parked(keruen, zholaushy):
    path = str(SAMPLES / "camt053-v02-day.xml")

    out, _ = run_command(path)
    assert out.splitlines()[0] == "2 credited, 0 already imported, 4 parked, 3 skipped"
    assert "  parked KZ240501CR000120: 20000.00 KZT — No personal account number" in out
    assert "KZ240501CR000121: 30000.00 KZT — Several personal account numbers" in out
    assert "KZ240501CR000119: 40000.00 KZT — No personal account has this number" in out

    out, _ = run_command(path)
    assert out.strip() == "0 credited, 6 already imported, 0 parked, 3 skipped"
    assert StatementImport.objects.filter(uploaded_by__isnull=True).count() == 2


def test_p1_command_refuses_a_statement_of_another_account_with_a_nonzero_exit(
    keruen, tmp_path, capsys, monkeypatch
):
    other = tmp_path / "other.xml"
    other.write_bytes(
        sample("camt053-v02-day.xml").replace(b"KZ86 125K ZT50 0410 0100", OTHER_IBAN.encode())
    )

    with pytest.raises(CommandError) as refusal:
        run_command(str(other))
    assert OTHER_IBAN in str(refusal.value)
    assert "KZ86125KZT5004100100" in str(refusal.value)

    # As from the shell: the message on stderr and exit status 1. (The command closes the
    # database connections when it ends; the test's transaction must outlive it.)
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_info:
        ImportCommand().run_from_argv(["manage.py", "import_bank_statement", str(other)])
    assert exit_info.value.code == 1
    assert OTHER_IBAN in capsys.readouterr().err
    assert not StatementImport.objects.exists()


def test_p1_command_exits_nonzero_on_an_unreadable_or_missing_file(keruen, tmp_path):
    with pytest.raises(CommandError) as refusal:
        run_command(str(SAMPLES / "malformed" / "truncated.xml"))
    assert "truncated.xml" in str(refusal.value)

    with pytest.raises(CommandError) as missing:
        run_command(str(tmp_path / "nowhere.xml"))
    assert "cannot read" in str(missing.value)
    assert not StatementImport.objects.exists()


# --- The admin ----------------------------------------------------------------------------------


@pytest.fixture
def operator(django_user_model):
    return StaffFactory(email="op@registrar.kz", roles=[OPERATORS])


@pytest.fixture
def operator_client(client, operator, sign_in_browser):
    return sign_in_browser(client, operator)


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def upload(client, name: str, data: bytes | None = None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("admin:deposits_statementimport_upload"),
        {"file": SimpleUploadedFile(name, data if data is not None else sample(name))},
        follow=True,
        **EN,
    )


def test_p1_operator_uploads_a_statement_in_the_admin(operator_client, operator, keruen):
    changelist = operator_client.get(reverse("admin:deposits_statementimport_changelist"), **EN)
    upload_url = reverse("admin:deposits_statementimport_upload")
    assert upload_url in changelist.content.decode()
    assert operator_client.get(upload_url, **EN).status_code == 200

    response = upload(operator_client, "camt053-v02-day.xml")

    statement_import = StatementImport.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "admin:deposits_statementimport_change", args=[statement_import.pk]
    )
    assert statement_import.uploaded_by == operator
    assert counts(statement_import) == (1, 0, 5, 3)
    notes = shown_messages(response)
    assert any("1 credited, 0 already imported, 5 parked, 3 skipped" in note for note in notes)
    assert any("5 payments were parked" in note for note in notes)
    assert balances_of(keruen).available == D("150000.00")
    assert AuditEvent.objects.get(action="deposits.statement_imported").actor == operator

    again = upload(operator_client, "camt053-v02-day.xml")
    notes = shown_messages(again)
    assert any("0 credited, 6 already imported" in note for note in notes)
    assert any("imported before" in note for note in notes)


def test_p1_admin_upload_of_another_accounts_statement_shows_the_refusal(operator_client):
    data = sample("camt053-v02-day.xml").replace(b"KZ86 125K ZT50 0410 0100", OTHER_IBAN.encode())
    response = upload(operator_client, "other.xml", data)
    assert response.status_code == 200
    page = response.content.decode()
    assert OTHER_IBAN in page
    assert "KZ86125KZT5004100100" in page
    assert not StatementImport.objects.exists()


def test_p1_admin_upload_refuses_a_file_over_20_mib(operator_client):
    response = upload(operator_client, "huge.csv", b"#" * (20 * 1024 * 1024 + 1))
    assert response.status_code == 200
    assert "too large" in response.content.decode()
    assert not StatementImport.objects.exists()


def test_a5_upload_needs_a_verified_second_factor_and_the_permission(
    client, operator, django_user_model, sign_in_browser
):
    upload_url = reverse("admin:deposits_statementimport_upload")
    client.force_login(operator)  # a password alone
    response = client.get(upload_url)
    assert response.status_code == 302
    assert "/admin/" not in response["Location"].split("?")[0]

    auditor = StaffFactory(email="audit@registrar.kz", roles=[AUDITORS])
    auditor_client = sign_in_browser(client, auditor)
    assert auditor_client.get(upload_url).status_code == 403
    changelist = auditor_client.get(reverse("admin:deposits_statementimport_changelist"))
    assert changelist.status_code == 200
    assert upload_url not in changelist.content.decode()


def test_p1_operator_assigns_a_parked_line_in_the_admin(operator_client, operator, keruen):
    import_sample("camt053-v02-day.xml")
    entry = StatementEntry.objects.get(bank_reference="KZ240501CR000120")
    assign_url = reverse("admin:deposits_statemententry_assign", args=[entry.pk])
    change_url = reverse("admin:deposits_statemententry_change", args=[entry.pk])

    assert assign_url in operator_client.get(change_url, **EN).content.decode()
    assert operator_client.get(assign_url, **EN).status_code == 200

    unknown = operator_client.post(assign_url, {"account_number": "KZK314159260"}, **EN)
    assert "No personal account has the number" in unknown.content.decode()

    confirm = operator_client.post(assign_url, {"account_number": "kzk 1234 5678 2"}, **EN)
    assert confirm.status_code == 200
    assert confirm.context["confirming"]
    assert "Keruen LLP" in confirm.content.decode()
    entry.refresh_from_db()
    assert entry.status == "parked"  # nothing moves before the confirmation

    done = operator_client.post(
        assign_url,
        {"account_number": "kzk 1234 5678 2", "note": "letter", "confirm": "1"},
        follow=True,
        **EN,
    )
    assert done.redirect_chain[-1][0] == change_url
    entry.refresh_from_db()
    assert (entry.status, entry.carrier, entry.assigned_by) == ("assigned", keruen, operator)
    assert balances_of(keruen).available == D("170000.00")
    assert assign_url not in done.content.decode()

    # Assigning it again (a second tab, a double click) is refused and moves nothing.
    twice = operator_client.post(
        assign_url, {"account_number": "KZK123456782", "confirm": "1"}, follow=True, **EN
    )
    assert any("already credited" in note for note in shown_messages(twice))
    assert balances_of(keruen).available == D("170000.00")
    assert_clean()


def test_p1_operator_assigns_a_parked_line_by_the_carriers_iin_bin(operator_client, zholaushy):
    import_sample("camt053-v02-day.xml")
    entry = StatementEntry.objects.get(bank_reference="KZ240501CR000121")
    assign_url = reverse("admin:deposits_statemententry_assign", args=[entry.pk])

    both = operator_client.post(
        assign_url, {"account_number": "KZK000020248", "iin_bin": zholaushy.iin_bin}, **EN
    )
    assert "either the personal account number or" in both.content.decode()

    operator_client.post(assign_url, {"iin_bin": zholaushy.iin_bin, "confirm": "1"}, **EN)
    entry.refresh_from_db()
    assert entry.status == "assigned"
    assert balances_of(zholaushy).available == D("116500.00")


@pytest.fixture
def refund(keruen, django_user_model):
    accountant = django_user_model.objects.create_user("acc@keruen.kz", "x", full_name="Acc")
    services.account_top_up(carrier=keruen, amount=D("50000.00"), bank_reference="COVER")
    return services.refund_request(
        carrier=keruen, amount=D("20000.00"), iban=CARRIER_IBAN, requested_by=accountant
    )


def refund_action(client, action: str, refund, **extra):
    return client.post(
        reverse("admin:deposits_refundrequest_changelist"),
        {"action": action, "_selected_action": [refund.pk], **extra},
        **EN,
    )


def test_p3_operator_marks_a_refund_paid_in_the_admin(operator_client, operator, refund, keruen):
    page = refund_action(operator_client, "mark_paid", refund)
    assert page.status_code == 200
    assert CARRIER_IBAN in page.content.decode()
    refund.refresh_from_db()
    assert refund.status == "requested"  # the intermediate page moved nothing

    done = refund_action(operator_client, "mark_paid", refund, apply="1", note="PO 1234")
    assert done.status_code == 302
    refund.refresh_from_db()
    assert (refund.status, refund.resolved_by, refund.note) == ("paid", operator, "PO 1234")
    assert balances_of(keruen).refund_pending == 0
    assert system_balance(Account.Kind.BANK_PAYOUTS) == D("20000.00")

    # Marking it paid again changes nothing.
    refund_action(operator_client, "mark_paid", refund, apply="1")
    assert Transfer.objects.filter(kind="refund_paid").count() == 1
    assert_clean()


def test_p3_rejecting_a_refund_in_the_admin_needs_a_reason(
    operator_client, operator, refund, keruen
):
    no_reason = refund_action(operator_client, "reject", refund, apply="1", note="")
    assert no_reason.status_code == 200
    assert no_reason.context["form"].errors["note"]
    refund.refresh_from_db()
    assert refund.status == "requested"

    done = refund_action(operator_client, "reject", refund, apply="1", note="IBAN is closed")
    assert done.status_code == 302
    refund.refresh_from_db()
    assert (refund.status, refund.note) == ("rejected", "IBAN is closed")
    assert balances_of(keruen).available == D("50000.00")
    event = AuditEvent.objects.get(action="ledger.refund_rejected", object_id=str(refund.pk))
    assert event.actor == operator
    assert event.after["note"] == "IBAN is closed"
    assert_clean()


def test_p6_money_and_statuses_are_read_only_in_the_admin(operator_client, keruen, refund):
    import_sample("camt053-v02-day.xml")
    entry = StatementEntry.objects.get(bank_reference="KZ240501CR000117")
    transfer = entry.transfer
    account = Account.objects.get(carrier=keruen, kind="available")
    for model, obj in [
        ("transfer", transfer),
        ("account", account),
        ("statemententry", entry),
        ("refundrequest", refund),
        ("statementimport", entry.statement_import),
        ("personalaccount", keruen.personal_account),
    ]:
        change_url = reverse(f"admin:deposits_{model}_change", args=[obj.pk])
        page = operator_client.get(change_url, **EN)
        assert page.status_code == 200, model
        assert not page.context["adminform"].form.fields, model  # every field read-only
        assert operator_client.post(change_url, {"amount": "1"}).status_code == 403, model
        assert operator_client.get(reverse(f"admin:deposits_{model}_add")).status_code == 403
        delete_url = reverse(f"admin:deposits_{model}_delete", args=[obj.pk])
        assert operator_client.post(delete_url, {"post": "yes"}).status_code == 403, model
    transfer.refresh_from_db()
    refund.refresh_from_db()
    assert transfer.amount == D("150000.00")
    assert refund.status == RefundRequest.Status.REQUESTED
    assert balances_of(keruen).available == D("180000.00")


def test_p1_operator_reads_every_ledger_list_in_the_admin(operator_client, keruen, refund):
    import_sample("camt053-v02-day.xml")
    services.deposit_hold(carrier=keruen, amount=D("1000.00"), reference=("booking", "1"))
    hold = keruen.holds.get()
    services.hold_release(hold=hold, reason="crossed")
    for model in (
        "statementimport",
        "statemententry",
        "refundrequest",
        "personalaccount",
        "account",
        "transfer",
        "hold",
        "holdresolution",
    ):
        page = operator_client.get(reverse(f"admin:deposits_{model}_changelist"), **EN)
        assert page.status_code == 200, model
    parked = operator_client.get(
        reverse("admin:deposits_statemententry_changelist"), {"status__exact": "parked"}, **EN
    )
    assert parked.context["cl"].result_count == 5
    found = operator_client.get(
        reverse("admin:deposits_personalaccount_changelist"), {"q": "KZK123456782"}, **EN
    )
    assert found.context["cl"].result_count == 1
    assert "180 000.00" in found.content.decode().replace("\u202f", " ")
