# The command starts programs (psql, redis-cli, manage.py, itself) with fixed arguments.
# ruff: noqa: S603
"""`python -m bench.scale` (`make bench-scale`): a small and a national-size database, measured.

Builds kezek_scale_small (one week of traffic through the services, plus today's) and
kezek_scale_large (the same week and, copied back week by week with bulk SQL, years of history:
`--bookings` in all), checks the large one with verify_ledger, verify_capacity and
verify_audit_chain (each --full), then measures the request paths and the periodic jobs on each
in a process of its own and writes the small-vs-large table to bench/results/scale.md.
"""

import argparse
import json
import subprocess
import sys
import time

from bench.scale.common import (
    DATABASES,
    PG,
    PY,
    REDIS,
    REDIS_DB,
    REPORT,
    ROOT,
    WORK,
    Sizes,
    django_env,
    say,
)
from bench.scale.report import write_report


def run(*command: str, env: dict | None = None, log: str | None = None) -> str:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if log:
        (WORK / log).write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.stdout.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit(f"failed: {' '.join(command)}")
    return done.stdout


def facts_of(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("FACTS ")]
    return json.loads(lines[-1][len("FACTS ") :])


def psql(sql: str) -> None:
    run("psql", f"{PG}/postgres", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql)


def manage(which: str, *args: str, log: str | None = None) -> str:
    return run(PY, "manage.py", *args, env=django_env(which), log=log)


STEPS = ("core", "grow", "live", "measure")


def save(built: dict) -> None:
    (WORK / "build.json").write_text(json.dumps(built))


def step_core(sizes: Sizes, built: dict) -> None:
    small, large = DATABASES["small"], DATABASES["large"]
    for name in (small, large):
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{small}"')
    # The build commits hour by hour of a week; a durable commit each time only slows it down.
    psql(f'ALTER DATABASE "{small}" SET synchronous_commit = off')
    for which in DATABASES:
        run("redis-cli", "-u", f"{REDIS}/{REDIS_DB[which]}", "flushdb")
    say(f"{small}: migrate, reference data")
    manage("small", "migrate", "--noinput", log="migrate.log")
    manage("small", "load_reference_data", log="reference.log")
    say(
        f"core week through the services: {sizes.core_per_day} bookings a day, "
        f"{sizes.carriers} carriers"
    )
    started = time.monotonic()
    out = run(
        PY,
        "-m",
        "bench.scale.core",
        "history",
        str(sizes.core_per_day),
        str(sizes.carriers),
        env=django_env("small", eager=True),
        log="core.log",
    )
    built["history"] = facts_of(out)
    built["timings"] = {"core": time.monotonic() - started}
    (WORK / "history.json").write_text(json.dumps(built["history"]))
    say(f"core week: {built['history']['bookings']} bookings in {built['timings']['core']:.0f} s")


def step_grow(sizes: Sizes, built: dict) -> None:
    small, large = DATABASES["small"], DATABASES["large"]
    psql(f'DROP DATABASE IF EXISTS "{large}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{large}" TEMPLATE "{small}"')
    say(f"{large}: {sizes.copies} earlier weeks copied with bulk SQL")
    started = time.monotonic()
    built["grown"] = facts_of(
        run(
            PY,
            "-m",
            "bench.scale.grow",
            str(WORK / "history.json"),
            str(sizes.copies),
            env=django_env("large"),
            log="grow.log",
        )
    )
    built["timings"]["grow"] = time.monotonic() - started
    say(f"grown in {built['timings']['grow']:.0f} s")


def step_live(sizes: Sizes, built: dict) -> None:
    live = {}
    for which in DATABASES:
        # The schema may have moved on since the core was built (migrations added meanwhile).
        manage(which, "migrate", "--noinput", log=f"migrate-{which}.log")
        say(f"{DATABASES[which]}: today's traffic through the services")
        live[which] = facts_of(
            run(
                PY,
                "-m",
                "bench.scale.core",
                "live",
                str(sizes.core_per_day),
                env=django_env(which, eager=True),
                log=f"live-{which}.log",
            )
        )
    (WORK / "live.json").write_text(json.dumps(live))
    psql(f'ALTER DATABASE "{DATABASES["small"]}" RESET synchronous_commit')
    built["live"] = live
    say("verify on the large database")
    built["verify"] = verify("large")


def verify(which: str) -> dict:
    seconds = {}
    for command in (
        ["verify_ledger", "--full"],
        ["verify_capacity", "--full"],
        # The two checks above record themselves in the audit chain; the worker would seal
        # those events within seconds, before the chain's own check calls them overdue.
        ["seal_audit", "--recent-only"],
        ["verify_audit_chain", "--full"],
    ):
        started = time.monotonic()
        out = manage(which, *command, log=f"{command[0]}-{which}.log")
        seconds[command[0]] = time.monotonic() - started
        say(f"  {' '.join(command)}: {out.strip().splitlines()[-1]} ({seconds[command[0]]:.0f} s)")
    return seconds


def counts(which: str) -> dict:
    tables = {
        "bookings": "bookings_booking",
        "transfers": "deposits_transfer",
        "receipts": "receipts_receipt",
        "outbox messages": "notify_message",
        "audit events": "core_auditevent",
        "audit batches": "core_auditbatch",
        "slot counters": "checkpoints_slotcounter",
    }
    sql = " UNION ALL ".join(
        f"SELECT '{label}', count(*) FROM {table}"  # noqa: S608
        for label, table in tables.items()
    )
    out = run(
        "psql",
        f"{PG}/{DATABASES[which]}",
        "-At",
        "-F",
        "\t",
        "-c",
        sql + f" UNION ALL SELECT 'database size', pg_database_size('{DATABASES[which]}')",
    )
    return {line.split("\t")[0]: int(line.split("\t")[1]) for line in out.splitlines() if line}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--bookings", type=int, default=200_000, help="bookings in the large db")
    parser.add_argument("--years", type=float, default=3.0, help="history of the large db")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument(
        "--heavy-runs", type=int, default=1, help="runs of the verify_* jobs (they read it all)"
    )
    parser.add_argument(
        "--from",
        dest="first",
        choices=STEPS,
        default="core",
        help="start at this step, on what the earlier steps left (bench/results/work/scale)",
    )
    args = parser.parse_args()
    sizes = Sizes(bookings=args.bookings, years=args.years)
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    built = {} if args.first == "core" else json.loads((WORK / "build.json").read_text())
    built["first"] = args.first
    steps = {"core": step_core, "grow": step_grow, "live": step_live}
    for name in STEPS[STEPS.index(args.first) :]:
        if name in steps:
            steps[name](sizes, built)
            built["done"] = name
            save(built)
    built["counts"] = {which: counts(which) for which in DATABASES}
    # The pages are measured with production settings, whose static files come from the manifest.
    manage("small", "collectstatic", "--noinput", "-v", "0", log="collectstatic.log")
    results = {}
    for which in DATABASES:
        say(f"measuring {DATABASES[which]} ({args.runs} runs each)")
        out = run(
            PY,
            "-m",
            "bench.scale.measure",
            str(WORK / "live.json"),
            which,
            str(args.runs),
            str(args.heavy_runs),
            env=django_env(which),
            log=f"measure-{which}.log",
        )
        results[which] = facts_of(out)
    elapsed = time.monotonic() - started
    path = REPORT
    write_report(path, sizes=sizes, built=built, results=results, elapsed=elapsed)
    say(f"written {path.relative_to(ROOT)} ({elapsed / 60:.1f} min)")
    print(path.read_text())


if __name__ == "__main__":
    main()
