import pytest
import time_machine

from checkpoints.models import Checkpoint, Country
from tests.checkpoints.factories import NOW


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def country(db):
    return Country.objects.get_or_create(
        code="CN", defaults={"name_en": "China", "name_ru": "Китай", "name_kk": "Қытай"}
    )[0]


@pytest.fixture
def make_checkpoint(country):
    def make(code="TEST-CP", daily_capacity=650, opens_at=None, closes_at=None, **fields):
        return Checkpoint.objects.create(
            code=code,
            country=country,
            name_en=code.title(),
            name_ru=code,
            name_kk=code,
            daily_capacity=daily_capacity,
            capacity_source=Checkpoint.CapacitySource.REPORTED,
            opens_at=opens_at,
            closes_at=closes_at,
            **fields,
        )

    return make


@pytest.fixture
def checkpoint(make_checkpoint):
    """650 vehicles a day per direction, open 24 hours (like Nur Zholy)."""
    return make_checkpoint()
