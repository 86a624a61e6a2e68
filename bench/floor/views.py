"""The floor's two views. Tables are made by `schema_create` (bench/run.py calls it)."""

import json

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

SCHEMA = """
DROP TABLE IF EXISTS floor_transfer, floor_booking, floor_counter, floor_account;
CREATE TABLE floor_account (
    id bigint PRIMARY KEY,
    balance numeric(14, 2) NOT NULL CHECK (balance >= 0)
);
CREATE TABLE floor_counter (
    id bigint PRIMARY KEY,
    capacity integer NOT NULL,
    taken integer NOT NULL DEFAULT 0,
    CHECK (taken <= capacity)
);
CREATE TABLE floor_booking (
    id bigserial PRIMARY KEY,
    counter_id bigint NOT NULL REFERENCES floor_counter (id),
    account_id bigint NOT NULL REFERENCES floor_account (id),
    vehicle_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE floor_transfer (
    id bigserial PRIMARY KEY,
    debit_id bigint NOT NULL REFERENCES floor_account (id),
    credit_id bigint NOT NULL REFERENCES floor_account (id),
    amount numeric(14, 2) NOT NULL,
    booking_id bigint NOT NULL REFERENCES floor_booking (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

# Carrier n has its available account n and its held account HELD + n, like Kezek's ledger; fees
# go to one system account that is never updated (Kezek keeps no balance on system accounts).
HELD = 1_000_000
FEES_ACCOUNT = 2_000_000
FEE = "4325.00"
DEPOSIT = "86500.00"
TOTAL = "90825.00"


def schema_create(*, accounts: int, counters: int, capacity: int, balance: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(SCHEMA)
        cursor.execute(
            "INSERT INTO floor_account (id, balance) SELECT n, %s FROM generate_series(1, %s) n",
            [balance, accounts],
        )
        cursor.execute(
            "INSERT INTO floor_account (id, balance) "
            "SELECT %s + n, 0 FROM generate_series(1, %s) n",
            [HELD, accounts],
        )
        cursor.execute("INSERT INTO floor_account (id, balance) VALUES (%s, 0)", [FEES_ACCOUNT])
        cursor.execute(
            "INSERT INTO floor_counter (id, capacity) SELECT n, %s FROM generate_series(1, %s) n",
            [capacity, counters],
        )


@csrf_exempt
@require_POST
def book(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    account, counter, vehicle = int(body["account"]), int(body["counter"]), int(body["vehicle"])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE floor_counter SET taken = taken + 1 WHERE id = %s AND taken < capacity",
            [counter],
        )
        if cursor.rowcount != 1:
            return JsonResponse({"error": {"code": "slot_full"}}, status=409)
        cursor.execute(
            "INSERT INTO floor_booking (counter_id, account_id, vehicle_id) VALUES (%s, %s, %s) "
            "RETURNING id",
            [counter, account, vehicle],
        )
        (booking,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO floor_transfer (debit_id, credit_id, amount, booking_id) "
            "VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
            [account, FEES_ACCOUNT, FEE, booking, account, HELD + account, DEPOSIT, booking],
        )
        # The carrier's available balance goes down (conditionally, like Kezek's ledger) and its
        # held balance goes up: the two balance rows a booking touches.
        cursor.execute(
            "UPDATE floor_account SET balance = balance - %s WHERE id = %s AND balance >= %s",
            [TOTAL, account, TOTAL],
        )
        if cursor.rowcount != 1:
            transaction.set_rollback(True)
            return JsonResponse({"error": {"code": "insufficient_funds"}}, status=409)
        cursor.execute(
            "UPDATE floor_account SET balance = balance + %s WHERE id = %s",
            [DEPOSIT, HELD + account],
        )
    return JsonResponse({"id": booking}, status=201)


@require_GET
def const(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})
