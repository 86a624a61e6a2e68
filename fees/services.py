import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction

from core import audit
from fees.models import FeeItem, FeeSchedule, MrpRate

REFERENCE_FILE = Path(__file__).resolve().parent / "data" / "fees.json"


def reference_fees_load(
    *, path: Path = REFERENCE_FILE, overwrite: bool = False, actor: Any = None
) -> dict[str, int]:
    """Load MRP by year (R2) and the fee schedules (R3). Existing rows are kept unless
    `overwrite`: operators own these values once they are in."""
    data = json.loads(path.read_text(encoding="utf-8"))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for year, value in data["mrp_by_year"].items():
            rate = MrpRate.objects.filter(year=int(year)).first()
            value = Decimal(str(value))
            if rate is None:
                rate = MrpRate.objects.create(year=int(year), value=value)
                audit.record("fees.mrp_set", actor=actor, target=rate, after={"value": value})
                counts["created"] += 1
            elif overwrite and rate.value != value:
                audit.record(
                    "fees.mrp_set",
                    actor=actor,
                    target=rate,
                    before={"value": rate.value},
                    after={"value": value},
                )
                MrpRate.objects.filter(pk=rate.pk).update(value=value)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        for row in data["schedules"]:
            effective_from = dt.date.fromisoformat(row["effective_from"])
            basis = {key: row[key] for key in ("basis_en", "basis_ru", "basis_kk")}
            schedule = FeeSchedule.objects.filter(effective_from=effective_from).first()
            if schedule is not None and not overwrite:
                counts["unchanged"] += 1
                continue
            if schedule is None:
                schedule = FeeSchedule.objects.create(effective_from=effective_from, **basis)
                counts["created"] += 1
            else:
                FeeSchedule.objects.filter(pk=schedule.pk).update(**basis)
                counts["updated"] += 1
            for service, mrp in row["items"].items():
                FeeItem.objects.update_or_create(
                    schedule=schedule, service=service, defaults={"mrp": mrp}
                )
            audit.record(
                "fees.schedule_loaded",
                actor=actor,
                target=schedule,
                after={**basis, "items": row["items"]},
            )
    return counts
