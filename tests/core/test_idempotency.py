"""Idempotency keys (API.md "Conventions"; core.idempotency): the first answer is stored and
replayed for 24 h, another request with the key gets 422, a concurrent duplicate 409, and the view
that moves money runs once.

A small view mounted here "moves money" by adding one to a counter row on every run, so the
tests can count how many times it really ran."""

import datetime as dt
import json
import threading
import time
import uuid

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import OperationalError, connections, transaction
from django.db.models import F
from django.test import Client, RequestFactory
from django.test.client import encode_multipart
from django.urls import path
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth2fa.models import ApiToken, User
from auth2fa.services import api_token_issue
from core import clock, idempotency
from core.errors import ApplicationError
from core.idempotency import idempotent
from core.models import IdempotencyRecord, VisitDay
from core.tasks import purge_idempotency_keys

COUNTER_DAY = dt.date(2000, 1, 1)  # the counter row: VisitDay of a day no visit will ever touch
PAY = "/api/v1/test/idem/pay"


def _runs() -> int:
    return VisitDay.objects.get(date=COUNTER_DAY).visits


class Payment(APIView):
    """One run = one payment. The body says how it ends: `amount` paid (201 with Location),
    "refuse" (409 insufficient_funds), "crash" (500), "busy" (503); `sleep` seconds first."""

    permission_classes = [IsAuthenticated]

    def post(self, request):
        time.sleep(float(request.data.get("sleep", 0)))
        with transaction.atomic():
            VisitDay.objects.filter(date=COUNTER_DAY).update(visits=F("visits") + 1)
            run = _runs()
        amount = request.data.get("amount")
        if amount == "refuse":
            raise ApplicationError(
                "insufficient_funds",
                "Not enough money in the personal account.",
                status=409,
                fields={"required": "4325.00", "available": "100.00"},
            )
        if amount == "crash":
            raise RuntimeError("the bank link went down")
        if amount == "busy":
            raise OperationalError("database is locked")
        return Response(
            {"payment": run, "amount": amount, "by": getattr(request.user, "email", None)},
            status=201,
            headers={"Location": f"/api/v1/test/idem/payments/{run}"},
        )


class IdempotentPayment(Payment):
    @idempotent
    def post(self, request):
        return super().post(request)


class OpenIdempotentPayment(IdempotentPayment):
    """A view open to anyone, to show that a key still needs a signed-in person."""

    permission_classes = [AllowAny]


class ReadsTheBody(IsAuthenticated):
    def has_permission(self, request, view):
        request.data  # noqa: B018 (the body parsed before the view's method runs)
        return super().has_permission(request, view)


class BodyReadFirstPayment(IdempotentPayment):
    permission_classes = [ReadsTheBody]


urlpatterns = [
    path("api/v1/test/idem/pay", IdempotentPayment.as_view()),
    path("api/v1/test/idem/read-first", BodyReadFirstPayment.as_view()),
    path("api/v1/test/idem/other", IdempotentPayment.as_view()),
    path("api/v1/test/idem/open", OpenIdempotentPayment.as_view()),
    path("api/v1/test/idem/unprotected", Payment.as_view()),
]


@pytest.fixture
def counter():
    VisitDay.objects.create(date=COUNTER_DAY, visits=0)


def _person(email: str) -> str:
    user = User.objects.create_user(email, "secret", full_name=email.split("@")[0])
    return api_token_issue(user=user, kind=ApiToken.Kind.PERSONAL, name="test").secret


@pytest.fixture
def token(counter):
    return _person("aigerim@steppe.kz")


def pay(client, token, body, key=None, url=PAY):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if key is not None:
        headers[idempotency.HEADER] = key
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", headers=headers)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["code"] == code
    assert error["message"]
    return error


# --- Over SQLite and PostgreSQL -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls(__name__)
class TestIdempotencyKeys:
    def test_the_same_key_and_body_replay_the_first_answer_and_the_view_runs_once(
        self, client, token
    ):
        first = pay(client, token, {"amount": "4325.00"}, key="k-1")
        assert first.status_code == 201
        assert idempotency.REPLAYED_HEADER not in first
        again = pay(client, token, {"amount": "4325.00"}, key="k-1")
        assert again.status_code == 201
        assert (
            again.json()
            == first.json()
            == {
                "payment": 1,
                "amount": "4325.00",
                "by": "aigerim@steppe.kz",
            }
        )
        assert again[idempotency.REPLAYED_HEADER] == "true"
        assert again["Location"] == first["Location"] == "/api/v1/test/idem/payments/1"
        assert _runs() == 1
        record = IdempotencyRecord.objects.get()
        assert record.status == IdempotencyRecord.Status.DONE
        assert (record.method, record.path, record.response_status) == ("POST", PAY, 201)
        assert record.expires_at - record.created_at == dt.timedelta(hours=24)

    def test_without_the_header_the_view_runs_every_time(self, client, token):
        assert pay(client, token, {"amount": "1.00"}).status_code == 201
        assert pay(client, token, {"amount": "1.00"}).json()["payment"] == 2
        assert not IdempotencyRecord.objects.exists()

    def test_the_same_key_with_another_body_is_422_and_the_view_does_not_run(self, client, token):
        pay(client, token, {"amount": "4325.00"}, key="k-1")
        error = assert_error(
            pay(client, token, {"amount": "8650.00"}, key="k-1"), 422, "idempotency_key_reused"
        )
        assert error["fields"] == {}
        assert _runs() == 1

    def test_the_same_key_on_another_route_is_another_request(self, client, token):
        """Keys belong to the person, not to a route (Stripe): the route is in the fingerprint."""
        pay(client, token, {"amount": "1.00"}, key="k-1")
        response = pay(client, token, {"amount": "1.00"}, key="k-1", url="/api/v1/test/idem/other")
        assert_error(response, 422, "idempotency_key_reused")
        assert _runs() == 1

    def test_json_key_order_and_whitespace_do_not_change_the_request(self, client, token):
        pay(client, token, '{"amount": "1.00", "note": {"x": 1, "y": [1, 2]}}', key="k-1")
        again = pay(client, token, '{"note":{"y":[1,2],"x":1},\n  "amount":"1.00"}', key="k-1")
        assert again.status_code == 201
        assert again[idempotency.REPLAYED_HEADER] == "true"
        assert _runs() == 1

    def test_a_body_already_parsed_before_the_view_is_fingerprinted_as_parsed(self, client, token):
        url = "/api/v1/test/idem/read-first"
        pay(client, token, '{"amount": "1.00", "note": "a"}', key="k-1", url=url)
        again = pay(client, token, '{"note": "a", "amount": "1.00"}', key="k-1", url=url)
        assert again[idempotency.REPLAYED_HEADER] == "true"
        other = pay(client, token, {"amount": "2.00", "note": "a"}, key="k-1", url=url)
        assert_error(other, 422, "idempotency_key_reused")
        assert _runs() == 1

    def test_multipart_is_fingerprinted_by_its_fields_and_files(self, client, token):
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
        form = {"amount": "1.00", "statement": SimpleUploadedFile("a.csv", b"1;2")}
        assert client.post(PAY, data=form, headers=headers).status_code == 201
        form["statement"].seek(0)
        assert client.post(PAY, data=form, headers=headers)[idempotency.REPLAYED_HEADER] == "true"
        form["statement"] = SimpleUploadedFile("a.csv", b"1;3")
        assert_error(client.post(PAY, data=form, headers=headers), 422, "idempotency_key_reused")
        assert _runs() == 1

    def test_a_key_expires_after_24_hours_and_then_runs_again(self, client, token):
        with time_machine.travel(clock.now(), tick=False) as traveller:
            pay(client, token, {"amount": "1.00"}, key="k-1")
            traveller.shift(dt.timedelta(hours=23, minutes=59))
            assert pay(client, token, {"amount": "1.00"}, key="k-1")[idempotency.REPLAYED_HEADER]
            traveller.shift(dt.timedelta(minutes=1))
            again = pay(client, token, {"amount": "1.00"}, key="k-1")
            assert again.status_code == 201
            assert idempotency.REPLAYED_HEADER not in again
            assert again.json()["payment"] == 2
            # The expired row was replaced: the new request is the one that counts now.
            traveller.shift(dt.timedelta(hours=24, seconds=1))
            other = pay(client, token, {"amount": "2.00"}, key="k-1")
            assert other.status_code == 201
            assert other.json()["payment"] == 3
        assert IdempotencyRecord.objects.count() == 1

    def test_two_people_may_use_the_same_key_independently(self, client, token):
        other = _person("nurlan@steppe.kz")
        first = pay(client, token, {"amount": "1.00"}, key="shared")
        second = pay(client, other, {"amount": "1.00"}, key="shared")
        assert (first.status_code, second.status_code) == (201, 201)
        assert idempotency.REPLAYED_HEADER not in second
        assert second.json()["by"] == "nurlan@steppe.kz"
        assert _runs() == 2
        assert pay(client, other, {"amount": "1.00"}, key="shared").json() == second.json()
        assert IdempotencyRecord.objects.count() == 2

    def test_a_refusal_is_stored_and_replayed(self, client, token):
        first = pay(client, token, {"amount": "refuse"}, key="k-1")
        error = assert_error(first, 409, "insufficient_funds")
        assert error["fields"] == {"required": "4325.00", "available": "100.00"}
        again = pay(client, token, {"amount": "refuse"}, key="k-1")
        assert again.status_code == 409
        assert again.json() == first.json()
        assert again[idempotency.REPLAYED_HEADER] == "true"
        assert _runs() == 1

    def test_a_server_error_is_not_stored_and_a_retry_runs_the_view(self, client, token):
        client.raise_request_exception = False
        assert_error(pay(client, token, {"amount": "crash"}, key="k-1"), 500, "server_error")
        assert not IdempotencyRecord.objects.exists()
        assert_error(pay(client, token, {"amount": "crash"}, key="k-1"), 500, "server_error")
        assert _runs() == 2
        # The key is free again: the client's corrected retry runs and is then stored.
        assert pay(client, token, {"amount": "1.00"}, key="k-1").json()["payment"] == 3
        assert IdempotencyRecord.objects.get().status == IdempotencyRecord.Status.DONE

    def test_503_busy_is_not_stored_and_a_retry_runs_the_view(self, client, token):
        busy = pay(client, token, {"amount": "busy"}, key="k-1")
        assert_error(busy, 503, "busy")
        assert int(busy["Retry-After"]) > 0
        assert not IdempotencyRecord.objects.exists()
        retry = pay(client, token, {"amount": "busy"}, key="k-1")
        assert idempotency.REPLAYED_HEADER not in retry
        assert _runs() == 2

    @pytest.mark.parametrize("length", [1, 255])
    def test_a_key_of_1_to_255_characters_is_accepted(self, client, token, length):
        assert pay(client, token, {"amount": "1.00"}, key="k" * length).status_code == 201
        assert IdempotencyRecord.objects.get().key == "k" * length

    @pytest.mark.parametrize("key", ["k" * 256, ""])
    def test_a_key_too_long_or_empty_is_400_and_the_view_does_not_run(self, client, token, key):
        error = assert_error(
            pay(client, token, {"amount": "1.00"}, key=key), 400, "validation_error"
        )
        assert list(error["fields"]) == ["Idempotency-Key"]
        assert "255" in error["fields"]["Idempotency-Key"][0]
        assert _runs() == 0
        assert not IdempotencyRecord.objects.exists()

    def test_messages_follow_the_persons_language(self, client, token):
        response = client.post(
            PAY,
            data={"amount": "1.00"},
            content_type="application/json",
            headers={
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": "k" * 256,
                "Accept-Language": "en",
            },
        )
        message = assert_error(response, 400, "validation_error")["message"]
        assert message == "The Idempotency-Key header must be from 1 to 255 characters long."

    def test_an_anonymous_request_with_a_key_is_401_even_where_anyone_may_post(self, client, token):
        url = "/api/v1/test/idem/open"
        response = pay(client, None, {"amount": "1.00"}, key="k-1", url=url)
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Bearer"
        assert _runs() == 0
        # Without a key the open view runs as usual; on a closed view 401 comes first anyway.
        assert pay(client, None, {"amount": "1.00"}, url=url).status_code == 201
        assert_error(pay(client, None, {"amount": "1.00"}, key="k-1"), 401, "not_authenticated")

    def test_a_duplicate_while_the_first_is_running_is_409_with_retry_after(self, client, token):
        first = pay(client, token, {"amount": "1.00"}, key="k-1")
        IdempotencyRecord.objects.update(status=IdempotencyRecord.Status.IN_PROGRESS)
        busy = pay(client, token, {"amount": "1.00"}, key="k-1")
        assert_error(busy, 409, "request_in_progress")
        assert int(busy["Retry-After"]) >= 1
        # Another body is still another request, running or not.
        assert_error(
            pay(client, token, {"amount": "2.00"}, key="k-1"), 422, "idempotency_key_reused"
        )
        assert _runs() == 1
        assert first.status_code == 201

    def test_a_row_left_in_progress_by_a_dead_worker_is_taken_over_after_60_s(
        self, client, token, monkeypatch
    ):
        with time_machine.travel(clock.now(), tick=False) as traveller:
            # The worker runs the view, then dies before it can store the answer.
            with monkeypatch.context() as patch:
                patch.setattr(idempotency, "_store", lambda claim, response: None)
                pay(client, token, {"amount": "1.00"}, key="k-1")
            traveller.shift(dt.timedelta(seconds=59))
            assert_error(
                pay(client, token, {"amount": "1.00"}, key="k-1"), 409, "request_in_progress"
            )
            traveller.shift(dt.timedelta(seconds=1))
            # Another body does not get a stale key: it is still bound to the first request.
            assert_error(
                pay(client, token, {"amount": "2.00"}, key="k-1"), 422, "idempotency_key_reused"
            )
            retry = pay(client, token, {"amount": "1.00"}, key="k-1")
            assert retry.status_code == 201
            assert idempotency.REPLAYED_HEADER not in retry
            # The documented price: the dead worker's run had committed, so this is a second run.
            assert _runs() == 2
            assert pay(client, token, {"amount": "1.00"}, key="k-1").json()["payment"] == 2

    def test_a_late_worker_cannot_overwrite_the_answer_of_the_one_that_took_over(self, token):
        user = User.objects.get(email="aigerim@steppe.kz")
        claim = dict(user=user, key="k-1", fingerprint="f" * 64, method="POST", path=PAY)
        with time_machine.travel(clock.now(), tick=False) as traveller:
            late = idempotency._claim_or_answer(**claim)
            traveller.shift(idempotency.STALE_AFTER)
            current = idempotency._claim_or_answer(**claim)
            assert current.pk == late.pk and current.claim != late.claim
            idempotency._store(current, Response({"by": "new owner"}, status=201))
            idempotency._store(late, Response({"by": "late worker"}, status=201))
            idempotency._store(late, Response({"by": "late worker"}, status=500))  # no delete
        record = IdempotencyRecord.objects.get()
        assert record.response_body == {"by": "new owner"}

    def test_the_key_row_is_never_inserted_inside_a_callers_transaction(self, client, token):
        """Its own short transaction, or the row would stay invisible to a duplicate (and the
        view would run inside the caller's transaction): refused loudly, the view not run."""
        client.raise_request_exception = False
        with transaction.atomic():
            response = pay(client, token, {"amount": "1.00"}, key="k-1")
        assert_error(response, 500, "server_error")
        assert _runs() == 0

    def test_the_header_is_in_the_api_schema(self, client):
        from drf_spectacular.generators import SchemaGenerator

        schema = SchemaGenerator(patterns=urlpatterns).get_schema(request=None, public=True)
        parameters = schema["paths"]["/api/v1/test/idem/pay"]["post"]["parameters"]
        assert {"in": "header", "name": "Idempotency-Key"}.items() <= parameters[0].items()
        assert "parameters" not in schema["paths"]["/api/v1/test/idem/unprotected"]["post"]


# --- The fingerprint -----------------------------------------------------------------------------


def _fingerprint(body, *, content_type="application/json", path="/api/v1/pay"):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return idempotency.request_fingerprint(
        RequestFactory().post(path, data=data, content_type=content_type)
    )


def test_fingerprint_ignores_json_key_order_and_whitespace():
    assert _fingerprint('{"a": 1, "b": {"c": [1, 2], "d": "é"}}') == _fingerprint(
        '{"b":{"d":"\\u00e9","c":[1,2]},\n "a":1}'
    )
    assert _fingerprint({"a": 1}) == _fingerprint(
        {"a": 1}, content_type="application/json; charset=utf-8"
    )


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"amount": "1.00"}, {"amount": "1.01"}),
        ({"amount": "1.00"}, {"amount": "1.00", "iban": "KZ"}),
        ({"drivers": [1, 2]}, {"drivers": [2, 1]}),  # arrays keep their order
        ({"a": 1}, {"a": "1"}),
    ],
)
def test_fingerprint_differs_for_another_json_body(one, other):
    assert _fingerprint(one) != _fingerprint(other)


def test_fingerprint_covers_method_path_and_query():
    body = {"amount": "1.00"}
    assert _fingerprint(body) != _fingerprint(body, path="/api/v1/other")
    assert _fingerprint(body) != _fingerprint(body, path="/api/v1/pay?to=2")
    assert _fingerprint(body, path="/api/v1/pay?a=1&b=2") == _fingerprint(
        body, path="/api/v1/pay?b=2&a=1"
    )
    put = RequestFactory().put(
        "/api/v1/pay", data=json.dumps(body), content_type="application/json"
    )
    assert idempotency.request_fingerprint(put) != _fingerprint(body)


def test_fingerprint_of_multipart_does_not_depend_on_the_boundary():
    def multipart(boundary: str, content: bytes) -> str:
        data = {"amount": "1.00", "file": SimpleUploadedFile("s.xml", content)}
        return _fingerprint(
            encode_multipart(boundary, data),
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    assert multipart("one", b"<x/>") == multipart("another", b"<x/>")
    assert multipart("one", b"<x/>") != multipart("one", b"<y/>")


class PlainTextParser(BaseParser):
    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read().decode()


def test_fingerprint_of_a_body_a_parser_read_from_the_stream_is_what_it_parsed():
    """Such a parser leaves no raw body behind (Django refuses `request.body` then)."""

    def parsed(text: str) -> str:
        django_request = RequestFactory().post("/api/v1/pay", data=text, content_type="text/plain")
        request = Request(django_request, parsers=[PlainTextParser()])
        assert request.data == text
        return idempotency.request_fingerprint(request)

    assert parsed("pay 1.00") == parsed("pay 1.00")
    assert parsed("pay 1.00") != parsed("pay 2.00")


def test_fingerprint_of_other_bodies_is_their_raw_bytes():
    assert _fingerprint(b"a=1&b=2", content_type="text/plain") != _fingerprint(
        b"b=2&a=1", content_type="text/plain"
    )
    assert _fingerprint(b"x", content_type="text/plain") != _fingerprint(
        b"x", content_type="text/csv"
    )
    # Broken JSON is identified by its bytes (the view refuses it; the refusal is replayed).
    assert _fingerprint(b"{broken") != _fingerprint(b"{broken ")
    assert len(_fingerprint(b"")) == 64


# --- Clean-up ------------------------------------------------------------------------------------


def _record(user, key: str, *, created_at: dt.datetime) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        user=user,
        key=key,
        method="POST",
        path=PAY,
        request_fingerprint="0" * 64,
        claim=uuid.uuid4(),
        status=IdempotencyRecord.Status.DONE,
        response_status=201,
        response_body={},
        created_at=created_at,
        expires_at=created_at + idempotency.TTL,
    )


@pytest.fixture
def aged_keys():
    user = User.objects.create_user("aigerim@steppe.kz", "secret", full_name="Aigerim")
    now = clock.now()
    return [
        _record(user, "old", created_at=now - dt.timedelta(hours=25)),
        _record(user, "just-expired", created_at=now - dt.timedelta(hours=24)),
        _record(user, "fresh", created_at=now - dt.timedelta(hours=23)),
    ]


@pytest.mark.django_db
def test_purge_deletes_only_the_keys_expired_by_as_of(aged_keys):
    assert idempotency.idempotency_purge_expired(as_of=clock.now(), batch_size=1) == 2
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
    assert idempotency.idempotency_purge_expired(as_of=clock.now()) == 0
    assert idempotency.idempotency_purge_expired(as_of=clock.now() + dt.timedelta(hours=2)) == 1


@pytest.mark.django_db
def test_purge_command_takes_as_of_and_the_task_runs_it_now(aged_keys, capsys):
    past = (clock.now() - dt.timedelta(hours=1)).isoformat()
    call_command("purge_idempotency_keys", "--as-of", past)
    assert "deleted 1 expired idempotency keys" in capsys.readouterr().out
    assert purge_idempotency_keys() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


def test_purge_is_scheduled_hourly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-idempotency-keys"]
    assert entry["task"] == "core.tasks.purge_idempotency_keys"
    assert entry["schedule"].hour == set(range(24))


# --- Concurrency on PostgreSQL: real threads, each with its own connection ---------------------

PARALLEL = 10
WAIT = 30  # seconds: a generous bound for steps that take well under one


def _in_parallel(token, url: str, key: str) -> list:
    """PARALLEL requests with the same key and body, released together by a barrier."""
    barrier = threading.Barrier(PARALLEL)
    results: list = [None] * PARALLEL

    def run(index: int) -> None:
        try:
            client = Client()
            barrier.wait(WAIT)
            results[index] = pay(client, token, {"amount": "4325.00", "sleep": 0.5}, key, url)
        except BaseException as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "a request did not finish"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls(__name__)
def test_postgres_ten_parallel_duplicates_run_the_view_exactly_once(token):
    responses = _in_parallel(token, PAY, "parallel-key")
    assert _runs() == 1
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, statuses
    originals = [
        r for r in responses if r.status_code == 201 and idempotency.REPLAYED_HEADER not in r
    ]
    assert len(originals) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "request_in_progress"
            assert int(response["Retry-After"]) >= 1
        else:
            assert response.json() == originals[0].json()
    # Once the first has finished, every retry is a replay.
    replay = pay(Client(), token, {"amount": "4325.00", "sleep": 0.5}, "parallel-key")
    assert replay[idempotency.REPLAYED_HEADER] == "true"
    assert replay.json() == originals[0].json()
    assert _runs() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls(__name__)
def test_postgres_control_without_the_record_the_same_requests_run_ten_times(token):
    """The race the record closes: the same ten requests to the view without @idempotent."""
    responses = _in_parallel(token, "/api/v1/test/idem/unprotected", "parallel-key")
    assert [response.status_code for response in responses] == [201] * PARALLEL
    assert _runs() == PARALLEL
    assert len({response.json()["payment"] for response in responses}) == PARALLEL
    assert not IdempotencyRecord.objects.exists()
