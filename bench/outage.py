"""A checkpoint cut off from the portal for 4 hours of a busy day (O1-O4):
`python -m bench.outage [--seed 7]` (`make bench-outage`).

On a database of its own (SQLite under bench/results/work/outage/, made again each run; or
`--database-url postgres://…`) it lives one day at KORDAI, exit, through the real services and
the real device API (device key, in-process HTTP client) on a moved clock, in 5-minute steps:

- 200 trucks of 20 carriers booked the day before, 40 an hour from 08:00 to 12:00, a few
  accelerated (Q2); 6 never come (true no-shows); 4 are refused at the gate for documents;
- one device (the gate's tablet) keeps the signed manifest (refreshed every 15 minutes while
  online, its signature checked as the browser does), records every arrival, call, crossing and
  refusal with its own id and time, and computes the Q2 order from the manifest and its events;
- the link is cut from 09:00 to 13:00: the device keeps recording; the portal's no-show sweep
  runs every 5 minutes as always; at 10:00 an operator cancels a booking centrally (Q10) whose
  truck then comes to the gate anyway (the tablet does not know);
- at 13:00 the link returns: the device sends its events in order, 50 at a time; the answer to
  the second batch is lost on the way, so the device sends that batch again (duplicates);
- the day goes on online until 17:00; every 5 minutes the sweep.

It reports events recorded, delivered, duplicated, parked and lost, strikes on trucks that came
(wrongful) and on trucks that did not, and the deposits of the crossed trucks, into its own
section of bench/REPORT.md (between the `outage` markers; nothing else of the file changes) and
bench/results/outage.md. Goal: 0 lost, 0 wrongful strikes, every crossed truck's deposit
released."""

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "results" / "work" / "outage"
RESULT = ROOT / "bench" / "results" / "outage.md"
REPORT = ROOT / "bench" / "REPORT.md"
BEGIN = "<!-- outage:begin (written by `make bench-outage`; edit bench/outage.py) -->"
END = "<!-- outage:end -->"
STEP = dt.timedelta(minutes=5)
HOURS = range(8, 13)  # slots 08:00-12:00, 40 trucks each
PER_HOUR = 40
OUTAGE = (9, 13)  # the link is down from 09:00 to 13:00
CALLS_PER_STEP = 4  # about 48 an hour: a busy gate, a little faster than the bookings
BATCH = 50


def _setup(database_url: str | None) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.pop("REDIS_URL", None)
    if database_url is None:
        database = WORK / "outage.sqlite3"
        for path in WORK.glob("outage.sqlite3*"):
            path.unlink()
        database_url = f"sqlite:///{database}"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "DEBUG": "1",
            "MANIFEST_KEY_DIR": str(WORK / "manifest_keys"),
            "LOG_LEVEL": "ERROR",
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    if not database_url.startswith("sqlite"):
        call_command("flush", "--noinput", verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("load_reference_data", verbosity=0)
    call_command("rotate_manifest_key", verbosity=0)


class Device:
    """The gate's tablet as the offline screen works (static/js/offline-app.js), in Python."""

    def __init__(self, client, checkpoint_code: str, keys: dict[str, bytes]):
        self.client = client
        self.code = checkpoint_code
        self.keys = keys
        self.doc: dict | None = None
        self.events: list[dict] = []  # every event recorded, in order
        self.pending: list[dict] = []  # not yet acknowledged by the portal
        self.online = True
        self.delivered_ids: set[str] = set()
        self.deliveries = 0
        self.duplicates = 0
        self.outcomes: dict[str, int] = {}
        self.lose_answer_of_batch: int | None = None

    def refresh_manifest(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if not self.online:
            return
        body = self.client.get(f"/api/v1/checkpoints/{self.code}/manifest").json()
        Ed25519PublicKey.from_public_bytes(self.keys[body["key_id"]]).verify(
            base64.b64decode(body["signature"]), body["payload"].encode()
        )
        doc = json.loads(body["payload"])
        if self.doc is None or doc["sequence"] > self.doc["sequence"]:
            self.doc = doc

    def bookings(self) -> dict[str, dict]:
        """The manifest's bookings with the events not yet in it applied (the screen's view)."""
        found = {entry["number"]: dict(entry) for entry in self.doc["bookings"]}
        issued = self.doc["issued_at"]
        for event in self.events:
            booking = found.get(event["booking"])
            if booking is None or (event.get("received_at") and event["received_at"] <= issued):
                continue
            status, kind = booking["status"], event["kind"]
            if kind == "arrived" and status == "confirmed":
                booking["status"] = "arrived"
            elif kind == "called" and status == "arrived":
                booking["status"] = "called"
            elif kind == "crossed" and status in ("confirmed", "arrived", "called"):
                booking["status"] = "crossed"
            elif kind == "refused" and status in ("arrived", "called"):
                booking["status"] = "refused"
        return found

    def record(self, booking: dict, kind: str, moment: dt.datetime, **extra) -> None:
        event = {
            "id": str(uuid.uuid4()),
            "booking": booking["number"],
            "kind": kind,
            "at": moment.isoformat(),
            "device_status": booking["status"],
            **extra,
        }
        self.events.append(event)
        self.pending.append(event)

    def next_due(self, now: dt.datetime) -> dict | None:
        order = {"out_of_turn": 0, "accelerated": 1, "regular": 2}
        waiting = [
            booking
            for booking in self.bookings().values()
            if booking["status"] == "arrived"
            and booking["direction"] == "exit"
            and dt.datetime.fromisoformat(booking["slot_start"].replace("Z", "+00:00")) <= now
        ]
        waiting.sort(
            key=lambda b: (order[b["service"]], b["slot_start"], b["booked_at"], b["number"])
        )
        return waiting[0] if waiting else None

    def sync(self) -> None:
        """Send what waits, oldest first, BATCH at a time, until nothing is left (O3)."""
        if not self.online:
            return
        batch_number = 0
        while True:
            batch = self.pending[:BATCH]
            answer = self.client.post(
                f"/api/v1/checkpoints/{self.code}/offline-events",
                {"events": batch, "pending_after": len(self.pending) - len(batch)},
                content_type="application/json",
            )
            assert answer.status_code == 200, answer.content[:300]
            self.deliveries += len(batch)
            batch_number += 1
            if batch_number == self.lose_answer_of_batch:
                self.lose_answer_of_batch = None
                continue  # the answer never arrived: the same batch goes again
            body = answer.json()
            for result in body["results"]:
                if result["duplicate"]:
                    self.duplicates += 1
                else:
                    self.outcomes[result["outcome"]] = self.outcomes.get(result["outcome"], 0) + 1
                self.delivered_ids.add(result["id"])
            received = {result["id"] for result in body["results"]}
            for event in batch:
                if event["id"] in received:
                    event["received_at"] = body["received_at"]
            self.pending = [event for event in self.pending if event["id"] not in received]
            if not self.pending:
                return


def simulate(seed: int) -> dict:
    import time_machine
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models import Count
    from django.test import Client

    from auth2fa.roles import OPERATORS
    from bench.scale.core import carrier_make
    from bookings import services as bookings
    from bookings.models import Booking
    from bookings.selectors import deposit_status
    from checkpoint_queue import manifest_keys
    from checkpoint_queue.models import OfflineEvent
    from checkpoints.models import Checkpoint, HourOverride
    from checkpoints.services import capacity_refresh, device_key_issue
    from core import clock
    from core.errors import ApplicationError

    rng = random.Random(seed)  # noqa: S311 (a replayable simulation, no secret)
    checkpoint = Checkpoint.objects.get(code="KORDAI")
    day = clock.local_today() + dt.timedelta(days=3)

    def at(hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.ALMATY)

    with time_machine.travel(at(7) - dt.timedelta(days=1), tick=False):
        operator = get_user_model().objects.create_user(
            "operator@outage.kezek.kz", None, full_name="Outage Operator", is_staff=True
        )
        operator.groups.add(Group.objects.get(name=OPERATORS))
        for hour in HOURS:
            HourOverride.objects.update_or_create(
                checkpoint=checkpoint,
                direction="exit",
                date=day,
                hour=hour,
                defaults={"capacity": PER_HOUR},
            )
        capacity_refresh(checkpoint=checkpoint, direction="exit", dates=[day])
        carriers = [carrier_make(n, first_vehicle=n * 10, vehicles=10) for n in range(20)]
        trucks = [(carrier, truck) for carrier in carriers for truck in carrier["trucks"]]
        rng.shuffle(trucks)
        booked = []
        for index, (carrier, truck) in enumerate(trucks):
            hour = HOURS[index // PER_HOUR]
            # A few accelerated ones (Q2) while the day's quota (C2) lasts, the rest regular.
            services = ["accelerated", "regular"] if index % 25 == 0 else ["regular"]
            for service in services:
                try:
                    booked.append(
                        bookings.booking_create(
                            member=carrier["member"],
                            request=bookings.BookingRequest(
                                checkpoint_code=checkpoint.code,
                                direction="exit",
                                service=service,
                                slot_start=at(hour),
                                vehicle_id=truck,
                                trailer_id=None,
                                driver_ids=[carrier["driver"]],
                            ),
                        )
                    )
                    break
                except ApplicationError:
                    if service == "regular":
                        raise
        key = device_key_issue(checkpoint=checkpoint, name="KORDAI gate tablet", actor=operator)
    keys = {k.key_id: k.raw for k in manifest_keys.public_keys()}
    client = Client(HTTP_AUTHORIZATION=f"Device {key.secret}")
    device = Device(client, checkpoint.code, keys)

    # Who does what (the ground truth the device sees at the gate).
    no_shows = set(rng.sample(range(len(booked)), 6))
    refused = set(rng.sample(sorted(set(range(len(booked))) - no_shows), 4))
    cancelled_centrally = next(
        i
        for i in range(len(booked))
        if i not in no_shows | refused and booked[i].slot_start >= at(10)
    )
    arrivals = {}
    for index, booking in enumerate(booked):
        if index in no_shows:
            continue
        minutes = rng.uniform(-150, 20)
        if index == cancelled_centrally:
            minutes = max(minutes, -45)  # it comes after the 10:00 cancellation
        arrivals[booking.number] = booking.slot_start + dt.timedelta(minutes=minutes)
    refused_numbers = {booked[i].number for i in refused}
    came = set(arrivals)
    called_at: dict[str, dt.datetime] = {}
    crossed_by_device: set[str] = set()
    struck_during_outage = 0

    moment = at(5)
    end = at(17)
    manifest_every = dt.timedelta(minutes=15)
    last_manifest = None
    held_back_max = 0
    would_have_struck = 0
    while moment <= end:
        with time_machine.travel(moment, tick=False):
            local_hour = moment.astimezone(clock.ALMATY).hour
            device.online = not (OUTAGE[0] <= local_hour < OUTAGE[1])
            if moment == at(OUTAGE[1]):
                device.lose_answer_of_batch = 2
                # Before the device speaks: what a sweep without O4 would have struck.
                held = list(bookings.no_shows_held_back(moment))
                would_have_struck = sum(1 for booking in held if booking.number in came)
            if device.online and (
                last_manifest is None or moment - last_manifest >= manifest_every
            ):
                device.sync()
                device.refresh_manifest()
                last_manifest = moment
            if moment == at(10):
                bookings.booking_cancel_by_operator(
                    booking=booked[cancelled_centrally],
                    reason="Documents of the cargo withdrawn by the shipper",
                    actor=operator,
                )
            local = device.bookings()
            for number, when in arrivals.items():
                entry = local.get(number)  # a slot long past leaves the manifest (O1)
                if when <= moment and entry is not None and entry["status"] == "confirmed":
                    device.record(entry, "arrived", when)
            local = device.bookings()
            for number in list(called_at):
                crossing = called_at[number] + dt.timedelta(minutes=15)
                if number not in crossed_by_device and crossing <= moment:
                    if number in refused_numbers:
                        device.record(local[number], "refused", crossing, reason="documents")
                    else:
                        device.record(local[number], "crossed", crossing)
                        crossed_by_device.add(number)
                    del called_at[number]
            for _call in range(CALLS_PER_STEP):
                booking = device.next_due(moment)
                if booking is None:
                    break
                device.record(booking, "called", moment)
                called_at[booking["number"]] = moment
            device.sync()
            before = Booking.objects.filter(status="no_show").count()
            bookings.no_shows_sweep(as_of=moment)
            if not device.online:
                struck_during_outage += Booking.objects.filter(status="no_show").count() - before
                held_back_max = max(held_back_max, bookings.no_shows_held_back(moment).count())
        moment += STEP

    recorded = {event["id"] for event in device.events}
    stored = set(
        str(event_id) for event_id in OfflineEvent.objects.values_list("event_id", flat=True)
    )
    statuses = dict(
        Booking.objects.filter(pk__in=[b.pk for b in booked]).values_list("pk", "status")
    )
    by_number = {booking.number: booking for booking in booked}
    wrongful = sorted(number for number in came if statuses[by_number[number].pk] == "no_show")
    true_no_shows = sum(1 for index in no_shows if statuses[booked[index].pk] == "no_show")
    crossed_released = sum(
        1
        for number in crossed_by_device
        if deposit_status(Booking.objects.get(pk=by_number[number].pk)) == "released"
    )
    parked = list(
        OfflineEvent.objects.filter(outcome="parked").values_list("booking_number", "kind")
    )
    return {
        "seed": seed,
        "bookings": len(booked),
        "recorded": len(recorded),
        "recorded_offline": sum(
            1
            for event in device.events
            if OUTAGE[0]
            <= dt.datetime.fromisoformat(event["at"]).astimezone(clock.ALMATY).hour
            < OUTAGE[1]
        ),
        "delivered": len(recorded & stored),
        "deliveries": device.deliveries,
        "duplicates": device.duplicates,
        "outcomes": dict(
            OfflineEvent.objects.values_list("outcome").annotate(n=Count("pk")).order_by()
        ),
        "parked": parked,
        "lost": len(recorded - stored),
        "came": len(came),
        "wrongful": wrongful,
        "true_no_shows": true_no_shows,
        "no_shows_planned": len(no_shows),
        "struck_during_outage": struck_during_outage,
        "held_back_max": held_back_max,
        "would_have_struck": would_have_struck,
        "crossed": len(crossed_by_device),
        "crossed_released": crossed_released,
        "crossed_status": sum(
            1 for number in crossed_by_device if statuses[by_number[number].pk] == "crossed"
        ),
        "refused": sum(
            1 for number in refused_numbers if statuses[by_number[number].pk] == "refused"
        ),
        "cancelled": by_number[booked[cancelled_centrally].number].number,
        "cancelled_status": statuses[booked[cancelled_centrally].pk],
        "cancelled_deposit": deposit_status(Booking.objects.get(pk=booked[cancelled_centrally].pk)),
    }


def report(facts: dict, *, seconds: float, database: str) -> str:
    outcomes = facts["outcomes"]
    goal = (
        facts["lost"] == 0
        and not facts["wrongful"]
        and facts["crossed_released"] == facts["crossed"]
    )
    parked = ", ".join(f"{number} {kind}" for number, kind in facts["parked"]) or "none"
    lines = [
        "## Working through an outage: `make bench-outage`",
        "",
        "`python -m bench.outage --seed 7` (bench/outage.py, about a minute) lives a busy day at "
        "KORDAI, exit, through the real services and the device API on a moved clock in 5-minute "
        "steps: 200 trucks booked 40 an hour from 08:00 to 12:00, 6 never come, 4 are refused "
        "for their documents; the gate's tablet keeps the signed manifest and records every "
        "step; the link is cut from 09:00 to 13:00 while the no-show sweep runs every 5 minutes; "
        "at 10:00 an operator cancels a booking whose truck then comes anyway; at 13:00 the "
        "tablet sends its events 50 at a time, and the answer to its second batch is lost, so "
        "it sends that batch again.",
        "",
        f"Run of {dt.date.today():%d %B %Y}, seed {facts['seed']}, {database}, {seconds:.0f} s:",
        "",
        "| events | count |",
        "|---|---:|",
        f"| recorded by the tablet | {facts['recorded']} |",
        f"| of them while the link was down | {facts['recorded_offline']} |",
        f"| delivered (distinct, at the portal) | {facts['delivered']} |",
        f"| sent in all (with resends) | {facts['deliveries']} |",
        f"| answered as duplicates (nothing changed) | {facts['duplicates']} |",
        f"| applied | {outcomes.get('applied', 0)} |",
        f"| already so | {outcomes.get('already', 0)} |",
        f"| parked for a person | {len(facts['parked'])} ({parked}) |",
        f"| **lost** | **{facts['lost']}** |",
        "",
        "| trucks | count |",
        "|---|---:|",
        f"| booked | {facts['bookings']} |",
        f"| came to the gate | {facts['came']} |",
        f"| held back by the sweep at most, during the outage (O4) | {facts['held_back_max']} |",
        f"| struck while the link was down | {facts['struck_during_outage']} |",
        f"| would have been struck at 13:00 without O4 (came, not yet known) | "
        f"{facts['would_have_struck']} |",
        f"| **wrongful strikes** (came, yet a no-show) | **{len(facts['wrongful'])}** |",
        f"| true no-shows struck once the tablet reported | {facts['true_no_shows']} of "
        f"{facts['no_shows_planned']} |",
        f"| refused at the gate (D3 at the refusal's time) | {facts['refused']} |",
        f"| crossed, recorded by the tablet | {facts['crossed']} |",
        f"| crossed at the portal | {facts['crossed_status']} |",
        f"| **crossed with the deposit released** | **{facts['crossed_released']}** of "
        f"{facts['crossed']} |",
        f"| cancelled centrally, came anyway ({facts['cancelled']}) | status "
        f"{facts['cancelled_status']}, deposit {facts['cancelled_deposit']}, its events parked |",
        "",
        f"**Goal {'met' if goal else 'NOT met'}:** 0 lost, 0 wrongful strikes, every crossed "
        "truck's deposit released. The operator's cancellation stands: the truck's arrival, "
        "call and crossing are parked with both versions for a person (the crossing does not "
        "overwrite a cancellation a person made: its place was given back and its fee refunded).",
    ]
    return "\n".join(lines) + "\n"


def write_section(section: str) -> None:
    """Put the section between the outage markers of bench/REPORT.md (added at the end the first
    time); every other line of the file stays as it is."""
    text = REPORT.read_text()
    block = f"{BEGIN}\n{section}{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        text = head + block + (tail[1:] if tail.startswith("\n") else tail)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    REPORT.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outage", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_OUTAGE_DATABASE_URL"),
        help="an empty PostgreSQL database to use (it is flushed); default SQLite in bench/",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="print only; leave bench/REPORT.md as it is"
    )
    args = parser.parse_args()
    started = time.monotonic()
    _setup(args.database_url)
    with (WORK / "outage.log").open("w") as log, contextlib.redirect_stdout(log):
        facts = simulate(args.seed)
    database = "PostgreSQL" if args.database_url else "SQLite"
    text = report(facts, seconds=time.monotonic() - started, database=database)
    RESULT.write_text(text)
    if not args.no_report:
        write_section(text)
    print(text)
    goal = (
        facts["lost"] == 0
        and not facts["wrongful"]
        and facts["crossed_released"] == facts["crossed"]
    )
    sys.exit(0 if goal else 1)


if __name__ == "__main__":
    main()
