import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.db import transaction

from checkpoints.models import Checkpoint, Country
from core import audit

REFERENCE_FILE = Path(__file__).resolve().parent / "data" / "checkpoints.json"


def _checkpoint_fields(row: dict[str, Any]) -> dict[str, Any]:
    hours = row.get("hours", "24h")
    opens_at = closes_at = None
    if hours != "24h":
        opens, closes = hours.split("-")
        opens_at, closes_at = dt.time.fromisoformat(opens), dt.time.fromisoformat(closes)
    return {
        "country_id": row["country"],
        "name_en": row["name_en"],
        "name_ru": row["name_ru"],
        "name_kk": row["name_kk"],
        "counterpart": row.get("counterpart", ""),
        "region": row.get("region", ""),
        "serves_trucks": row.get("trucks", True),
        "daily_capacity": row["daily_capacity"],
        "capacity_source": row["capacity_source"],
        "opens_at": opens_at,
        "closes_at": closes_at,
        "queue_since": dt.date.fromisoformat(row["eqs_since"]) if row.get("eqs_since") else None,
        "note": row.get("note", ""),
    }


def reference_checkpoints_load(
    *, path: Path = REFERENCE_FILE, overwrite: bool = False, actor: Any = None
) -> dict[str, int]:
    """Load countries and checkpoints (R1). Rows an operator already has are left as they are
    unless `overwrite`, so running it again never undoes an operator's edits."""
    data = json.loads(path.read_text(encoding="utf-8"))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for row in data["countries"]:
            fields = {key: row[key] for key in ("name_en", "name_ru", "name_kk")}
            _upsert(Country, {"code": row["code"]}, fields, overwrite, counts, actor)
        for row in data["checkpoints"]:
            _upsert(
                Checkpoint, {"code": row["code"]}, _checkpoint_fields(row), overwrite, counts, actor
            )
    return counts


def _upsert(model, lookup, fields, overwrite, counts, actor) -> None:
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        instance = model.objects.create(**lookup, **fields)
        audit.record("reference.created", actor=actor, target=instance, after=fields)
        counts["created"] += 1
        return
    before = {key: getattr(instance, key) for key in fields}
    if not overwrite or before == fields:
        counts["unchanged"] += 1
        return
    model.objects.filter(pk=instance.pk).update(**fields)
    audit.record("reference.updated", actor=actor, target=instance, before=before, after=fields)
    counts["updated"] += 1
