"""What the parts of `bench.scale` share: the databases, the environment, the sizes."""

import dataclasses
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
# Another pair of databases (and files) beside the default one: BENCH_SCALE_PREFIX=kezek_scale_try.
PREFIX = os.environ.get("BENCH_SCALE_PREFIX", "kezek_scale")
WORK = RESULTS / "work" / PREFIX.replace("kezek_", "")
REPORT = RESULTS / (PREFIX.replace("kezek_", "") + ".md")
PY = sys.executable
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
DATABASES = {"small": f"{PREFIX}_small", "large": f"{PREFIX}_large"}
# A Redis db index of its own per database, flushed before each cold measurement.
REDIS_DB = {"small": 7, "large": 8}

# The core is one week of traffic made through the services; the large database holds it and
# copies of it, one per earlier week, back to `years` years.
CORE_DAYS = 7
VEHICLES_PER_CARRIER = 10  # half book on even days, half on odd days (B6)
BOOKINGS_PER_VEHICLE_DAY = 1


@dataclasses.dataclass(frozen=True)
class Sizes:
    bookings: int
    years: float

    @property
    def copies(self) -> int:
        """Earlier weeks copied from the core in the large database."""
        return max(1, round(self.years * 365 / CORE_DAYS) - 1)

    @property
    def core_per_day(self) -> int:
        return max(8, math.ceil(self.bookings / (self.copies + 1) / CORE_DAYS))

    @property
    def carriers(self) -> int:
        per_pool = VEHICLES_PER_CARRIER // 2
        return max(4, math.ceil(self.core_per_day / per_pool) + 1)


def django_env(which: str, *, eager: bool = False) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{PG}/{DATABASES[which]}",
        "REDIS_URL": f"{REDIS}/{REDIS_DB[which]}",
        "CACHE_KEY_PREFIX": f"kezek-scale-{which}",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        "SECURE_COOKIES": "0",
        "SMS_CONSOLE_ALLOWED": "1",
        "SECURE_HSTS_SECONDS": "0",
        "SECURE_SSL_REDIRECT": "0",
        "KEZEK_VAR_DIR": str(ROOT / "var" / f"bench-scale-{which}"),
        "PYTHONPATH": str(ROOT),
        # Past events are sealed by the build; the grace only matters for live traffic.
        "LOG_LEVEL": "WARNING",
    }
    # While building, the receipts and the deliveries that Celery would run after a commit run
    # in the same process, as the worker would run them.
    env["CELERY_TASK_ALWAYS_EAGER"] = "1" if eager else "0"
    return env


def say(text: str) -> None:
    print(f"[scale] {text}", flush=True)
