import datetime as dt
from decimal import Decimal

import pytest

from core.errors import ApplicationError
from fees.models import FeeItem, FeeSchedule, MrpRate
from fees.selectors import fee_table, quote, quotes
from fees.services import reference_fees_load

pytestmark = pytest.mark.django_db

EXPECTED_MRP = {
    "regular": 1,
    "accelerated": 100,
    "out_of_turn": 100,
    "rebooking": 100,
    "deposit": 20,
}


@pytest.fixture
def fees():
    reference_fees_load()


@pytest.mark.parametrize("service, mrp", EXPECTED_MRP.items())
def test_r2_r3_quote_on_new_years_eve_uses_2025_mrp(fees, service, mrp):
    result = quote(service, on=dt.date(2025, 12, 31))
    assert result.mrp == mrp
    assert result.mrp_value == Decimal("3932.00")
    assert result.amount == Decimal(3932 * mrp).quantize(Decimal("0.01"))


@pytest.mark.parametrize("service, mrp", EXPECTED_MRP.items())
def test_r2_r3_quote_on_new_years_day_uses_2026_mrp(fees, service, mrp):
    result = quote(service, on=dt.date(2026, 1, 1))
    assert result.mrp == mrp
    assert result.mrp_value == Decimal("4325.00")
    assert result.amount == Decimal(4325 * mrp).quantize(Decimal("0.01"))


def test_r3_deposit_in_2025_is_78_640_tenge(fees):
    # Press reports of the live system: 20 MRP = 78 640 ₸ in 2025.
    assert quote("deposit", on=dt.date(2025, 6, 1)).amount == Decimal("78640.00")


def test_r2_2024_mrp_is_3692(fees):
    assert quote("regular", on=dt.date(2024, 1, 1)).amount == Decimal("3692.00")


def test_r3_no_schedule_before_2024(fees):
    with pytest.raises(ApplicationError) as refusal:
        quote("regular", on=dt.date(2023, 12, 31))
    assert refusal.value.code == "no_fee_schedule"


def test_r2_year_without_mrp_is_refused_clearly(fees):
    with pytest.raises(ApplicationError) as refusal:
        quote("regular", on=dt.date(2031, 1, 1))
    assert refusal.value.code == "mrp_not_set"
    assert "2031" in str(refusal.value.message)


def test_r3_unknown_service_is_a_validation_error(fees):
    with pytest.raises(ApplicationError) as refusal:
        quote("express", on=dt.date(2026, 1, 1))
    assert refusal.value.code == "validation_error"


def test_r2_r3_quotes_of_several_services_read_the_fee_table_once(fees, django_assert_num_queries):
    on = dt.date(2026, 1, 1)
    table = {item.service: item for item in fee_table(on).quotes}
    # The items of the schedule in force with the MRP of the year: one read for both services.
    with django_assert_num_queries(1):
        answers = quotes("regular", "deposit", on=on)
    assert answers == [table["regular"], table["deposit"]]
    assert [str(answer.mrp_value) for answer in answers] == ["4325.00", "4325.00"]
    assert [str(answer.amount) for answer in answers] == ["4325.00", "86500.00"]


@pytest.mark.parametrize(
    "on", [dt.date(2024, 1, 1), dt.date(2025, 12, 31), dt.date(2026, 6, 30), dt.date(2026, 7, 1)]
)
def test_r2_r3_quotes_in_one_read_are_the_fee_tables(fees, on):
    newer = FeeSchedule.objects.create(
        effective_from=dt.date(2026, 7, 1), basis_en="Order X", basis_ru="Приказ X", basis_kk="X"
    )
    for service, mrp in EXPECTED_MRP.items():
        FeeItem.objects.create(schedule=newer, service=service, mrp=mrp * 3)
    MrpRate.objects.filter(year=2026).update(value=Decimal("4325.37"))
    services = list(EXPECTED_MRP)
    assert quotes(*services, on=on) == [
        {item.service: item for item in fee_table(on).quotes}[service] for service in services
    ]


def test_r3_a_schedule_in_force_without_items_is_refused_as_before(fees):
    FeeSchedule.objects.create(
        effective_from=dt.date(2026, 7, 1), basis_en="Order X", basis_ru="Приказ X", basis_kk="X"
    )
    assert quotes("regular", on=dt.date(2026, 6, 30))[0].mrp == 1
    with pytest.raises(ApplicationError) as refusal:
        quotes("regular", "deposit", on=dt.date(2026, 7, 1))
    assert refusal.value.code == "no_fee_schedule"


def test_r2_r3_quotes_refuse_as_quote_does(fees):
    for services, on, code in (
        (("regular", "express"), dt.date(2026, 1, 1), "validation_error"),
        (("regular", "deposit"), dt.date(2023, 12, 31), "no_fee_schedule"),
        (("regular", "deposit"), dt.date(2031, 1, 1), "mrp_not_set"),
    ):
        with pytest.raises(ApplicationError) as refusal:
            quotes(*services, on=on)
        assert refusal.value.code == code
    FeeItem.objects.filter(service="deposit").delete()
    with pytest.raises(ApplicationError) as refusal:
        quotes("regular", "deposit", on=dt.date(2026, 1, 1))
    assert refusal.value.code == "no_fee_schedule"


def test_r3_a_newer_schedule_applies_from_its_effective_date(fees):
    newer = FeeSchedule.objects.create(
        effective_from=dt.date(2026, 7, 1), basis_en="Order X", basis_ru="Приказ X", basis_kk="X"
    )
    for service, mrp in EXPECTED_MRP.items():
        FeeItem.objects.create(schedule=newer, service=service, mrp=mrp * 2)
    assert quote("regular", on=dt.date(2026, 6, 30)).mrp == 1
    assert quote("regular", on=dt.date(2026, 7, 1)).mrp == 2
    assert fee_table(dt.date(2026, 7, 1)).schedule == newer


def test_r2_reference_load_is_idempotent_and_keeps_operator_edits(fees):
    MrpRate.objects.filter(year=2026).update(value=Decimal("5000.00"))
    counts = reference_fees_load()
    assert counts["created"] == 0
    assert MrpRate.objects.get(year=2026).value == Decimal("5000.00")
    reference_fees_load(overwrite=True)
    assert MrpRate.objects.get(year=2026).value == Decimal("4325.00")


def test_r3_fees_api_shape_and_year_boundary(client, fees):
    before = client.get("/api/v1/fees", {"date": "2025-12-31"}).json()
    after = client.get("/api/v1/fees", {"date": "2026-01-01"}).json()
    assert before["mrp_value"] == "3932.00"
    assert after["mrp_value"] == "4325.00"
    assert after["date"] == "2026-01-01"
    assert "538" in after["basis"]
    items = {item["service"]: item for item in after["items"]}
    assert set(items) == set(EXPECTED_MRP)
    assert items["out_of_turn"] == {"service": "out_of_turn", "mrp": 100, "amount": "432500.00"}
    assert items["deposit"]["amount"] == "86500.00"


def test_r3_fees_api_refuses_a_bad_date_in_the_error_shape(client, fees):
    response = client.get("/api/v1/fees", {"date": "31.12.2025"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "date" in error["fields"]


def test_r3_fees_api_without_mrp_is_409(client, fees):
    response = client.get("/api/v1/fees", {"date": "2035-01-01"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "mrp_not_set"


def test_r3_fees_page_shows_the_table_for_a_date(client, fees):
    response = client.get("/fees/", {"date": "2025-12-31"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    text = response.content.decode()
    assert "78\u202f640.00 ₸" in text
    assert "393\u202f200.00 ₸" in text


def test_r3_fees_page_explains_a_bad_date(client, fees):
    response = client.get("/fees/", {"date": "tomorrow"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "YYYY-MM-DD" in response.content.decode()
