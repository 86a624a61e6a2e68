import datetime as dt

import pytest
import time_machine

from core import visits
from core.models import VisitDay

pytestmark = pytest.mark.django_db


def test_w3_first_page_of_the_day_counts_a_visit_and_the_cookie_stops_recounting(client):
    assert client.get("/").status_code == 200
    assert visits.stats()["day"] == 1
    client.get("/faq/")
    client.get("/")
    assert visits.stats() == {"day": 1, "month": 1, "total": 1}
    from core import clock

    assert client.cookies[visits.COOKIE].value == clock.local_today().isoformat()


def test_w3_each_new_visitor_counts(client, django_user_model):
    from django.test import Client

    for _ in range(3):
        Client().get("/")
    assert visits.stats()["day"] == 3


def test_w3_api_static_and_errors_do_not_count(client):
    client.get("/api/v1/countries")
    client.get("/no-such-page/")
    client.get("/admin/login/")
    assert visits.stats()["total"] == 0


def test_w3_counting_writes_nothing_to_the_database(client, django_assert_num_queries):
    client.get("/")  # warm the footer's cached totals
    from django.test import Client

    with django_assert_num_queries(1):  # the home page's checkpoint list, nothing for the count
        Client().get("/")
    assert VisitDay.objects.count() == 0
    assert visits.stats()["day"] == 2


def test_w3_flush_moves_counts_into_the_database_once(client):
    from django.test import Client

    for _ in range(4):
        Client().get("/")
    assert visits.flush_pending() == 4
    assert visits.flush_pending() == 0
    assert VisitDay.objects.get().visits == 4
    assert visits.stats() == {"day": 4, "month": 4, "total": 4}


def test_w3_day_month_and_total_across_days():
    with time_machine.travel(dt.datetime(2026, 10, 31, 12, tzinfo=dt.UTC), tick=False):
        for _ in range(5):
            visits.count_visit(dt.date(2026, 10, 31))
        visits.flush_pending()
    with time_machine.travel(dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC), tick=False):
        for _ in range(2):
            visits.count_visit(dt.date(2026, 11, 1))
        visits.count_visit(dt.date(2026, 11, 2))
        assert visits.stats() == {"day": 1, "month": 3, "total": 8}
        visits.flush_pending()
        assert visits.stats() == {"day": 1, "month": 3, "total": 8}
    assert dict(VisitDay.objects.values_list("date", "visits")) == {
        dt.date(2026, 10, 31): 5,
        dt.date(2026, 11, 1): 2,
        dt.date(2026, 11, 2): 1,
    }


def test_w3_footer_and_api_show_the_counters(client):
    from django.test import Client

    for _ in range(2):
        Client().get("/")
    response = client.get("/api/v1/stats/visits")
    assert response.json() == {"day": 2, "month": 2, "total": 2}
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Visits today" in page


@pytest.mark.redis
def test_w3_counts_are_atomic_on_redis(settings):
    """Many threads counting at once on Redis lose nothing (INCR is atomic there)."""
    import threading
    import uuid

    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4()}",
        }
    }
    day = dt.date(2026, 11, 25)

    def count_many():
        for _ in range(50):
            visits.count_visit(day)

    threads = [threading.Thread(target=count_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert caches["default"].get(f"visits:pending:{day.isoformat()}") == 400
