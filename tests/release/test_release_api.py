"""Fair release over the API and on the public page (F2, F6): request, list, change,
withdraw, result with the rank; the draw's document and page, in kk, ru and en."""

import pytest
from django.test import Client

from auth2fa.models import ApiToken
from auth2fa.services import api_token_issue
from release import services
from release.draw import carrier_hash
from tests.release.helpers import CLOSES, DAY
from tests.worlds import trucks

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, world):
    secret = api_token_issue(user=world.member.user, kind=ApiToken.Kind.PERSONAL).secret

    def call(method, path, data=None):
        return getattr(client, method)(
            f"/api/v1/release/{path}",
            data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )

    return call


def body(world, truck, **extra):
    return {
        "checkpoint": "KORDAI",
        "direction": "exit",
        "day": DAY.isoformat(),
        "service": "regular",
        "vehicle": truck.pk,
        "drivers": [world.drivers[0].pk],
        **extra,
    }


def test_f2_requests_over_the_api_create_list_change_withdraw(world, draw_window, api):
    window = draw_window()
    world.top_up("1000000.00")
    first, second = trucks(world, 2)
    made = api("post", "requests", body(world, first, hours=[10, 9]))
    assert made.status_code == 201, made.content
    answer = made.json()
    assert answer["status"] == "live" and answer["hours"] == [10, 9] and answer["rank"] is None
    assert answer["window"]["commitment"] == window.commitment
    ranged = api("post", "requests", body(world, second, hours_from=9, hours_to=10))
    assert ranged.status_code == 201 and ranged.json()["hours"] == [9, 10]
    assert len(api("get", "requests").json()["results"]) == 2
    changed = api("put", f"requests/{answer['id']}", body(world, first, hours=[9]))
    assert changed.status_code == 200 and changed.json()["hours"] == [9]
    withdrawn = api("post", f"requests/{ranged.json()['id']}/withdraw")
    assert withdrawn.json()["status"] == "withdrawn"


def test_f2_the_post_answers_what_a_later_get_of_the_request_answers(world, draw_window, api):
    """The answer to a placed request is made from the request just written, without reading it
    again: it must still be exactly what reading it gives (a trailer included)."""
    draw_window()
    world.top_up("1000000.00")
    (truck,) = trucks(world, 1)
    made = api("post", "requests", body(world, truck, hours=[10, 9], trailer=world.trailer.pk))
    assert made.status_code == 201, made.content
    assert made.json()["trailer"]["vin"] == world.trailer.vin
    assert api("get", f"requests/{made.json()['id']}").json() == made.json()


def test_f2_a_request_outside_any_window_is_refused_in_the_error_shape(world, draw_window, api):
    draw_window()
    world.top_up("1000000.00")
    refused = api("post", "requests", body(world, world.truck, day="2026-03-25", hours=[9]))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "no_release_window"


def test_f6_result_rank_and_public_draw(world, draw_window, api, clock):
    window = draw_window()
    world.top_up("1000000.00")
    ids = [
        api("post", "requests", body(world, truck, hours=[9, 10])).json()["id"]
        for truck in trucks(world, 3)
    ]
    before = Client().get(f"/api/v1/release/draws/{window.pk}").json()
    assert before["commitment"] == window.commitment and "secret" not in before
    clock.move_to(CLOSES)
    services.window_draw(window_id=window.pk)
    mine = [api("get", f"requests/{pk}").json() for pk in ids]
    assert sorted(r["status"] for r in mine) == ["unsuccessful", "won", "won"]
    public = Client().get(f"/api/v1/release/draws/{window.pk}").json()
    assert (
        public["request_count"] == 3
        and public["secret"] == window.__class__.objects.get(pk=window.pk).secret
    )
    by_id = {r["id"]: r for r in public["requests"]}
    for request in mine:
        assert by_id[request["id"]]["rank"] == request["rank"]
        # Only the carrier, holding the salt, can tell the request is its own.
        assert by_id[request["id"]]["carrier"] == carrier_hash(request["id"], request["salt"])
        assert request["carrier_hash"] == by_id[request["id"]]["carrier"]
    won = [r for r in mine if r["status"] == "won"]
    assert all(r["booking"]["number"].startswith("K-") for r in won)


@pytest.mark.parametrize(
    ("language", "verified"),
    [
        ("en", "the draw matches"),
        ("ru", "жеребьёвка совпадает"),
        ("kk", "жеребе сәйкес келеді"),
    ],
)
def test_f6_the_public_draw_page_says_whether_the_draw_checks_out(
    world, draw_window, clock, language, verified
):
    window = draw_window()
    world.top_up("1000000.00")
    for truck in trucks(world, 2):
        services.request_create(
            member=world.member,
            data=services.RequestInput(
                checkpoint_code="KORDAI",
                direction="exit",
                day=DAY,
                service="regular",
                hours=[9],
                vehicle_id=truck.pk,
                trailer_id=None,
                driver_ids=[world.drivers[0].pk],
            ),
        )
    clock.move_to(CLOSES)
    services.window_draw(window_id=window.pk)
    page = Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/draws/{window.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert window.commitment in text and f'lang="{language}"' in text
    assert verified in text
