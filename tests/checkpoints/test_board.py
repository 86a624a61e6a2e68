"""The live board (Q4): GET /api/v1/checkpoints/{code}/queue and the public page /board/<code>/
— waiting vehicles in call order (Q2) with masked plates, vehicles called, free places in the
next hours, average wait today; a bounded number of queries whatever the queue's length."""

import datetime as dt
import re

import pytest

from bookings import services
from checkpoint_queue import services as queue_services
from tests.worlds import at, book, trucks
from vehicles import services as fleet

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

API = "/api/v1/checkpoints/KORDAI/queue"
PAGE = "/board/KORDAI/"


@pytest.fixture
def queue(world, staff, clock):
    """Tomorrow at 10:00 at KORDAI, exit: the truck 123ABC02 arrived at 08:00 and was called at
    09:30 (wait 90 min); an accelerated and two regular trucks wait; one entry truck waits."""
    world.top_up("100000000.00")
    fast, regular_a, regular_b, entering = trucks(world, 4)
    first = book(world, start=at(1, 9))
    b_fast = book(world, vehicle=fast, start=at(1, 11), service="accelerated")
    b_regular_a = book(world, vehicle=regular_a, start=at(1, 9))
    b_regular_b = book(world, vehicle=regular_b, start=at(1, 10))
    b_entry = services.booking_create(
        member=world.member,
        request=services.BookingRequest(
            checkpoint_code="KORDAI",
            direction="entry",
            service="regular",
            slot_start=at(1, 10),
            vehicle_id=entering.pk,
            trailer_id=None,
            driver_ids=[world.drivers[1].pk],
        ),
    )
    clock.move_to(at(1, 8))
    queue_services.booking_mark_arrived(booking=first, actor=staff)
    clock.move_to(at(1, 9) + dt.timedelta(minutes=10))
    for booking in (b_regular_b, b_fast, b_regular_a, b_entry):
        queue_services.booking_mark_arrived(booking=booking, actor=staff)
    clock.move_to(at(1, 9) + dt.timedelta(minutes=30))
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    clock.move_to(at(1, 10))
    return {"first": first, "fast": b_fast, "a": b_regular_a, "b": b_regular_b, "entry": b_entry}


def test_q4_queue_api_shape_masked_plates_positions_and_average_wait(client, queue):
    response = client.get(API)
    assert response.status_code == 200
    board = response.json()
    assert {"checkpoint", "updated_at", "waiting", "called", "average_wait_minutes"} <= set(board)
    assert board["checkpoint"] == "KORDAI"
    assert board["updated_at"] == "2026-03-21T10:00:00+05:00"

    exit_waiting = [row for row in board["waiting"] if row["direction"] == "exit"]
    assert [(row["position"], row["plate_masked"], row["service"]) for row in exit_waiting] == [
        (1, "3** **Q 02", "accelerated"),
        (2, "3** **Q 02", "regular"),
        (3, "3** **Q 02", "regular"),
    ]
    assert [row["slot_start"] for row in exit_waiting] == [
        "2026-03-21T11:00:00+05:00",
        "2026-03-21T09:00:00+05:00",
        "2026-03-21T10:00:00+05:00",
    ]
    assert set(exit_waiting[0]) >= {"position", "plate_masked", "service", "slot_start", "status"}
    assert {row["status"] for row in board["waiting"]} == {"arrived"}
    entry_waiting = [row for row in board["waiting"] if row["direction"] == "entry"]
    assert [row["position"] for row in entry_waiting] == [1]

    (called,) = board["called"]
    assert called["plate_masked"] == "1** **C 02"
    assert called["status"] == "called"
    assert called["called_at"] == "2026-03-21T09:30:00+05:00"
    assert board["average_wait_minutes"] == 90

    # No full plate, VIN, number or carrier anywhere on the public board.
    text = response.content.decode()
    for secret in ("123ABC02", "300QQQ02", "XTA2109901", "K-000", "Steppe"):
        assert secret not in text


def test_q4_free_places_in_the_next_bookable_hours(client, world, queue):
    truck = fleet.vehicle_register(
        member=world.member,
        plate="777ZZZ01",
        vin="XTA21099077777777",
        kind="truck",
        registration_country="KZ",
    )
    book(world, vehicle=truck, start=at(1, 12))
    board = client.get(API).json()
    exit_hours = [row for row in board["free_places"] if row["direction"] == "exit"]
    # Now 10:00: bookable from 11:00 (C4), six hours.
    assert [row["start"][11:16] for row in exit_hours] == [
        "11:00",
        "12:00",
        "13:00",
        "14:00",
        "15:00",
        "16:00",
    ]
    # KORDAI: 400 a day each way, 376 regular after the quotas (C2): 16 an hour from 00:00 to
    # 15:00, 15 after (C1). The booking at 12:00 took one; the accelerated one at 11:00 took
    # its place from the day's quota, not from the hour.
    assert [row["free"] for row in exit_hours] == [16, 15, 16, 16, 16, 15]
    assert not any(row["closed"] for row in board["free_places"])
    entry_hours = [row for row in board["free_places"] if row["direction"] == "entry"]
    assert [row["free"] for row in entry_hours] == [16, 16, 16, 16, 16, 15]


def test_q4_average_wait_is_null_before_the_first_call_of_the_day(client, world):
    board = client.get(API).json()
    assert board["waiting"] == [] and board["called"] == []
    assert board["average_wait_minutes"] is None


def test_q4_called_shows_the_last_two_hours_and_says_crossed(client, queue, staff, clock):
    queue_services.booking_mark_crossed(booking=queue["first"], actor=staff)
    (called,) = client.get(API).json()["called"]
    assert called["status"] == "crossed"
    clock.move_to(at(1, 11) + dt.timedelta(minutes=31))
    board = client.get(API).json()
    assert board["called"] == []
    assert board["average_wait_minutes"] == 90  # still today


def test_q4_unknown_checkpoint_is_404_in_the_error_shape(client, world):
    response = client.get("/api/v1/checkpoints/NOWHERE/queue")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get("/board/NOWHERE/").status_code == 404


def test_q4_queries_do_not_grow_with_the_queue(
    client, world, staff, clock, django_assert_max_num_queries
):
    world.top_up("100000000.00")
    many = trucks(world, 12)
    bookings = [book(world, vehicle=truck, start=at(1, 9)) for truck in many]
    clock.move_to(at(1, 9))
    for booking in bookings:
        queue_services.booking_mark_arrived(booking=booking, actor=staff)
    queue_services.queue_call_next(
        checkpoint=world.checkpoint, direction="exit", actor=staff, count=5
    )
    # The board's five, and two for the pace of calls of its predictions (Q6).
    with django_assert_max_num_queries(9):
        board = client.get(API).json()
    assert len(board["waiting"]) == 7 and len(board["called"]) == 5
    with django_assert_max_num_queries(10):
        assert client.get(PAGE).status_code == 200


def test_q4_board_page_is_public_large_and_refreshes_itself(client, queue):
    response = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    text = re.sub(r"\s+", " ", page)
    assert "Live queue: Kordai" in text or "Live queue: " in text
    assert "Exit from Kazakhstan" in text and "Entry into Kazakhstan" in text
    assert "3** **Q 02" in text and "1** **C 02" in text
    assert "123 ABC 02" not in text and "123ABC02" not in text
    assert "90 min" in text
    assert "Updated" in text and ">10:00<" in text
    # Refreshes itself every 30 s with a static script, or without script by the meta refresh;
    # no inline script or style (CSP).
    assert '<script src="/static/js/live-refresh.js" defer></script>' in page
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in page
    assert 'data-refresh-seconds="30"' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert not re.search(r"\sstyle=", page) and "<style" not in page


def test_q4_home_page_links_every_checkpoint_to_its_live_board(client, world):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/board/KORDAI/"' in page
    assert page.count('class="live-link"') == page.count('class="checkpoint-name"')


def test_w1_board_has_the_language_switch_and_answers_in_the_chosen_language(client, world):
    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/i18n/setlang/"' in page
    assert '<input name="next" type="hidden" value="/board/KORDAI/">' in page
    for code in ("kk", "ru", "en"):
        assert f'name="language" value="{code}"' in page
    assert re.search(r'value="en" lang="en"\s+aria-current="true" class="current"', page)

    response = client.post("/i18n/setlang/", {"language": "ru", "next": PAGE})
    assert response.status_code == 302 and response["Location"] == PAGE
    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="ru">' in page
    assert "Обновлено" in page


def test_w3_board_counts_the_visit_and_shows_the_visit_statistics(client, world):
    from core import visits

    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert visits.stats()["day"] == 1
    text = re.sub(r"\s+", " ", page)
    assert "Visits today" in text and "This month" in text and "In all" in text
    # The board read after the first visit shows it.
    again = re.sub(r"\s+", " ", client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert "<dt>Visits today</dt><dd>1</dd>" in again
