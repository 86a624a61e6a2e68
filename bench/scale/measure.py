"""Measure one scale database (`python -m bench.scale.measure LIVE.json small|large RUNS HEAVY`).

Runs in a process of its own with the production settings `bench.scale` gives it (DEBUG off,
Redis cache on a db index of its own). Each request path goes through Django's test Client (the
whole middleware stack, no network); each periodic job is called as its task calls it, in a
transaction that is rolled back afterwards, so every run finds the same work. Prints, as JSON,
per item: the median seconds, the queries of the last run, and the EXPLAIN (ANALYZE, BUFFERS)
of its slowest query.
"""

import datetime as dt
import io
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.scale.core import Planner, _at  # noqa: E402
from bookings import services as bookings  # noqa: E402
from bookings.models import Booking  # noqa: E402
from checkpoints.models import SlotCounter  # noqa: E402
from checkpoints.selectors import CapacityReport  # noqa: E402
from checkpoints.services import capacity_verified_record  # noqa: E402
from core import audit, clock  # noqa: E402
from core.models import AuditBatch  # noqa: E402
from fees import services as fees  # noqa: E402
from receipts.services import RECENT_BATCH_DAYS, receipts_issue_missing  # noqa: E402

HOST = "127.0.0.1"
EXPLAINABLE = ("SELECT", "WITH", "UPDATE", "INSERT", "DELETE")


class Rollback(Exception):
    pass


def signed_in(user_id: int) -> Client:
    """A browser signed in with a verified second factor, as the sign-in page leaves it."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from auth2fa.middleware import SIGNED_IN_AT
    from auth2fa.services import web_session_start

    user = get_user_model().objects.get(pk=user_id)
    device = TOTPDevice.objects.create(user=user, name="scale", confirmed=True)
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[SIGNED_IN_AT] = clock.now().isoformat()
    session.save()
    web_session_start(
        user=user, session_key=session.session_key, ip="127.0.0.1", user_agent="bench scale"
    )
    return client


def get(client: Client, path: str, *, cold: bool = False) -> Callable[[int], None]:
    def call(_run: int) -> None:
        if cold:
            cache.clear()
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code}")

    return call


def booking_post(live: dict) -> Callable[[int], None]:
    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {live['token']}")
    planner = Planner()
    day = clock.local_today() + dt.timedelta(days=6)
    # A measurement run again on the same database finds its earlier bookings there: the trucks
    # they hold are skipped (B6) and the places they took are counted.
    busy = set(
        Booking.objects.filter(
            vehicle_id__in=live["api_trucks"], status__in=Booking.ACTIVE
        ).values_list("vehicle_id", flat=True)
    )
    trucks = [truck for truck in live["api_trucks"] if truck not in busy]
    for counter in SlotCounter.objects.filter(date=day, kind="regular"):
        key = (counter.checkpoint_id, counter.direction, day, counter.hour)
        planner.booked[key] = counter.taken

    def call(run: int) -> None:
        checkpoint, direction, hour = planner.place(day, (run * 5 + 9) % 24)
        body = {
            "checkpoint": checkpoint.code,
            "direction": direction,
            "service": "regular",
            "slot_start": _at(day, hour).isoformat(),
            "vehicle": trucks[run],
            "drivers": [live["api_driver"]],
        }
        response = client.post("/api/v1/bookings", body, content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"POST /api/v1/bookings: {response.status_code} {response.content}")

    return call


def _last_nights_checks() -> None:
    """Record, committed, the consistent checks of last night, as the nightly verify_ledger,
    verify_capacity and verify_audit_chain would have: the nightly measurements start after
    them."""
    yesterday = clock.local_today() - dt.timedelta(days=1)
    capacity_verified_record(CapacityReport(day=yesterday, since=yesterday))
    call_command("verify_ledger", stdout=io.StringIO())
    audit.seal_all(full=True)
    head = AuditBatch.objects.order_by("-number").first()
    if head is not None and audit.last_verified() != (head.number, head.batch_hash):
        audit.chain_verified_record(
            audit.ChainReport(through_batch=head.number, through_hash=head.batch_hash)
        )
        audit.seal_all(full=True)


def job(function: Callable[[], object]) -> Callable[[int], None]:
    """The job in a transaction rolled back afterwards: each run finds the same work."""

    def call(_run: int) -> None:
        try:
            with transaction.atomic():
                function()
                raise Rollback
        except Rollback:
            pass

    return call


def command(*args: str) -> Callable[[], None]:
    def call() -> None:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())

    return call


def explain(sql: str) -> str:
    # A server-side cursor (`.iterator()`) is explained by the query it declares.
    declared = re.match(r"\s*DECLARE .*? CURSOR (?:WITH(?:OUT)? HOLD )?FOR (.*)", sql, re.S)
    if declared:
        sql = declared.group(1)
    if not sql.lstrip(" (").upper().startswith(EXPLAINABLE):
        return ""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            transaction.set_rollback(True)
    except Exception as exc:  # a plan that cannot be made is reported, not fatal
        plan = f"(no plan: {exc})"
    return plan


def measure(call: Callable[[int], None], runs: int, offset: int, *, warm: bool) -> dict:
    """`warm`: one run first, not counted (imports, templates, connections)."""
    if warm:
        call(offset)
        offset += 1
    seconds = []
    captured = None
    for run in range(runs):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            call(offset + run)
            seconds.append(time.perf_counter() - started)
        captured = queries.captured_queries
    slowest = max(captured, key=lambda q: float(q["time"]), default=None)
    return {
        "seconds": statistics.median(seconds),
        "all_seconds": seconds,
        "queries": len(captured),
        "slowest_sql": slowest["sql"] if slowest else "",
        "slowest_seconds": float(slowest["time"]) if slowest else 0.0,
        "plan": explain(slowest["sql"]) if slowest else "",
    }


def main() -> None:
    live_all = json.loads(Path(sys.argv[1]).read_text())
    which, runs, heavy = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    live = live_all[which]
    board = live["board_checkpoint"]
    cabinet = signed_in(live["cabinet_user"])
    public = Client(HTTP_HOST=HOST)
    day = clock.local_today() + dt.timedelta(days=2)
    recent_batches = clock.local_today() - dt.timedelta(days=RECENT_BATCH_DAYS)
    # Everything sealed before the idle seal is measured.
    audit.seal_all(full=True)
    _last_nights_checks()
    items: list[tuple[str, Callable[[int], None], int]] = [
        ("API: POST /api/v1/bookings (booking create)", booking_post(live), runs),
        (
            "API: GET …/slots (cold cache)",
            get(public, f"/api/v1/checkpoints/KORDAI/slots?direction=exit&date={day}", cold=True),
            runs,
        ),
        (
            "API: GET …/queue, the board (cold cache)",
            get(public, f"/api/v1/checkpoints/{board}/queue", cold=True),
            runs,
        ),
        ("page: /board/ (cold cache)", get(public, f"/board/{board}/", cold=True), runs),
        ("cabinet: booking list", get(cabinet, "/cabinet/bookings/"), runs),
        ("cabinet: account statement", get(cabinet, "/cabinet/account/"), runs),
        ("cabinet: receipts list", get(cabinet, "/cabinet/receipts/"), runs),
        ("job: seal_audit, nothing to seal", job(lambda: audit.seal_all(full=False)), runs),
        (
            "job: seal_audit_sweep (hourly, last 24 h)",
            job(lambda: audit.seal_all(sweep=True)),
            runs,
        ),
        ("by hand: seal_audit (every event)", job(lambda: audit.seal_all(full=True)), runs),
        ("job: no-show sweep, idle", job(bookings.no_shows_sweep), runs),
        ("job: budget_transfer_make, one day", job(fees.budget_transfer_make), runs),
        ("job: overdue_payments", job(fees.overdue_payments), runs),
        (
            "job: receipts issue_missing (daily: recent batches)",
            job(lambda: receipts_issue_missing(since=recent_batches)),
            runs,
        ),
        ("by hand: issue_missing_receipts (every batch)", job(receipts_issue_missing), runs),
        # The nightly checks start from where last night's consistent check reached (recorded
        # before the measurements by _last_nights_checks: each measured run is rolled back, its
        # own record too); --full is the check by hand after a restore.
        ("job: verify_ledger (nightly)", job(command("verify_ledger")), heavy),
        ("by hand: verify_ledger --full", job(command("verify_ledger", "--full")), heavy),
        ("job: verify_capacity (nightly)", job(command("verify_capacity")), heavy),
        ("by hand: verify_capacity --full", job(command("verify_capacity", "--full")), heavy),
        ("job: verify_audit_chain (nightly)", job(command("verify_audit_chain")), heavy),
        ("by hand: verify_audit_chain --full", job(command("verify_audit_chain", "--full")), heavy),
    ]
    results = {}
    offset = 0
    for name, call, count in items:
        warm = "verify_" not in name
        if not name.startswith(("API", "page", "cabinet")):
            # What the measured requests recorded is sealed, as the worker would have done.
            audit.seal_all()
        results[name] = measure(call, count, offset, warm=warm)
        offset += count + 1
        print(
            f"{name}: {results[name]['seconds'] * 1000:.1f} ms, {results[name]['queries']} q",
            file=sys.stderr,
            flush=True,
        )
    print("FACTS " + json.dumps(results))


if __name__ == "__main__":
    main()
