# The bench starts programs (wrk, gunicorn, psql, manage.py) with fixed arguments of its own.
# ruff: noqa: S603, S607
"""`make bench`: the slot rush and its neighbours, measured over HTTP on this machine.

Starts PostgreSQL-backed Kezek under gunicorn with production settings (DEBUG off) and, beside
it with the same gunicorn settings and database, the floor app (bench/floor); prepares carriers
through Kezek's services (bench/seed.py); drives both with wrk (bench/lua/requests.lua); checks
the ledger and the counters; prints the table and writes it to bench/results/latest.md.
"""

import dataclasses
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "results" / "work"
PY = sys.executable
DB_NAME = os.environ.get("BENCH_DB", "kezek_bench")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
KEZEK_PORT, FLOOR_PORT = 8700, 8701
THREADS = 2  # wrk threads: one per core
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CLK_TCK = os.sysconf("SC_CLK_TCK")

ENV = {
    **os.environ,
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": REDIS_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
    "SECURE_COOKIES": "0",
    "SECURE_HSTS_SECONDS": "0",
    # TLS ends at the proxy in production; here wrk speaks plain HTTP to gunicorn.
    "SECURE_SSL_REDIRECT": "0",
    "KEZEK_VAR_DIR": str(ROOT / "var" / "bench"),
    # The bench's 256 client addresses would pass the per-IP public limit (600/min) at about
    # 2 500 reads a second; raised so that none is refused, while every read still counts.
    "THROTTLE_PUBLIC_READ": "100000000/min",
    # The anonymous reads name their client in X-Forwarded-For (bench/lua/requests.lua), as the
    # deployment's proxy does; requests without the header count under 127.0.0.1.
    "NUM_PROXIES": "1",
    "PYTHONPATH": str(ROOT),
}


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def run(*command: str, env: dict | None = None) -> str:
    done = subprocess.run(
        command, cwd=ROOT, env=env or ENV, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stdout.write(done.stdout + done.stderr)
        raise SystemExit(f"failed: {' '.join(command)}")
    return done.stdout


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    say("installing wrk (apt-get install wrk)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    return shutil.which("wrk") or "wrk"


def ensure_services() -> None:
    """PostgreSQL and Redis, started the way .ci/run starts them when they are not running."""
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode:
        version = sorted(os.listdir("/etc/postgresql"))[0]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True
        )
    ping = ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"]
    if subprocess.run(ping, capture_output=True).returncode:
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
    for _ in range(30):
        pg = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"])
        if pg.returncode == 0 and subprocess.run(ping, capture_output=True).returncode == 0:
            return
        time.sleep(1)
    raise SystemExit("PostgreSQL or Redis did not start")


def reset_database() -> None:
    psql = ["psql", f"{PG}/postgres", "-q", "-v", "ON_ERROR_STOP=1", "-c"]
    run(*psql, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    run(*psql, f'CREATE DATABASE "{DB_NAME}"')
    run("redis-cli", "-u", REDIS_URL, "flushdb")


def prepare() -> dict:
    say(f"database {DB_NAME}: migrate, reference data, static files")
    run(PY, "manage.py", "migrate", "--noinput")
    run(PY, "manage.py", "load_reference_data")
    run(PY, "manage.py", "collectstatic", "--noinput")
    say("carriers, money, vehicles and tokens through the services (bench/seed.py)")
    facts = json.loads(run(PY, "-m", "bench.seed", str(WORK)).strip().splitlines()[-1])
    floor_env = {**ENV, "DJANGO_SETTINGS_MODULE": "bench.floor.settings"}
    accounts, counters = facts["carriers"], 5000
    run(
        PY,
        "-c",
        "import django; django.setup(); from bench.floor.views import schema_create; "
        f"schema_create(accounts={accounts}, counters={counters}, capacity=1000000, "
        "balance='1000000000.00')",
        env=floor_env,
    )
    rows = [
        (
            "POST",
            "/book",
            "",
            json.dumps(
                {"account": i % accounts + 1, "counter": i % counters + 1, "vehicle": i},
                separators=(",", ":"),
            ),
        )
        for i in range(counters)
    ]
    lua = ["return {"]
    lua += ["{" + ",".join(f"[==[{part}]==]" for part in row) + "}," for row in rows]
    (WORK / "floor_book.lua").write_text("\n".join([*lua, "}"]) + "\n")
    (WORK / "floor_const.lua").write_text('return { {"GET", "/const", "", ""} }\n')
    return facts


@dataclasses.dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen

    def pids(self) -> list[int]:
        """The master and its workers."""
        found = [self.process.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return found


def start_server(name: str, app: str, port: int, env: dict) -> Server:
    # The request log stays on (as in production) and goes to a file, not the terminal.
    log = (WORK / f"{name}.log").open("w")
    process = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            app,
            "--config",
            str(BENCH / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Server(name, port, process)


def wait_ready(server: Server, path: str) -> None:
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5):
                return
        except OSError:
            if server.process.poll() is not None:
                raise SystemExit(f"{server.name} did not start") from None
            time.sleep(0.5)
    raise SystemExit(f"{server.name} did not answer {path}")


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    ticks = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def cpu_seconds_since(before: dict[int, int], pids: list[int]) -> float:
    """CPU seconds used since `before` by `pids` (a process that ended meanwhile is not
    counted; one that started counts from zero)."""
    after = cpu_ticks(pids)
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / CLK_TCK


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclasses.dataclass
class Result:
    scenario: str
    app: str
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict
    codes: dict
    socket_errors: int
    server_cpu: float
    wrk_cpu: float
    postgres_cpu: float
    ratio: float | None = None
    ratio_to: str = ""

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def drive(
    wrk: str,
    scenario: str,
    server: Server,
    requests_file: Path,
    *,
    clients: int,
    mode: str = "cycle",
    seconds: int = SECONDS,
) -> Result:
    """One wrk run; in "once" mode wrk is stopped when every request has been answered."""
    threads = min(THREADS, clients)
    command = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(clients),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{seconds + 30}s",
        "-s",
        str(BENCH / "lua" / "requests.lua"),
        f"http://127.0.0.1:{server.port}",
        "--",
        str(requests_file),
        mode,
        str(threads),
    ]
    server_pids, pg_pids = server.pids(), postgres_pids()
    server_before, pg_before = cpu_ticks(server_pids), cpu_ticks(pg_pids)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    finished_threads, answer, finished_at = 0, None, None
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("BENCH_THREAD_DONE"):
            finished_threads += 1
            if finished_threads == threads:
                finished_at = time.monotonic()
                process.send_signal(signal.SIGINT)  # wrk stops its run early and reports
        elif line.startswith("BENCH_JSON "):
            answer = json.loads(line.split(" ", 1)[1])
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = (finished_at or time.monotonic()) - started
    server_cpu = cpu_seconds_since(server_before, server_pids)
    pg_cpu = cpu_seconds_since(pg_before, postgres_pids())
    if answer is None:
        raise SystemExit(f"wrk gave no results for {scenario}")
    seconds_measured = wall if finished_at else answer["duration_us"] / 1e6
    return Result(
        scenario=scenario,
        app=server.name,
        clients=clients,
        requests=answer["requests"],
        seconds=seconds_measured,
        p50_ms=answer["p50_us"] / 1000,
        p95_ms=answer["p95_us"] / 1000,
        p99_ms=answer["p99_us"] / 1000,
        statuses=answer["statuses"],
        codes=answer["codes"],
        socket_errors=sum(answer[key] for key in ("connect", "read", "write", "timeout")),
        server_cpu=100 * server_cpu / seconds_measured,
        wrk_cpu=100 * (usage.ru_utime + usage.ru_stime) / seconds_measured,
        postgres_cpu=100 * pg_cpu / seconds_measured,
    )


def verify() -> dict[str, tuple[bool, str]]:
    checks = {}
    for command in ("verify_ledger", "verify_capacity"):
        done = subprocess.run(
            [PY, "manage.py", command], cwd=ROOT, env=ENV, capture_output=True, text=True
        )
        text = (done.stdout + done.stderr).strip().splitlines()
        checks[command] = (done.returncode == 0, text[-1] if text else "")
    return checks


def rush_booked(facts: dict) -> int:
    code = (
        "import django; django.setup(); from bookings.models import Booking; "
        f"print(Booking.objects.filter(checkpoint__code={facts['rush_checkpoint']!r}, "
        f"direction='exit', slot_start__date={facts['rush_date']!r}).count())"
    )
    env = {**ENV, "DJANGO_SETTINGS_MODULE": "config.settings"}
    return int(run(PY, "-c", code, env=env).strip().splitlines()[-1])


def statuses_text(result: Result) -> str:
    parts = []
    for status, count in sorted(result.statuses.items()):
        codes = [
            f"{key.split(':', 1)[1]} {n}"
            for key, n in sorted(result.codes.items())
            if key.startswith(status + ":")
        ]
        parts.append(f"{status}×{count}" + (f" ({', '.join(codes)})" if codes else ""))
    if result.socket_errors:
        parts.append(f"socket errors×{result.socket_errors}")
    return ", ".join(parts)


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | app | clients | requests | req/s | p50 ms | p95 ms | p99 ms | answers "
        "| ratio to floor | web CPU % | wrk CPU % | PostgreSQL CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.ratio:.0%} of {r.ratio_to}" if r.ratio is not None else "—"
        lines.append(
            f"| {r.scenario} | {r.app} | {r.clients} | {r.requests} | {r.throughput:.1f} | "
            f"{r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | {statuses_text(r)} | {ratio} | "
            f"{r.server_cpu:.0f} | {r.wrk_cpu:.1f} | {r.postgres_cpu:.0f} |"
        )
    return "\n".join(lines)


def server_settings() -> str:
    """The gunicorn settings both apps ran with, as bench/gunicorn.conf.py worked them out."""
    conf = runpy.run_path(str(BENCH / "gunicorn.conf.py"))
    kind = conf["worker_class"]
    if kind == "sync" and conf["threads"] > 1:
        kind = "gthread"  # gunicorn runs threads with the gthread worker whatever is asked
    socket = "a listening socket per worker" if conf.get("reuse_port") else "one shared socket"
    return f"{conf['workers']} workers × {conf['threads']} threads ({kind}, {socket})"


def main() -> int:
    wrk = ensure_wrk()
    ensure_services()
    WORK.mkdir(parents=True, exist_ok=True)
    reset_database()
    facts = prepare()
    floor_env = {**ENV, "DJANGO_SETTINGS_MODULE": "bench.floor.settings"}
    kezek = start_server("kezek", "config.wsgi:application", KEZEK_PORT, ENV)
    floor = start_server("floor", "bench.floor.wsgi:application", FLOOR_PORT, floor_env)
    results: list[Result] = []
    try:
        wait_ready(kezek, "/api/v1/checkpoints")
        wait_ready(floor, "/const")
        say("warming up (not measured)")
        drive(wrk, "warm-up", kezek, WORK / "availability.lua", clients=8, seconds=2)
        drive(wrk, "warm-up", floor, WORK / "floor_const.lua", clients=8, seconds=2)

        # Each floor runs right before the scenarios compared with it: on a shared machine,
        # numbers taken close together are the most comparable.
        say(f"rush: {facts['rush_clients']} clients for {facts['rush_places']} places")
        rush = drive(
            wrk,
            "rush",
            kezek,
            WORK / "rush.lua",
            clients=facts["rush_clients"],
            mode="once",
            seconds=60,
        )
        say("floor: the essential SQL of a booking; then the spread of bookings")
        floor_book = drive(wrk, "booking SQL", floor, WORK / "floor_book.lua", clients=32)
        spread = drive(
            wrk, "spread", kezek, WORK / "spread.lua", clients=32, mode="once", seconds=SECONDS
        )
        say("floor: a constant; then availability (slots of a week) and the board")
        trivial = drive(wrk, "trivial view", floor, WORK / "floor_const.lua", clients=64)
        availability = drive(wrk, "availability", kezek, WORK / "availability.lua", clients=64)
        board_page = drive(wrk, "board page", kezek, WORK / "board_page.lua", clients=64)
        board_api = drive(wrk, "board API", kezek, WORK / "board_api.lua", clients=64)
        for result, floor_result in (
            (rush, floor_book),
            (spread, floor_book),
            (availability, trivial),
            (board_page, trivial),
            (board_api, trivial),
        ):
            result.ratio = result.throughput / floor_result.throughput
            result.ratio_to = f"floor {floor_result.scenario}"
        results += [rush, floor_book, spread, trivial, availability, board_page, board_api]
    finally:
        for server in (kezek, floor):
            server.process.send_signal(signal.SIGTERM)
        for server in (kezek, floor):
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()

    checks = verify()
    booked = rush_booked(facts)
    rush_ok = (
        booked == facts["rush_places"]
        and rush.statuses.get("201", 0) == facts["rush_places"]
        and rush.codes.get("409:slot_full", 0) == facts["rush_clients"] - facts["rush_places"]
        and sum(rush.statuses.values()) == facts["rush_clients"]
        and rush.socket_errors == 0
    )
    server_errors = sum(
        n for r in results for status, n in r.statuses.items() if status.startswith("5")
    )
    goals = [
        (
            "rush: exactly the capacity booked, every other answer 409 slot_full",
            rush_ok,
            f"{booked} booked of {facts['rush_places']} places; answers {statuses_text(rush)}",
        ),
        ("no 5xx in any scenario", server_errors == 0, f"{server_errors} answers 5xx"),
        *((f"{name} clean", ok, line) for name, (ok, line) in checks.items()),
        (
            "spread ≥ 50 % of the floor's booking throughput",
            spread.ratio >= 0.5,
            f"{spread.ratio:.0%}",
        ),
        ("spread p95 < 250 ms", spread.p95_ms < 250, f"{spread.p95_ms:.0f} ms"),
        (
            "availability ≥ 60 % of the trivial view's throughput",
            availability.ratio >= 0.6,
            f"{availability.ratio:.0%}",
        ),
        ("availability p95 < 100 ms", availability.p95_ms < 100, f"{availability.p95_ms:.0f} ms"),
    ]
    load = os.getloadavg()
    report = "\n".join(
        [
            f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} "
            f"cores (load average before the checks: {load[0]:.1f}); gunicorn "
            f"{server_settings()} for both apps; wrk "
            f"{THREADS} threads. CPU % is of one core (200 % = both).",
            "",
            table(results),
            "",
            "| check | result | measured |",
            "|---|---|---|",
            *(f"| {name} | {'yes' if ok else 'NO'} | {text} |" for name, ok, text in goals),
            "",
        ]
    )
    (BENCH / "results" / "latest.md").write_text(report)
    print()
    print(report)
    say("written to bench/results/latest.md")
    correctness = rush_ok and server_errors == 0 and all(ok for ok, _ in checks.values())
    return 0 if correctness else 1


if __name__ == "__main__":
    sys.exit(main())
