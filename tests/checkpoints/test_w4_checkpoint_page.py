"""W4: the public page of a checkpoint — opening hours, the waiting area, the neighbour's
checkpoint, contacts and the current and coming closures, in kk/ru/en, edited by operators."""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from auth2fa.roles import OPERATORS
from checkpoints.models import Checkpoint, Closure
from core import clock

pytestmark = pytest.mark.django_db

DETAILS = {
    "counterpart": "Khorgos",
    "counterpart_ru": "Хоргос",
    "counterpart_kk": "Қорғас",
    "waiting_area_kk": "Жаркент, Пограничная көшесі, 1",
    "waiting_area_ru": "Жаркент, ул. Пограничная, 1",
    "waiting_area_en": "1 Pogranichnaya St, Zharkent",
    "waiting_area_latitude": Decimal("44.17000"),
    "waiting_area_longitude": Decimal("80.25000"),
    "route_ru": "С трассы A-353 повернуть у поста ДПС.",
    "contacts_ru": "+7 728 000 00 00",
}


def _page(code: str, language: str) -> str:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(f"/checkpoints/{code}/")
    assert response.status_code == 200
    return response.content.decode()


def test_w4_checkpoint_page_shows_details_in_the_visitors_language(make_checkpoint):
    make_checkpoint("NUR-ZHOLY", **DETAILS)
    page = _page("nur-zholy", "kk")
    assert '<html lang="kk">' in page
    assert escape(DETAILS["waiting_area_kk"]) in page
    assert "Қорғас" in page
    # Not given in Kazakh: the route and contacts fall back to another language (W4).
    assert escape(DETAILS["route_ru"]) in page
    assert DETAILS["contacts_ru"] in page
    assert "https://www.openstreetmap.org/?mlat=44.17000&amp;mlon=80.25000" in page
    english = _page("NUR-ZHOLY", "en")
    assert DETAILS["waiting_area_en"] in english
    assert "Khorgos" in english
    assert "Хоргос" in _page("NUR-ZHOLY", "ru")


def test_w4_checkpoint_page_omits_blocks_nobody_filled(make_checkpoint):
    make_checkpoint("DOSTYK")
    page = _page("DOSTYK", "en")
    assert "Waiting area" not in page
    assert "openstreetmap" not in page
    assert 'id="contacts"' not in page
    assert "No closures announced." in page


def test_w4_checkpoint_page_lists_current_and_coming_closures_only(make_checkpoint):
    checkpoint = make_checkpoint("KALZHAT")
    now = clock.now()
    for reason, start, end in [
        ("Past storm", now - dt.timedelta(days=2), now - dt.timedelta(days=1)),
        ("Current works", now - dt.timedelta(hours=1), now + dt.timedelta(hours=3)),
        ("Coming holiday", now + dt.timedelta(days=5), now + dt.timedelta(days=6)),
    ]:
        Closure.objects.create(checkpoint=checkpoint, starts_at=start, ends_at=end, reason=reason)
    page = _page("KALZHAT", "en")
    assert "Past storm" not in page
    assert page.index("Current works") < page.index("Coming holiday")
    assert "Both directions" in page


def test_w4_checkpoint_page_is_for_bookable_checkpoints_only(make_checkpoint):
    make_checkpoint("CARS-ONLY", serves_trucks=False)
    assert Client().get("/checkpoints/CARS-ONLY/").status_code == 404
    assert Client().get("/checkpoints/NOPE%00/").status_code == 404


def test_w4_home_page_and_board_link_to_the_checkpoint_page(make_checkpoint):
    make_checkpoint("NUR-ZHOLY", **DETAILS)
    link = reverse("checkpoint", args=["NUR-ZHOLY"])
    assert link == "/checkpoints/NUR-ZHOLY/"
    assert f'href="{link}"' in Client().get("/").content.decode()
    assert f'href="{link}"' in Client().get("/board/NUR-ZHOLY/").content.decode()


def test_w4_waiting_area_needs_both_coordinates(make_checkpoint):
    from django.core.exceptions import ValidationError

    checkpoint = make_checkpoint("DOSTYK")
    checkpoint.waiting_area_latitude = Decimal("45.1")
    with pytest.raises(ValidationError):
        checkpoint.full_clean()


def test_w4_operator_edits_the_details_in_the_admin(
    make_checkpoint, django_user_model, sign_in_browser
):
    checkpoint = make_checkpoint("DOSTYK")
    operator = django_user_model.objects.create_user(
        "operator@registrar.kz", "a-long-passphrase", full_name="Operator", is_staff=True
    )
    operator.groups.add(Group.objects.get(name=OPERATORS))
    browser = sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), operator)
    url = reverse("admin:checkpoints_checkpoint_change", args=[checkpoint.pk])
    form = browser.get(url).context["adminform"].form
    data = {
        name: form.initial.get(name, field.initial)
        for name, field in form.fields.items()
        if form.initial.get(name, field.initial) is not None
    }
    data.update(
        {
            "counterpart_kk": "Алашанькоу",
            "waiting_area_ru": "Достык, стоянка у вокзала",
            "waiting_area_latitude": "45.25000",
            "waiting_area_longitude": "82.48000",
            "contacts_en": "+7 700 000 00 00",
        }
    )
    for prefix in ("staff_assignments",):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    response = browser.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    checkpoint = Checkpoint.objects.get(pk=checkpoint.pk)
    assert checkpoint.counterpart_kk == "Алашанькоу"
    assert checkpoint.waiting_area_latitude == Decimal("45.25000")
    assert "Достык, стоянка у вокзала" in _page("DOSTYK", "ru")
