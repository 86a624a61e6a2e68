"""Public reads cached where the web caches them (core.http_cache): the slots, the board, the fees,
the checkpoint lists and the visit counts say they are public for a few seconds, carry an ETag
made from the version stamps they were read under, and answer 304 to a client that holds the
current one. A change (a booking, an arrival, the clock moving past the booking window, another
language) gives a new ETag; errors and pages are never shared."""

import pytest
from django.utils.cache import get_max_age

from checkpoint_queue import services as queue_services
from tests.worlds import at, book

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

SLOTS = "/api/v1/checkpoints/KORDAI/slots"
BOARD_API = "/api/v1/checkpoints/KORDAI/queue"


@pytest.fixture
def world(world):
    world.top_up("100000000.00")
    return world


def slots(client, **headers):
    query = {"direction": "exit", "date": at(1, 0).date().isoformat()}
    return client.get(SLOTS, query, headers=headers)


def test_c1_slots_are_public_for_a_few_seconds_with_an_etag(client, world, settings):
    settings.PUBLIC_READ_MAX_AGE, settings.PUBLIC_READ_STALE_SECONDS = 3, 7
    response = slots(client)
    assert response.status_code == 200
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert cache_control == {"public", "max-age=3", "stale-while-revalidate=7"}
    assert get_max_age(response) == 3
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')


def test_c1_a_client_holding_the_current_slots_gets_304_without_a_body(client, world):
    first = slots(client)
    again = slots(client, if_none_match=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    assert "public" in again["Cache-Control"]
    # An ETag of something else is answered in full.
    assert slots(client, if_none_match='"something-else"').status_code == 200


def test_c6_a_booking_changes_the_slots_etag(client, world):
    first = slots(client)
    book(world, start=at(1, 9))
    after = slots(client, if_none_match=first["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != first["ETag"]
    by_hour = {row["start"][11:13]: row for row in after.json()["slots"]}
    assert by_hour["09"]["taken"] == 1


def test_c4_the_clock_moving_past_a_slot_changes_the_etag_though_no_row_changed(
    client, world, clock
):
    """`bookable` moves with the clock (the booking window, C4): the ETag says which slots were
    bookable, so a client's copy from before is not confirmed as current."""
    first = slots(client)
    assert slots(client, if_none_match=first["ETag"]).status_code == 304
    clock.move_to(at(1, 12))  # the morning's hours are past now
    later = slots(client, if_none_match=first["ETag"])
    assert later.status_code == 200
    assert later.json()["slots"] != first.json()["slots"]


def test_q4_the_board_etag_changes_with_an_arrival_and_with_the_language(client, world, clock):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser(
        "operator@kezek.kz", None, full_name="Operator", phone="+77020000001"
    )
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 8))
    first = client.get(BOARD_API, headers={"accept_language": "en"})
    assert first.status_code == 200 and "public" in first["Cache-Control"]
    held = {"if_none_match": first["ETag"], "accept_language": "en"}
    assert client.get(BOARD_API, headers=held).status_code == 304
    # The checkpoint's name is in the reader's language: another language, another ETag.
    kazakh = client.get(BOARD_API, headers={**held, "accept_language": "kk"})
    assert kazakh.status_code == 200 and kazakh["ETag"] != first["ETag"]
    assert "Accept-Language" in kazakh["Vary"]
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    after = client.get(BOARD_API, headers=held)
    assert after.status_code == 200 and len(after.json()["waiting"]) == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/fees", "/api/v1/checkpoints", "/api/v1/countries", "/api/v1/stats/visits"]
)
def test_other_public_reads_carry_an_etag_of_their_body_and_answer_304(client, world, path):
    first = client.get(path)
    assert first.status_code == 200
    assert "public" in first["Cache-Control"] and first["ETag"]
    again = client.get(path, headers={"if_none_match": first["ETag"]})
    assert again.status_code == 304 and again.content == b""


def test_errors_refusals_and_pages_are_never_shared(client, world, settings):
    unknown = client.get("/api/v1/checkpoints/NOWHERE/queue")
    bad_date = client.get(SLOTS, {"direction": "exit", "date": "tomorrow"})
    for answer in (unknown, bad_date):
        assert answer.status_code in (400, 404)
        assert "public" not in answer.get("Cache-Control", "")
    # A page carries the visitor's own CSRF token (the language form): never public.
    page = client.get("/board/KORDAI/")
    assert page.status_code == 200 and "public" not in page.get("Cache-Control", "")
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "1/min",
        },
    }
    client.get("/api/v1/countries")
    refused = client.get("/api/v1/countries")
    assert refused.status_code == 429 and "public" not in refused.get("Cache-Control", "")


def test_c1_a_revalidation_is_answered_from_the_stamp_before_the_body_is_made(
    client, world, monkeypatch
):
    """The proxy revalidates its copy every few seconds: when nothing changed the portal says
    304 from the version stamps without serializing the grid or the board again."""
    from checkpoint_queue import api as queue_api
    from checkpoints import api

    first_slots, first_board = slots(client), client.get(BOARD_API)
    made = []
    for module, name in ((api, "DayGridOutput"), (queue_api, "BoardOutput")):
        real = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *a, real=real, **k: made.append(real) or real(*a, **k)
        )
    assert slots(client, if_none_match=first_slots["ETag"]).status_code == 304
    assert client.get(BOARD_API, headers={"if_none_match": first_board["ETag"]}).status_code == 304
    assert made == []
    assert slots(client).status_code == 200 and len(made) == 1
