"""A checkpoint code in a path that no checkpoint can have (found by the API's hostile-input run
on PostgreSQL, which refuses a NUL byte in a query): 404 like any unknown code, never 500."""

import pytest
from django.test import Client

from checkpoints.services import reference_checkpoints_load

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
NO_CHECKPOINT_HAS = ["%00", "KORDAI%00", "KOR%2FDAI", "%F0%9F%9A%9A", "K" * 41, "kordai%20"]


@pytest.fixture(autouse=True)
def checkpoints():
    reference_checkpoints_load()


@pytest.mark.parametrize("code", NO_CHECKPOINT_HAS)
@pytest.mark.parametrize("page", ["slots?date=2026-03-21&direction=exit", "queue"])
def test_q4_a_code_no_checkpoint_can_have_is_not_found_in_the_api(code, page):
    response = Client().get(f"/api/v1/checkpoints/{code}/{page}", **EN)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not found.", "fields": {}}
    }


@pytest.mark.parametrize("code", NO_CHECKPOINT_HAS)
def test_q4_a_code_no_checkpoint_can_have_has_no_board(code):
    assert Client().get(f"/board/{code}/", **EN).status_code == 404


def test_q4_a_real_code_in_any_case_still_has_its_board():
    assert Client().get("/board/kordai/", **EN).status_code == 200
