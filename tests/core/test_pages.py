"""The public pages (W1, W2): home, FAQ and fees in Kazakh, Russian and English."""

import json
import re

import pytest
from django.conf import settings
from django.utils.html import escape

from checkpoints.models import Checkpoint
from checkpoints.services import reference_checkpoints_load
from core import clock
from core.content import FAQ_DIR
from tests.fees.factories import fees_in_force_today

LANGUAGES = ("kk", "ru", "en")

# A few strings each page must show in its language: interface text from the .po catalogs and
# data in that language (checkpoint and country names, fee services, the legal basis).
HOME = {
    "kk": [
        "Автомобиль өткізу пункттері",
        "Жүк көлігіңіздің шекарадан өтуін брондаңыз",
        "Қытай",
        "Нұр Жолы",
        "тәулігіне әр бағытта 650 көлік құралы",
        "Бүгінгі кірулер",
    ],
    "ru": [
        "Автомобильные пункты пропуска",
        "Забронируйте пропуск грузовика через границу",
        "Китай",
        "Нур Жолы",
        "650 автомобилей в сутки в каждом направлении",
        "Посещений сегодня",
    ],
    "en": [
        "Road border checkpoints",
        "Book your truck's passage across the border",
        "China",
        "Nur Zholy",
        "650 vehicles a day each way",
        "Visits today",
    ],
}
FEES = {
    "kk": [
        "Электрондық кезек арқылы өткізу үшін төлем",
        "Жалпы кезек",
        "Кезектен тыс өткізу",
        "Жеделдетілген өткізу",
        "Қайта брондау",
        "Кепілдік жарна",
        "2025 жылғы АЕК (айлық есептік көрсеткіш)",
        "2023 жылғы 25 мамырдағы № 538 бұйрығы",
    ],
    "ru": [
        "Плата за пропуск через электронную очередь",
        "Обычная очередь",
        "Внеочередной пропуск",
        "Ускоренный пропуск",
        "Повторное бронирование",
        "Гарантийный взнос",
        "МРП (месячный расчётный показатель) в 2025 году",
        "от 25 мая 2023 года № 538",
    ],
    "en": [
        "Fees for passage through the electronic queue",
        "Regular queue",
        "Out-of-turn passage",
        "Accelerated passage",
        "Re-booking",
        "Guarantee deposit",
        "MRP (monthly calculation index) in 2025",
        "No. 538 of 25 May 2023",
    ],
}
FAQ_TITLE = {"kk": "Сұрақтар мен жауаптар", "ru": "Вопросы и ответы", "en": "Questions and answers"}


@pytest.fixture
def reference_data(db):
    reference_checkpoints_load()
    fees_in_force_today()


def _page(client, path: str, language: str) -> str:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Language"] == language
    page = response.content.decode()
    assert f'<html lang="{language}">' in page
    return page


def _faq_file(language: str) -> list[dict]:
    return json.loads((FAQ_DIR / f"{language}.json").read_text(encoding="utf-8"))


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_w1_home_page_renders_in_each_language(client, reference_data, language):
    page = _page(client, "/", language)
    for text in HOME[language]:
        assert text in page, text
    # R1: every checkpoint of the reference data that serves freight is listed, in this language.
    checkpoints = Checkpoint.objects.filter(is_active=True, serves_trucks=True)
    assert checkpoints.count() > 30
    for checkpoint in checkpoints:
        assert escape(getattr(checkpoint, f"name_{language}")) in page, checkpoint.code


@pytest.mark.django_db
def test_w1_home_page_in_kazakh_uses_kazakh_checkpoint_names(client, reference_data):
    page = _page(client, "/", "kk")
    for kazakh, russian in [("Нұр Жолы", "Нур Жолы"), ("Қалжат", "Калжат"), ("Қордай", "Кордай")]:
        assert kazakh in page
        assert russian not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "language", "text"),
    [
        ("kk", "kk", "Автомобиль өткізу пункттері"),
        ("ru-RU,ru;q=0.9", "ru", "Автомобильные пункты пропуска"),
        ("en-GB,en;q=0.8", "en", "Road border checkpoints"),
    ],
)
def test_w1_accept_language_selects_the_language(client, reference_data, header, language, text):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=header)
    assert response.status_code == 200
    assert response["Content-Language"] == language
    assert text in response.content.decode()


@pytest.mark.django_db
def test_w1_language_switcher_sets_the_language(client, reference_data):
    page = client.get("/faq/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # The switcher offers every language and posts to set_language.
    assert 'action="/i18n/setlang/"' in page
    for code in LANGUAGES:
        assert f'name="language" value="{code}"' in page

    response = client.post("/i18n/setlang/", {"language": "kk", "next": "/faq/"})
    assert response.status_code == 302
    assert response["Location"] == "/faq/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "kk"
    # The cookie now wins over the browser's Accept-Language.
    page = client.get("/faq/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="kk">' in page
    assert FAQ_TITLE["kk"] in page

    client.post("/i18n/setlang/", {"language": "ru", "next": "/"})
    assert "Автомобильные пункты пропуска" in client.get("/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_w2_faq_page_renders_in_each_language(client, language):
    page = _page(client, "/faq/", language)
    assert f"<title>{FAQ_TITLE[language]} — Kezek</title>" in page
    sections = _faq_file(language)
    for section in sections:
        assert escape(section["title"]) in page
        for item in section["items"]:
            assert escape(item["question"]) in page
            for paragraph in item["answer"]:
                assert escape(paragraph) in page


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_r3_fees_page_renders_in_each_language(client, reference_data, language):
    page = _page(client, "/fees/?date=2025-06-01", language)
    for text in FEES[language]:
        assert text in page, text
    # R2: 2025's MRP is 3 932 ₸; the deposit is 20 MRP = 78 640 ₸ (R3).
    assert "3\u202f932.00 ₸" in page
    assert "78\u202f640.00 ₸" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "bad_date", "missing_mrp"),
    [
        (
            "kk",
            "Күнді ЖЖЖЖ-АА-КК форматында жазыңыз.",
            "{year} жылға арналған АЕК әлі белгіленбеген.",
        ),
        ("ru", "Укажите дату в формате ГГГГ-ММ-ДД.", "МРП на {year} год ещё не установлен."),
        ("en", "Write the date as YYYY-MM-DD.", "The MRP for {year} has not been set yet."),
    ],
)
def test_w1_fees_page_errors_are_translated(
    client, reference_data, language, bad_date, missing_mrp
):
    assert bad_date in _page(client, "/fees/?date=01.06.2025", language)
    # A year whose MRP nobody has entered, whenever the test runs.
    year = clock.local_today().year + 10
    assert missing_mrp.format(year=year) in _page(client, f"/fees/?date={year}-01-01", language)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/faq/", "/fees/?date=2025-06-01"])
def test_w1_pages_have_landmarks_and_no_inline_script_or_style(client, reference_data, path):
    page = _page(client, path, "kk")
    for landmark in ("<header", "<nav", "<main", "<footer"):
        assert landmark in page, landmark
    assert re.search(r"<title>[^<]+ — Kezek</title>", page)
    assert '<a class="skip-link" href="#main">Мазмұнға өту</a>' in page
    # A later Content-Security-Policy allows no inline script or style and no outside host.
    assert "<script" not in page
    assert not re.search(r"\sstyle=", page)
    assert "<style" not in page
    assert not re.search(r"""(src|href)="(https?:)?//""", page)


@pytest.mark.django_db
def test_w1_fees_date_field_is_labelled(client, reference_data):
    page = _page(client, "/fees/", "ru")
    assert '<label for="fees-date">Тарифы на дату</label>' in page
    assert 'id="fees-date"' in page


def test_w2_faq_has_the_same_sections_and_items_in_every_language():
    faqs = {language: _faq_file(language) for language in LANGUAGES}
    shapes = {
        language: [[len(item["answer"]) for item in section["items"]] for section in sections]
        for language, sections in faqs.items()
    }
    assert shapes["kk"] == shapes["ru"] == shapes["en"]
    assert sum(len(section) for section in shapes["en"]) >= 14
    for language, sections in faqs.items():
        for section in sections:
            assert set(section) == {"title", "items"}
            assert section["title"].strip(), language
            for item in section["items"]:
                assert set(item) == {"question", "answer"}
                assert item["question"].strip(), language
                assert item["answer"]
                assert all(paragraph.strip() for paragraph in item["answer"]), item["question"]


def test_w2_faq_translations_keep_the_same_numbers():
    """Every paragraph states the same figures (fees, order numbers, dates, days) in each
    language, so no fact is lost or changed in translation."""
    faqs = {language: _faq_file(language) for language in LANGUAGES}
    for s, section in enumerate(faqs["en"]):
        for i, item in enumerate(section["items"]):
            for p in range(len(item["answer"])):
                numbers = {
                    language: sorted(re.findall(r"\d+", faqs[language][s]["items"][i]["answer"][p]))
                    for language in LANGUAGES
                }
                assert numbers["kk"] == numbers["ru"] == numbers["en"], (s, i, p)


def test_w2_faq_states_the_seed_facts():
    text = " ".join(
        " ".join([item["question"], *item["answer"]])
        for section in _faq_file("en")
        for item in section["items"]
    )
    for fact in [
        "1 January 2024",
        "— 1 MRP",
        "out-of-turn passage* — 100 MRP",
        "accelerated passage* — 100 MRP",
        "re-booking* — 100 MRP",
        "guarantee deposit of 20 MRP",
        "No. 538 of 25 May 2023",
        "Order No. 513 of 19 September 2025",
        "Order No. 707 of 27 June 2023",
        "No. 505 of 17 September 2025",
        "cannot be changed",
        "“Add drivers”",
        "“Reschedule”",
        "90 calendar days",
        "within three working days",
        "certificate of completed work",
        "electronic receipt of the money transferred to the state budget",
        "only one active booking per vehicle is allowed for each country",
        "waiting area",
    ]:
        assert fact in text, fact
    # R3: the deposit is 20 MRP; the seed's stray "100 MRP" deposit and "MCI" are not repeated.
    assert "deposit of 100 MRP" not in text
    assert "MCI" not in text
    assert "video" not in text.lower()


QUOTES = {"en": ("“", "”"), "ru": ("«", "»"), "kk": ("«", "»")}


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_w2_faq_names_the_booking_pages_buttons_as_they_read(language):
    """B4, B5: the FAQ tells people which buttons to press; they must be the pages' own."""
    from django.utils import translation

    text = " ".join(
        paragraph
        for section in _faq_file(language)
        for item in section["items"]
        for paragraph in item["answer"]
    )
    opening, closing = QUOTES[language]
    quoted = set(re.findall(f"{opening}([^{closing}]+){closing}", text))
    with translation.override(language):
        buttons = {
            translation.gettext("Add drivers"),
            translation.gettext("Reschedule"),
            translation.gettext("Reschedule and pay %(amount)s") % {"amount": "…"},
        }
    assert buttons <= quoted
    # Buttons the FAQ once named that no page has.
    with translation.override(language):
        assert translation.gettext("Save") not in quoted
