"""The small-vs-large table of `bench.scale`, as markdown."""

import datetime as dt
import os
from pathlib import Path

from bench.scale.common import DATABASES, Sizes

SLOW_RATIO = 1.5


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def table(results: dict) -> tuple[list[str], list[str]]:
    """The table's lines and the names of the items slower on the large database."""
    lines = [
        "| what | small | large | ratio | queries (small / large) |",
        "|---|---:|---:|---:|---:|",
    ]
    slow = []
    for name, small in results["small"].items():
        large = results["large"][name]
        ratio = large["seconds"] / small["seconds"] if small["seconds"] else float("inf")
        if ratio > SLOW_RATIO:
            slow.append(name)
        mark = " ⚠" if ratio > SLOW_RATIO else ""
        lines.append(
            f"| {name} | {_ms(small['seconds'])} | {_ms(large['seconds'])} | "
            f"{ratio:.2f}{mark} | {small['queries']} / {large['queries']} |"
        )
    return lines, slow


def write_report(path: Path, *, sizes: Sizes, built: dict, results: dict, elapsed: float) -> None:
    counts = built["counts"]
    lines = [
        "# `bench.scale`: a small and a national-size database",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores; "
        f"asked for {sizes.bookings:,} bookings over {sizes.years:g} years "
        f"({sizes.copies} copies of a core week of {sizes.core_per_day} bookings a day, "
        f"{sizes.carriers} carriers). Core week through the services "
        f"{built['timings']['core']:.0f} s, bulk growth {built['timings']['grow']:.0f} s; "
        f"this invocation (from step `{built.get('first', 'core')}`) {elapsed / 60:.1f} min.",
        "",
        "| rows | " + " | ".join(DATABASES.values()) + " |",
        "|---|---:|---:|",
    ]
    for label in counts["small"]:
        small, large = counts["small"][label], counts["large"][label]
        if label == "database size":
            lines.append(f"| {label} | {small / 2**20:,.0f} MiB | {large / 2**20:,.0f} MiB |")
        else:
            lines.append(f"| {label} | {small:,} | {large:,} |")
    if "verify" in built:
        checks = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in built["verify"].items())
        lines += ["", f"On the large database, all three passed: {checks}."]
    rows, slow = table(results)
    lines += [
        "",
        "Median of the runs; queries of the last run. Requests through Django's test Client "
        "(DEBUG off, Redis cache flushed before each cold run); jobs called as their tasks call "
        "them, each in a transaction rolled back afterwards. ⚠: more than "
        f"{SLOW_RATIO}× slower on the large database.",
        "",
        *rows,
    ]
    for name in slow:
        item = results["large"][name]
        lines += [
            "",
            f"### {name}: slowest query on the large database "
            f"({item['slowest_seconds'] * 1000:.1f} ms of {_ms(item['seconds'])})",
            "",
            "```sql",
            item["slowest_sql"][:3000],
            "```",
            "",
            "```",
            item["plan"] or "(not explainable)",
            "```",
        ]
    path.write_text("\n".join(lines) + "\n")
