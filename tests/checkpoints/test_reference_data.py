import json

import pytest
from django.core.management import call_command

from checkpoints.models import Checkpoint, Country
from checkpoints.services import REFERENCE_FILE, reference_checkpoints_load
from core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_r1_loads_every_country_and_checkpoint_of_the_shipped_data():
    data = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))
    counts = reference_checkpoints_load()
    assert counts["created"] == len(data["countries"]) + len(data["checkpoints"])
    assert set(Country.objects.values_list("code", flat=True)) == {"CN", "KG", "UZ", "RU", "TM"}
    nur_zholy = Checkpoint.objects.get(code="NUR-ZHOLY")
    assert nur_zholy.country_id == "CN"
    assert nur_zholy.daily_capacity == 650
    assert nur_zholy.is_open_around_the_clock
    assert nur_zholy.name_kk and nur_zholy.name_ru == "Нур Жолы"


def test_r1_every_checkpoint_has_names_in_kazakh_russian_and_english():
    reference_checkpoints_load()
    for checkpoint in Checkpoint.objects.all():
        assert checkpoint.name_en and checkpoint.name_ru and checkpoint.name_kk, checkpoint.code


def test_r1_reloading_keeps_operator_edits_unless_overwrite():
    reference_checkpoints_load()
    Checkpoint.objects.filter(code="DOSTYK").update(daily_capacity=420)
    assert reference_checkpoints_load()["created"] == 0
    assert Checkpoint.objects.get(code="DOSTYK").daily_capacity == 420
    counts = reference_checkpoints_load(overwrite=True)
    assert counts["updated"] == 1
    assert Checkpoint.objects.get(code="DOSTYK").daily_capacity == 300


def test_r1_loading_is_audited():
    reference_checkpoints_load()
    assert AuditEvent.objects.filter(action="reference.created").count() == (
        Country.objects.count() + Checkpoint.objects.count()
    )


def test_r1_load_reference_data_command_runs_twice(capsys):
    call_command("load_reference_data")
    call_command("load_reference_data")
    out = capsys.readouterr().out
    assert "0 created" in out.splitlines()[-1]


def test_r1_countries_and_checkpoints_api(client):
    reference_checkpoints_load()
    countries = client.get("/api/v1/countries", HTTP_ACCEPT_LANGUAGE="en").json()
    assert {"code": "CN", "name": "China"} in countries
    checkpoints = client.get("/api/v1/checkpoints", {"country": "cn"}).json()
    assert {c["country"] for c in checkpoints} == {"CN"}
    assert {
        "code": "NUR-ZHOLY",
        "name": "Нур Жолы",
        "country": "CN",
        "daily_capacity": 650,
        "directions": ["exit", "entry"],
    } in checkpoints


def test_r1_home_page_lists_checkpoints_by_country(client):
    reference_checkpoints_load()
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "China" in page and "Nur Zholy" in page and "Kordai" in page
