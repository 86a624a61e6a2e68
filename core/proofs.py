"""Proofs that an object's audit events are in a published chain head (W6, A6).

A proof is one JSON file (docs/proofs.md) that anyone can check without the portal's database:
for each event its canonical content (the exact text that was hashed), its event and leaf hashes
and its Merkle path to the root of the batch that sealed it; for each published daily head the
chain of batch roots from the first of those batches up to the head. Checking recomputes every
hash with core.audit's own functions (the same code that sealed the chain) and ends on the head's
hash, which the reader compares with the one published (the transparency page, the API), or the
portal compares with its own publications.

Events not yet in a published head are listed apart ("pending"): their content and hash, and,
once sealed, their path to the batch; what they lack is only the published head after them.

A proof shows that the events it lists are in the chain as they read; it cannot show that the
object has no other events.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from django.db.models import Count, Max
from django.utils.translation import gettext as _

from core import audit, clock
from core.models import AuditBatch, AuditEvent, AuditHeadPublication

FORMAT = "kezek-audit-proof"
VERSION = 1
# A proof holds a day of batch roots per head at most (64 hex each); far below this size.
MAX_PROOF_BYTES = 10 * 1024 * 1024

PENDING_UNSEALED = "unsealed"
PENDING_SEALED = "sealed"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SHARED_KEYS = frozenset(
    {"occurred_at", "action", "object_type", "object_id", "object_repr", "before", "after"}
)
# Who acted and from where: in the clear in events recorded before `person_salt` existed, else
# committed to by `person` (core.audit.event_payload).
_EVENT_KEY_SETS = (
    _SHARED_KEYS | {"person"},
    _SHARED_KEYS | {"actor_id", "actor_label", "ip"},
)


# --- The published heads ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PublishedHead:
    day: dt.date
    batch_number: int
    batch_hash: str
    published_at: dt.datetime
    sealed_at: dt.datetime


def heads_stamp() -> str:
    """A version of the published heads: publications are only ever added (the database refuses
    UPDATE and DELETE, A6), so their count and newest id name the whole set."""
    seen = AuditHeadPublication.objects.aggregate(count=Count("id"), newest=Max("id"))
    return f"heads-{seen['count']}-{seen['newest'] or 0}"


def published_heads(*, first_day: dt.date, last_day: dt.date) -> list[PublishedHead]:
    """The heads published for the days from `first_day` to `last_day`, newest first."""
    rows = (
        AuditHeadPublication.objects.filter(day__gte=first_day, day__lte=last_day)
        .order_by("-day")
        .values_list("day", "batch__number", "batch_hash", "published_at", "batch__sealed_at")
    )
    return [PublishedHead(*row) for row in rows]


def published_head(day: dt.date) -> PublishedHead | None:
    heads = published_heads(first_day=day, last_day=day)
    return heads[0] if heads else None


def any_head_before(day: dt.date) -> bool:
    return AuditHeadPublication.objects.filter(day__lt=day).exists()


def published_head_hash(day: dt.date) -> str | None:
    """The hash published for `day` here, for checking a proof against this portal's record."""
    return AuditHeadPublication.objects.filter(day=day).values_list("batch_hash", flat=True).first()


# --- Making a proof --------------------------------------------------------------------------


def _event_entry(event: AuditEvent) -> dict[str, Any]:
    canonical = audit.canonical_json(audit.event_payload(event)).decode()
    # The hash as stored and sealed: if the row was edited, the proof shows it (it fails).
    return {
        "id": event.pk,
        "canonical": canonical,
        "event_hash": event.event_hash,
        "leaf_hash": audit.leaf_hash(event.pk, event.event_hash).hex(),
    }


def object_proof(*, object_type: str, object_id: str | int, label: str = "") -> dict[str, Any]:
    """The proof document (docs/proofs.md) for the audit events whose object is the one named:
    each event in the earliest published head that holds its batch, the rest as pending."""
    events = list(
        AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id)).order_by("id")
    )
    groups: dict[int, dict[str, Any]] = {}  # publication id -> its head entry
    firsts: dict[int, int] = {}  # publication id -> the first batch its events need
    publications: dict[int, AuditHeadPublication | None] = {}  # batch number -> covering head
    pending: list[dict[str, Any]] = []
    for event in events:
        entry = _event_entry(event)
        proof = audit.inclusion_proof(event)
        if proof is None:
            pending.append(
                {**entry, "state": PENDING_UNSEALED, "batch": None, "path": []},
            )
            continue
        path = [[side, sibling] for side, sibling in proof.path]
        number = proof.batch_number
        if number not in publications:
            publications[number] = (
                AuditHeadPublication.objects.select_related("batch")
                .filter(batch__number__gte=number)
                .order_by("day")
                .first()
            )
        publication = publications[number]
        if publication is None:
            batch = {
                "number": number,
                "previous_hash": proof.previous_hash,
                "merkle_root": proof.merkle_root,
                "batch_hash": proof.batch_hash,
            }
            pending.append({**entry, "state": PENDING_SEALED, "batch": batch, "path": path})
            continue
        head = groups.setdefault(
            publication.pk,
            {
                "day": publication.day.isoformat(),
                "batch_number": publication.batch.number,
                "batch_hash": publication.batch_hash,
                "published_at": publication.published_at.astimezone(dt.UTC).isoformat(),
                "events": [],
            },
        )
        firsts[publication.pk] = min(firsts.get(publication.pk, number), number)
        head["events"].append({**entry, "batch_number": number, "path": path})
    heads = []
    for publication_id, head in groups.items():
        first = firsts[publication_id]
        links = list(
            AuditBatch.objects.filter(number__gte=first, number__lte=head["batch_number"])
            .order_by("number")
            .values_list("previous_hash", "merkle_root")
        )
        head["chain"] = {
            "first_batch": first,
            "previous_hash": links[0][0] if links else "",
            "merkle_roots": [root for _previous, root in links],
        }
        heads.append(head)
    heads.sort(key=lambda head: head["day"])
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": clock.now().astimezone(dt.UTC).isoformat(),
        "subject": {"object_type": object_type, "object_id": str(object_id), "label": label},
        "heads": heads,
        "pending": pending,
    }


def proof_json(document: dict[str, Any]) -> bytes:
    """The file as served: indented for people, UTF-8."""
    return json.dumps(document, ensure_ascii=False, indent=1).encode() + b"\n"


# --- Checking a proof ------------------------------------------------------------------------


class ProofError(Exception):
    """The proof is not valid: `message` says why, in the reader's language."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class CheckedEvent:
    id: int
    occurred_at: dt.datetime | str  # the text itself when it is no ISO 8601 time
    action: str
    actor_label: str
    content: dict[str, Any]
    batch_number: int | None
    head_day: dt.date | None = None  # None: pending
    state: str = ""  # for a pending event: unsealed or sealed


@dataclasses.dataclass(frozen=True)
class CheckedHead:
    day: dt.date
    batch_number: int
    batch_hash: str
    first_batch: int
    events: int
    compared: bool  # compared with this portal's publication (else: to compare by hand)


@dataclasses.dataclass
class ProofCheck:
    """The verdict: `problem` is None when the proof is valid, else the first reason it is not."""

    problem: str | None = None
    subject: dict[str, str] = dataclasses.field(default_factory=dict)
    heads: list[CheckedHead] = dataclasses.field(default_factory=list)
    proven: list[CheckedEvent] = dataclasses.field(default_factory=list)
    pending: list[CheckedEvent] = dataclasses.field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.problem is None


def load_proof(raw: bytes) -> Any:
    """The JSON of a proof file; ProofError when it is too large, not UTF-8 or not JSON."""
    if len(raw) > MAX_PROOF_BYTES:
        raise ProofError(
            _("The file is larger than %(size)d MB: it is not a proof from this portal.")
            % {"size": MAX_PROOF_BYTES // (1024 * 1024)}
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProofError(_("The file is not text in UTF-8: it is not a proof.")) from exc
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        if line is not None:
            raise ProofError(
                _("The file is not valid JSON (line %(line)d): it was cut or changed.")
                % {"line": line}
            ) from exc
        raise ProofError(_("The file is not valid JSON: it was cut or changed.")) from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def verify_proof(
    document: Any, *, published: Callable[[dt.date], str | None] | None = None
) -> ProofCheck:
    """Check a proof document (docs/proofs.md, "Checking a proof") with core.audit's hashing.

    `published(day)` gives the head hash this portal published for the day (None: none): each
    head of the proof must be it. Without it the check is of the file alone, and the heads it
    reaches are listed to be compared with the published ones by hand.
    """
    check = ProofCheck()
    try:
        _verify(document, published, check)
    except ProofError as exc:
        check.problem = exc.message
    return check


def _verify(
    document: Any, published: Callable[[dt.date], str | None] | None, check: ProofCheck
) -> None:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ProofError(_("This file is not a Kezek audit proof."))
    if document.get("version") != VERSION:
        raise ProofError(
            _("This proof has format version %(version)s; this check reads version %(known)s.")
            % {"version": document.get("version"), "known": VERSION}
        )
    subject = document.get("subject")
    if (
        not isinstance(subject, dict)
        or not isinstance(subject.get("object_type"), str)
        or not isinstance(subject.get("object_id"), str)
        or not subject["object_type"]
        or not subject["object_id"]
    ):
        raise ProofError(_("The proof does not say which object it is about."))
    # The subject's label is not hashed: what the reader is shown is the object's name as the
    # newest proven event has it (set by _verify_event).
    check.subject = {
        "object_type": subject["object_type"],
        "object_id": subject["object_id"],
        "label": "",
    }
    heads, pending = document.get("heads"), document.get("pending")
    if not isinstance(heads, list) or not isinstance(pending, list):
        raise ProofError(_("The proof has no list of heads or of pending events."))
    seen: set[int] = set()
    for head in heads:
        _verify_head(head, check, seen, published)
    for entry in pending:
        _verify_pending(entry, check, seen)
    if not seen:
        raise ProofError(_("The proof holds no events."))


def _hex64(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ProofError(
            _("%(what)s is not a SHA-256 hash (64 lowercase hexadecimal digits).") % {"what": what}
        )
    return value


def _number(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ProofError(_("%(what)s is not a positive whole number.") % {"what": what})
    return value


def _verify_head(
    head: Any,
    check: ProofCheck,
    seen: set[int],
    published: Callable[[dt.date], str | None] | None,
) -> None:
    if not isinstance(head, dict):
        raise ProofError(_("A head of the proof is not an object."))
    try:
        day = dt.date.fromisoformat(head.get("day"))
    except (TypeError, ValueError) as exc:
        raise ProofError(_("A head of the proof has no day (YYYY-MM-DD).")) from exc
    where = _("The head of %(day)s") % {"day": day.isoformat()}
    number = _number(head.get("batch_number"), where)
    head_hash = _hex64(head.get("batch_hash"), where)
    chain = head.get("chain")
    if not isinstance(chain, dict) or not isinstance(chain.get("merkle_roots"), list):
        raise ProofError(_("%(where)s has no chain of batches.") % {"where": where})
    first = _number(chain.get("first_batch"), where)
    previous = _hex64(chain.get("previous_hash"), where)
    roots = [_hex64(root, where) for root in chain["merkle_roots"]]
    if first > number or len(roots) != number - first + 1:
        raise ProofError(
            _(
                "%(where)s: the chain must hold one root for each batch "
                "from #%(first)s to #%(last)s."
            )
            % {"where": where, "first": first, "last": number}
        )
    # batch_hash(n) = SHA-256(batch_hash(n - 1) ‖ root(n)), core.audit.chain_hash (A6).
    reached = previous
    for root in roots:
        reached = audit.chain_hash(reached, root)
    if reached != head_hash:
        raise ProofError(
            _(
                "%(where)s: the chain of batches from #%(first)s does not lead to the head's hash:"
                " a root or the head was changed."
            )
            % {"where": where, "first": first}
        )
    compared = False
    if published is not None:
        published_hash = published(day)
        if published_hash is None:
            raise ProofError(
                _("No head was published here for %(day)s: the proof names a head we never had.")
                % {"day": day.isoformat()}
            )
        if published_hash != head_hash:
            raise ProofError(
                _("The head of %(day)s in the proof is not the one published for that day.")
                % {"day": day.isoformat()}
            )
        compared = True
    events = head.get("events")
    if not isinstance(events, list) or not events:
        raise ProofError(_("%(where)s lists no events.") % {"where": where})
    for entry in events:
        content, event_id = _verify_event(entry, check, seen)
        batch = _number(entry.get("batch_number"), _("Event #%(id)s") % {"id": event_id})
        if not first <= batch <= number:
            raise ProofError(
                _("Event #%(id)s is in batch #%(batch)s, outside the chain of %(day)s.")
                % {"id": event_id, "batch": batch, "day": day.isoformat()}
            )
        if _climb(entry, event_id) != roots[batch - first]:
            raise ProofError(
                _(
                    "Event #%(id)s: its Merkle path does not lead to the root of batch #%(batch)s:"
                    " the path or the event was changed."
                )
                % {"id": event_id, "batch": batch}
            )
        check.proven.append(_checked(event_id, content, batch, head_day=day))
    check.heads.append(
        CheckedHead(
            day=day,
            batch_number=number,
            batch_hash=head_hash,
            first_batch=first,
            events=len(events),
            compared=compared,
        )
    )


def _verify_pending(entry: Any, check: ProofCheck, seen: set[int]) -> None:
    content, event_id = _verify_event(entry, check, seen)
    state = entry.get("state")
    if state == PENDING_UNSEALED:
        check.pending.append(_checked(event_id, content, None, state=state))
        return
    if state != PENDING_SEALED:
        raise ProofError(
            _("Pending event #%(id)s is neither sealed nor unsealed.") % {"id": event_id}
        )
    batch = entry.get("batch")
    if not isinstance(batch, dict):
        raise ProofError(_("Pending event #%(id)s names no batch.") % {"id": event_id})
    where = _("Batch of event #%(id)s") % {"id": event_id}
    number = _number(batch.get("number"), where)
    root = _hex64(batch.get("merkle_root"), where)
    if _climb(entry, event_id) != root:
        raise ProofError(
            _(
                "Event #%(id)s: its Merkle path does not lead to the root of batch #%(batch)s:"
                " the path or the event was changed."
            )
            % {"id": event_id, "batch": number}
        )
    previous = _hex64(batch.get("previous_hash"), where)
    if audit.chain_hash(previous, root) != _hex64(batch.get("batch_hash"), where):
        raise ProofError(
            _("Batch #%(batch)s: its hash does not match its root and the previous hash.")
            % {"batch": number}
        )
    check.pending.append(_checked(event_id, content, number, state=state))


def _verify_event(entry: Any, check: ProofCheck, seen: set[int]) -> tuple[dict[str, Any], int]:
    """The event's content, read from its canonical text once that text is proven to hash to
    the event hash and the leaf; the event must be about the proof's subject."""
    if not isinstance(entry, dict):
        raise ProofError(_("An event of the proof is not an object."))
    event_id = _number(entry.get("id"), _("An event's id"))
    if event_id in seen:
        raise ProofError(_("Event #%(id)s is listed twice.") % {"id": event_id})
    seen.add(event_id)
    canonical = entry.get("canonical")
    where = _("Event #%(id)s") % {"id": event_id}
    if not isinstance(canonical, str):
        raise ProofError(_("%(where)s has no canonical content.") % {"where": where})
    try:
        content = json.loads(canonical, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        content = None
    # Only the canonical form is accepted: what the reader is shown is exactly what was hashed
    # (no duplicate keys, no second spelling of the same content).
    if (
        not isinstance(content, dict)
        or set(content) not in _EVENT_KEY_SETS
        or audit.canonical_json(content).decode() != canonical
    ):
        raise ProofError(
            _("%(where)s: its content is not an audit event in canonical JSON.") % {"where": where}
        )
    event_hash = _hex64(entry.get("event_hash"), where)
    if audit.payload_hash(content) != event_hash:
        raise ProofError(
            _("%(where)s: its content does not match its hash: the event was changed.")
            % {"where": where}
        )
    if _hex64(entry.get("leaf_hash"), where) != audit.leaf_hash(event_id, event_hash).hex():
        raise ProofError(
            _("%(where)s: its leaf hash does not match its id and hash.") % {"where": where}
        )
    subject = check.subject
    if (content["object_type"], content["object_id"]) != (
        subject["object_type"],
        subject["object_id"],
    ):
        raise ProofError(
            _("%(where)s is about another object than the proof's subject.") % {"where": where}
        )
    if event_id >= max(seen):
        check.subject["label"] = str(content["object_repr"])
    return content, event_id


def _climb(entry: dict[str, Any], event_id: int) -> str:
    path = entry.get("path")
    where = _("Event #%(id)s") % {"id": event_id}
    if not isinstance(path, list) or not all(
        isinstance(step, list) and len(step) == 2 and step[0] in ("L", "R") for step in path
    ):
        raise ProofError(
            _("%(where)s: its Merkle path is not a list of [side, hash] steps.") % {"where": where}
        )
    for _side, sibling in path:
        _hex64(sibling, where)
    leaf = audit.leaf_hash(event_id, entry["event_hash"])
    return audit.climb_merkle_path(leaf, path).hex()


def _checked(
    event_id: int,
    content: dict[str, Any],
    batch: int | None,
    *,
    head_day: dt.date | None = None,
    state: str = "",
) -> CheckedEvent:
    occurred_at: dt.datetime | str = str(content["occurred_at"])
    with contextlib.suppress(ValueError):
        occurred_at = dt.datetime.fromisoformat(occurred_at)
    return CheckedEvent(
        id=event_id,
        occurred_at=occurred_at,
        action=str(content["action"]),
        actor_label=str(content.get("actor_label", "")),
        content=content,
        batch_number=batch,
        head_day=head_day,
        state=state,
    )
