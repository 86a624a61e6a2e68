"""The draw's arithmetic (F4, F6), pure: the same functions run the draw and check it.

- leaf of a request = the audit chain's leaf hash (core.audit.leaf_hash) of its id and the
  SHA-256 of its published fields (carrier hash, service, hours), in canonical JSON;
- R = the audit chain's Merkle root (core.audit.merkle_root) over the leaves in id order
  (SHA-256 of nothing when there is no request);
- seed = SHA-256(secret ‖ R), both as their 32 bytes;
- rank = SHA-256(seed ‖ request id), the id as decimal digits; lowest rank goes first;
- random serial dictatorship: in rank order each request gets its most preferred hour whose
  pool still has a place (a regular request: that hour's places; a priority one: the day's
  quota, on an hour open that day); a skipped request (F5) takes nothing.

Everything a check needs is in the draw's published document (`selectors.draw_document`), so
`verify_document` recomputes a draw from that document alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.utils.translation import gettext as _

from core.audit import canonical_json, leaf_hash, merkle_root

REGULAR = "regular"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def commitment_of(secret: str) -> str:
    """C = SHA-256(secret), the secret as its bytes (hex in storage)."""
    return sha256_hex(bytes.fromhex(secret))


def carrier_hash(request_id: int, salt: str) -> str:
    """What the public page shows instead of the carrier (F6): only the holder of the salt can
    tell that a request is theirs."""
    return sha256_hex(f"{request_id}:{salt}".encode())


def request_leaf(request_id: int, carrier: str, service: str, hours: Sequence[int]) -> bytes:
    fields = {"carrier": carrier, "hours": list(hours), "id": request_id, "service": service}
    return leaf_hash(request_id, sha256_hex(canonical_json(fields)))


def root_of(leaves: Sequence[bytes]) -> str:
    return merkle_root(leaves).hex() if leaves else EMPTY_ROOT


def seed_of(secret: str, root: str) -> str:
    return sha256_hex(bytes.fromhex(secret) + bytes.fromhex(root))


def rank_of(seed: str, request_id: int) -> str:
    return sha256_hex(bytes.fromhex(seed) + str(request_id).encode())


def pool_of(service: str, hour: int) -> str:
    """Where a place comes from: an hour's regular places, or the day's quota (C2, F8)."""
    return f"{REGULAR}:{hour:02d}" if service == REGULAR else service


@dataclasses.dataclass(frozen=True)
class Entry:
    """One request as the allocation sees it."""

    id: int
    service: str
    hours: tuple[int, ...]
    rank: str


def allocate(
    entries: Iterable[Entry],
    places: Mapping[str, int],
    open_hours: Iterable[int],
    skipped: Iterable[int] = (),
) -> dict[int, int | None]:
    """Random serial dictatorship (F4): {request id: hour won, or None}. In memory, one pass in
    rank order; `skipped` requests (F5) take nothing and the place goes on down the ranks."""
    left = dict(places)
    open_set = set(open_hours)
    skip = set(skipped)
    won: dict[int, int | None] = {}
    for entry in sorted(entries, key=lambda e: (e.rank, e.id)):
        won[entry.id] = None
        if entry.id in skip:
            continue
        for hour in entry.hours:
            if entry.service != REGULAR and hour not in open_set:
                continue
            pool = pool_of(entry.service, hour)
            if left.get(pool, 0) > 0:
                left[pool] -= 1
                won[entry.id] = hour
                break
    return won


# --- Checking a published draw (F6) ------------------------------------------------------------


@dataclasses.dataclass
class Verdict:
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_document(document: Mapping[str, Any]) -> Verdict:
    """Recompute a draw from its published document alone: the commitment, R from the requests,
    the seed, every rank and every outcome. Each difference is one line of `problems`."""
    verdict = Verdict()
    problems = verdict.problems
    try:
        secret = str(document["secret"])
        requests = list(document["requests"])
        commitment_ok = commitment_of(secret) == document["commitment"]
    except (KeyError, TypeError, ValueError) as exc:
        return Verdict([_("The document is incomplete or malformed: %(error)s") % {"error": exc}])
    if not commitment_ok:
        problems.append(
            _("The secret does not match the commitment C published before the window.")
        )
    if document.get("request_count") != len(requests):
        problems.append(
            _("%(listed)s requests are listed, the draw says %(count)s.")
            % {"listed": len(requests), "count": document.get("request_count")}
        )
    try:
        ordered = sorted(requests, key=lambda r: int(r["id"]))
        leaves = [
            request_leaf(int(r["id"]), str(r["carrier"]), str(r["service"]), list(r["hours"]))
            for r in ordered
        ]
    except (KeyError, TypeError, ValueError) as exc:
        return Verdict([*problems, _("A request is malformed: %(error)s") % {"error": exc}])
    root = root_of(leaves)
    if root != document.get("merkle_root"):
        problems.append(
            _("The requests give the Merkle root %(root)s; published: %(published)s.")
            % {"root": root, "published": document.get("merkle_root")}
        )
    seed = seed_of(secret, root)
    if seed != document.get("seed"):
        problems.append(
            _("SHA-256(secret ‖ R) is %(seed)s; published: %(published)s.")
            % {"seed": seed, "published": document.get("seed")}
        )
    entries = []
    for r in ordered:
        rank = rank_of(seed, int(r["id"]))
        if rank != r.get("rank"):
            problems.append(
                _("Request %(id)s: the rank is %(rank)s; published: %(published)s.")
                % {"id": r["id"], "rank": rank, "published": r.get("rank")}
            )
        entries.append(Entry(int(r["id"]), str(r["service"]), tuple(r["hours"]), rank))
    skipped = [int(r["id"]) for r in ordered if r.get("outcome") == "skipped"]
    won = allocate(entries, document.get("places") or {}, document.get("open_hours") or [], skipped)
    for r in ordered:
        hour = won[int(r["id"])]
        outcome = (
            "skipped"
            if int(r["id"]) in skipped
            else ("won" if hour is not None else "unsuccessful")
        )
        if outcome != r.get("outcome") or (outcome == "won" and hour != r.get("hour")):
            problems.append(
                _("Request %(id)s: the draw gives %(outcome)s; published: %(published)s.")
                % {
                    "id": r["id"],
                    "outcome": _outcome_text(outcome, hour),
                    "published": _outcome_text(r.get("outcome"), r.get("hour")),
                }
            )
    return verdict


def _outcome_text(outcome: Any, hour: Any) -> str:
    if outcome == "won" and isinstance(hour, int):
        return _("won at %(hour)s") % {"hour": f"{hour:02d}:00"}
    return {"won": _("won"), "unsuccessful": _("no place"), "skipped": _("skipped")}.get(
        outcome, str(outcome)
    )
