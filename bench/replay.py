"""Replayed days at a checkpoint, to measure the predicted call time (Q6):
`python -m bench.replay [--days 3] [--seed 7]` (`make bench-replay`).

On a database of its own (SQLite under bench/results/work/replay/, made again each run) it
lives days at KORDAI, exit, through the real services on a moved clock, in 5-minute steps:

- bookings made the day before for every open hour, the rush hours (7–10 and 17–20) full,
  the others about 60 %, and a few accelerated ones a day (the priority class, Q2);
- arrivals at a random moment from 3 hours before the slot to 30 minutes after its start, and
  one booking in 20 never arrives (D6);
- calls at the pace of the hour's planned places, slower by half from 14:00 to 16:00 on the
  second day (a slow spell the prediction does not know of), each called vehicle crossing;
- at every step, before the calls, the prediction (`checkpoint_queue.predictions.predicted_call_at`)
  of every booking still waiting for its call is recorded.

When a vehicle is called, each of its recorded predictions is compared with the moment of the
call. The report gives the mean absolute error and its 90th percentile by how long before the
call the prediction was made, in bench/results/replay.md. The goal: a mean within 15 minutes for
predictions made less than 2 hours before the call."""

import argparse
import contextlib
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "results" / "work" / "replay"
REPORT = ROOT / "bench" / "results" / "replay.md"
STEP = dt.timedelta(minutes=5)
RUSH_HOURS = {7, 8, 9, 17, 18, 19}
BUCKETS = [(0, 30), (30, 60), (60, 120), (120, 240), (240, 100_000)]
GOAL_MINUTES = 15


def _setup_database() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    database = WORK / "replay.sqlite3"
    for path in WORK.glob("replay.sqlite3*"):
        path.unlink()
    os.environ.pop("REDIS_URL", None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{database}",
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "DEBUG": "1",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_reference_data", verbosity=0)


def replay(days: int, seed: int) -> list[tuple[float, float]]:
    """(minutes before the call, absolute error in minutes) of every prediction."""
    import time_machine
    from django.contrib.auth import get_user_model

    from bench.scale.core import carrier_make
    from bookings import services as bookings
    from bookings.models import Booking
    from checkpoint_queue import services as queue_services
    from checkpoint_queue.predictions import predicted_call_at
    from checkpoints import capacity
    from checkpoints.models import Checkpoint
    from core import clock
    from core.errors import ApplicationError

    rng = random.Random(seed)  # noqa: S311 (a replayable simulation, no secret)
    checkpoint = Checkpoint.objects.get(code="KORDAI")
    direction = "exit"
    first = clock.local_today() - dt.timedelta(days=days + 1)

    def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.ALMATY)

    with time_machine.travel(at(first - dt.timedelta(days=2), 9), tick=False):
        carriers = [carrier_make(n, first_vehicle=n * 10, vehicles=10) for n in range(60)]
        staff = get_user_model().objects.create_superuser(
            "staff@replay.kezek.kz", None, full_name="Replay Staff", phone="+77059999998"
        )
    trucks = [(carrier, truck) for carrier in carriers for truck in carrier["trucks"]]
    predictions: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    samples: list[tuple[float, float]] = []
    for index in range(days):
        day = first + dt.timedelta(days=index)
        plan = capacity.plan_of_day(checkpoint=checkpoint, direction=direction, date=day)
        free = list(trucks)
        rng.shuffle(free)
        arrivals: dict[int, dt.datetime] = {}
        with time_machine.travel(at(day - dt.timedelta(days=1), 10), tick=False):
            for hour in range(24):
                if not plan.is_open(hour):
                    continue
                places = plan.planned(capacity.REGULAR, hour)
                wanted = places if hour in RUSH_HOURS else round(places * 0.6)
                services = ["regular"] * wanted + ["accelerated"] * (hour % 6 == 0)
                for service in services:
                    if not free:
                        break
                    carrier, truck = free.pop()
                    try:
                        booking = bookings.booking_create(
                            member=carrier["member"],
                            request=bookings.BookingRequest(
                                checkpoint_code=checkpoint.code,
                                direction=direction,
                                service=service,
                                slot_start=at(day, hour),
                                vehicle_id=truck,
                                trailer_id=None,
                                driver_ids=[carrier["driver"]],
                            ),
                        )
                    except ApplicationError:
                        continue
                    if rng.randrange(20):  # one in 20 never arrives
                        offset = rng.uniform(-180, 30)
                        arrivals[booking.pk] = booking.slot_start + dt.timedelta(minutes=offset)
        owed = 0.0
        moment = at(day, 0) - dt.timedelta(hours=3)
        end = at(day + dt.timedelta(days=1), 6)
        while moment < end:
            with time_machine.travel(moment, tick=False):
                for booking in Booking.objects.filter(
                    checkpoint=checkpoint,
                    direction=direction,
                    status=Booking.Status.CONFIRMED,
                    pk__in=[pk for pk, when in arrivals.items() if when <= moment],
                ):
                    queue_services.booking_mark_arrived(booking=booking, actor=staff)
                waiting = Booking.objects.filter(
                    checkpoint=checkpoint,
                    direction=direction,
                    status__in=[Booking.Status.CONFIRMED, Booking.Status.ARRIVED],
                    slot_start__lt=moment + dt.timedelta(hours=6),
                ).select_related("checkpoint")
                for booking in waiting:
                    predicted = predicted_call_at(booking, moment)
                    if predicted is not None:
                        predictions.setdefault(booking.pk, []).append((moment, predicted))
                local = moment.astimezone(clock.ALMATY)
                pace = plan.planned(capacity.REGULAR, local.hour) if local.date() == day else 0
                if index == 1 and 14 <= local.hour < 16:
                    pace /= 2  # the slow spell
                owed += pace * STEP.total_seconds() / 3600
                while owed >= 1:
                    try:
                        (called,) = queue_services.queue_call_next(
                            checkpoint=checkpoint, direction=direction, actor=staff
                        )
                    except ApplicationError:
                        owed = min(owed, 1.0)  # nobody due: the places of this moment go unused
                        break
                    owed -= 1
                    for made, predicted in predictions.pop(called.pk, []):
                        before = (moment - made).total_seconds() / 60
                        error = abs((predicted - moment).total_seconds()) / 60
                        samples.append((before, error))
                    queue_services.booking_mark_crossed(booking=called, actor=staff)
            moment += STEP
        with time_machine.travel(end, tick=False):
            bookings.no_shows_sweep()
            queue_services.not_crossed_sweep(as_of=end + dt.timedelta(days=2))
        print(f"day {index + 1} of {days}: {len(samples)} predictions compared", file=sys.stderr)
    return samples


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(samples: list[tuple[float, float]], *, days: int, seed: int, seconds: float) -> str:
    lines = [
        "# `bench.replay`: the predicted call time on replayed days",
        "",
        f"{days} days at KORDAI, exit, seed {seed}, 5-minute steps; {len(samples)} predictions "
        f"compared with the call that followed; {seconds / 60:.1f} min.",
        "",
        "| made before the call | predictions | mean absolute error | 90th percentile |",
        "|---|---:|---:|---:|",
    ]
    for low, high in BUCKETS:
        errors = [error for before, error in samples if low <= before < high]
        if not errors:
            continue
        label = f"{low}–{high} min" if high < 100_000 else f"{low} min and more"
        lines.append(
            f"| {label} | {len(errors)} | {statistics.fmean(errors):.1f} min | "
            f"{percentile(errors, 0.9):.1f} min |"
        )
    near = [error for before, error in samples if before < 120]
    met = near and statistics.fmean(near) <= GOAL_MINUTES
    lines += [
        "",
        f"Goal: within {GOAL_MINUTES} minutes (mean) for predictions made less than 2 hours "
        f"before the call: {'met' if met else 'NOT met'} "
        f"({statistics.fmean(near) if near else float('nan'):.1f} min over {len(near)}).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.monotonic()
    _setup_database()
    # The SMS of the replayed days (console backend) go to a log, not to the report.
    with (WORK / "replay.log").open("w") as log, contextlib.redirect_stdout(log):
        samples = replay(args.days, args.seed)
    text = report(samples, days=args.days, seed=args.seed, seconds=time.monotonic() - started)
    REPORT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
