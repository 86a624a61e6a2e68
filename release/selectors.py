"""Reads of fair release (F1–F6): policies, windows, requests, and a draw's published document."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum

from bookings.models import Booking
from checkpoints import capacity
from checkpoints.models import Checkpoint, SlotCounter
from core.clock import ALMATY
from release.draw import carrier_hash
from release.models import ReleasePolicy, ReleaseRequest, ReleaseWindow, Reservation


def policy_of(checkpoint: Checkpoint) -> ReleasePolicy:
    """The checkpoint's policy, or the defaults (first-come, F8) when it has none yet."""
    policy = ReleasePolicy.objects.filter(checkpoint=checkpoint).first()
    return policy if policy is not None else ReleasePolicy(checkpoint=checkpoint)


def release_moment(policy: ReleasePolicy, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """When `day` opens for requests and when its window closes (F1), Almaty time."""
    opens = dt.datetime.combine(
        day - dt.timedelta(days=policy.days_before), policy.release_time, tzinfo=ALMATY
    )
    return opens, opens + dt.timedelta(minutes=policy.window_minutes)


def day_places(plan: capacity.DayPlan) -> int:
    """All places of a day and direction: the open hours' regular places and the quotas."""
    return plan.regular_total + sum(plan.quotas.values())


def carrier_limit(policy: ReleasePolicy, places: int) -> int:
    """F3: the larger of the minimum and the share of the day's places (rounded down)."""
    return max(policy.carrier_share_min, places * policy.carrier_share_percent // 100)


def reserved_per_counter(counters: QuerySet[SlotCounter]) -> Mapping[int, int]:
    """Occupancy source for verify_capacity: the places windows keep back until their draw."""
    rows = (
        Reservation.objects.filter(counter__in=counters)
        .values("counter_id")
        .annotate(places=Sum("places"))
    )
    return {row["counter_id"]: row["places"] for row in rows}


def requests_per_checkpoint(day: dt.date) -> dict[tuple[int, str], int]:
    """The "requested" figure of the statistics (W5) for `day`: {(checkpoint id, direction):
    requests placed in the window of that day's places}, in one query. Every window but a
    cancelled one answers, with 0 when nobody asked, so "no draw" (not applicable) stays apart
    from "a draw nobody entered".

    Every request counts except a withdrawn one: a carrier takes its request back inside the
    window, before the close, so it never entered the draw (the sealed list R holds only the
    requests live at the close, F4) — counting it would add demand that was not there, and a
    request changed instead of withdrawn is still one request. Won, unsuccessful and skipped
    requests (F5: could not pay, or the vehicle was booked meanwhile) all entered the draw and
    count: each was a carrier asking for a place. After the draw the figure equals the number
    the draw's page publishes (F6); before it, the live requests so far."""
    rows = (
        ReleaseWindow.objects.filter(day=day)
        .exclude(status=ReleaseWindow.Status.CANCELLED)
        .annotate(
            placed=Count("requests", filter=~Q(requests__status=ReleaseRequest.Status.WITHDRAWN))
        )
        .values_list("checkpoint_id", "direction", "placed")
        .order_by()
    )
    return {(checkpoint_id, direction): placed for checkpoint_id, direction, placed in rows}


def window_for(checkpoint: Checkpoint, direction: str, day: dt.date) -> ReleaseWindow | None:
    return ReleaseWindow.objects.filter(checkpoint=checkpoint, direction=direction, day=day).first()


def windows_public(*, checkpoint: Checkpoint | None = None) -> QuerySet[ReleaseWindow]:
    rows = ReleaseWindow.objects.select_related("checkpoint").exclude(
        status=ReleaseWindow.Status.CANCELLED
    )
    if checkpoint is not None:
        rows = rows.filter(checkpoint=checkpoint)
    return rows.order_by("-day", "checkpoint__code", "direction")


def next_request_windows(
    *, checkpoint_ids: list[int], at: dt.datetime
) -> dict[tuple[int, str], ReleaseWindow]:
    """For each checkpoint and direction, the draw window that takes requests now or will open
    next (F1), if any: what the home page tells a carrier besides the soonest free hour. One
    query whatever the number of checkpoints; windows are made a few days ahead only."""
    found: dict[tuple[int, str], ReleaseWindow] = {}
    rows = ReleaseWindow.objects.filter(
        checkpoint_id__in=checkpoint_ids,
        status=ReleaseWindow.Status.SCHEDULED,
        closes_at__gt=at,
    ).order_by("opens_at", "pk")
    for window in rows.only("checkpoint_id", "direction", "day", "opens_at", "closes_at", "status"):
        found.setdefault((window.checkpoint_id, window.direction), window)
    return found


def windows_with_demand() -> QuerySet[ReleaseWindow]:
    """Each window with its live (or drawn) requests counted: the operators' view of where
    capacity is short (F8)."""
    kept = (
        Reservation.objects.filter(window=OuterRef("pk"))
        .values("window")
        .annotate(total=Sum("places"))
        .values("total")
    )
    return ReleaseWindow.objects.select_related("checkpoint").annotate(
        demand=Count("requests", filter=~Q(requests__status=ReleaseRequest.Status.WITHDRAWN)),
        kept=Subquery(kept),
    )


def requests_of(carrier: Any) -> QuerySet[ReleaseRequest]:
    return (
        ReleaseRequest.objects.filter(carrier=carrier)
        .select_related("window__checkpoint", "vehicle", "trailer", "booking")
        .order_by("-created_at", "-pk")
    )


def live_requests_count(*, carrier: Any, window: ReleaseWindow) -> int:
    return ReleaseRequest.objects.filter(
        carrier=carrier, window=window, status=ReleaseRequest.Status.LIVE
    ).count()


def vins_booked(*, country_id: str, vins: list[str]) -> set[str]:
    """Of `vins`, those of vehicles or trailers with an active booking in the country (B6)."""
    if not vins:
        return set()
    rows = Booking.objects.filter(
        Q(vehicle_vin__in=vins) | Q(trailer_vin__in=vins),
        country_id=country_id,
        status__in=Booking.ACTIVE,
    ).values_list("vehicle_vin", "trailer_vin")
    wanted = set(vins)
    return {vin for row in rows for vin in row if vin in wanted}


def draw_document(window: ReleaseWindow) -> dict[str, Any]:
    """What anyone may see of a window (F6). Before the draw: its commitment C and times only;
    after it: the secret, R, the seed, and each request's published fields, rank and outcome,
    the carrier shown only as the hash it alone can match."""
    document: dict[str, Any] = {
        "id": window.pk,
        "checkpoint": window.checkpoint.code,
        "direction": window.direction,
        "day": window.day.isoformat(),
        "opens_at": window.opens_at.astimezone(ALMATY).isoformat(),
        "closes_at": window.closes_at.astimezone(ALMATY).isoformat(),
        "status": window.status,
        "commitment": window.commitment,
        "carrier_limit": window.carrier_limit,
    }
    if window.status != ReleaseWindow.Status.DRAWN:
        return document
    requests = window.requests.exclude(rank="").order_by("pk")
    document.update(
        {
            "drawn_at": window.drawn_at.astimezone(ALMATY).isoformat(),
            "secret": window.secret,
            "merkle_root": window.merkle_root,
            "seed": window.seed,
            "request_count": window.request_count,
            "places": window.places,
            "open_hours": window.open_hours,
            "requests": [
                {
                    "id": request.pk,
                    "carrier": carrier_hash(request.pk, request.salt),
                    "service": request.service,
                    "hours": request.hours,
                    "rank": request.rank,
                    "outcome": _outcome(request),
                    "hour": request.hour_won,
                    # F7, after the draw: the request got a place freed later on its day.
                    "booked_from_waitlist": request.status == ReleaseRequest.Status.WAITLIST_WON,
                }
                for request in requests.only(
                    "pk", "salt", "service", "hours", "rank", "status", "hour_won"
                )
            ],
        }
    )
    return document


def _outcome(request: ReleaseRequest) -> str:
    if request.status == ReleaseRequest.Status.SKIPPED:
        return "skipped"
    if request.hour_won is not None:
        return "won"
    return "unsuccessful"


def waitlist(window_ids: Sequence[int]) -> QuerySet[ReleaseRequest]:
    """The requests waiting for a freed place of their day (F7), best rank first."""
    return ReleaseRequest.objects.filter(
        window_id__in=list(window_ids),
        status=ReleaseRequest.Status.UNSUCCESSFUL,
        waitlist_left_at__isnull=True,
    ).order_by("window_id", "rank", "pk")


def is_waiting(request: ReleaseRequest) -> bool:
    return request.status == ReleaseRequest.Status.UNSUCCESSFUL and request.waitlist_left_at is None
