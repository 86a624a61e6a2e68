# The bench starts programs (wrk, gunicorn, nginx, openssl, psql, manage.py) with fixed
# arguments of its own.
# ruff: noqa: S603, S607
"""`make bench`: the slot rush and its neighbours, measured over HTTP on this machine.

Starts PostgreSQL-backed Kezek under gunicorn with production settings (DEBUG off) and, beside
it with the same gunicorn settings and database, the floor app (bench/floor); puts nginx in
front of both with the deployment's config (deploy/nginx/kezek.conf, via bench/nginx); prepares
carriers through Kezek's services (bench/seed.py); drives the apps with wrk
(bench/lua/requests.lua), straight or through the proxy; checks the ledger and the counters;
prints the tables and writes them to bench/results/latest.md.
"""

import dataclasses
import http.client
import json
import os
import queue
import resource
import runpy
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `python bench/run.py` (make bench) puts bench/ first on the path, not the project.
sys.path.insert(0, str(ROOT))

from bench import release  # noqa: E402

BENCH = ROOT / "bench"
WORK = BENCH / "results" / "work"
PY = sys.executable
DB_NAME = os.environ.get("BENCH_DB", "kezek_bench")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
KEZEK_PORT, FLOOR_PORT = 8700, 8701
# nginx's https ports in front of each app (bench/nginx/kezek-env/listen-https.conf, nginx.conf).
PROXY_PORTS = {"kezek": 8743, "floor": 8744}
NGINX_PREFIX = WORK / "nginx"
TLS = WORK / "tls"
THREADS = 2  # wrk threads: one per core
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
# In "once" mode, wrk is stopped when no answer has come for this long (a lost request).
QUIET_S = 10.0

ENV = {
    **os.environ,
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": REDIS_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
    "SECURE_COOKIES": "0",
    # Nobody signs in during the bench; production refuses the console SMS backend.
    "SMS_CONSOLE_ALLOWED": "1",
    "SECURE_HSTS_SECONDS": "0",
    # The bookings and the direct reads speak plain HTTP to gunicorn, past the proxy.
    "SECURE_SSL_REDIRECT": "0",
    "KEZEK_VAR_DIR": str(ROOT / "var" / "bench"),
    # As in the deployment: nginx limits the public reads (its limit_req) and sets
    # X-Forwarded-For to the client; requests straight to gunicorn count under 127.0.0.1.
    "PUBLIC_READ_LIMIT_AT_PROXY": "1",
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
    apt_install("wrk")
    return shutil.which("wrk") or "wrk"


def apt_install(package: str) -> None:
    say(f"installing {package} (apt-get install {package})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)


def ensure_nginx() -> str:
    """nginx, installed with apt-get when missing. A system service the package may start (its
    default site on port 80) is stopped and disabled: the bench runs nginx of its own."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    nginx = shutil.which("nginx", path=search)
    if nginx:
        return nginx
    apt_install("nginx")
    if Path("/run/systemd/system").exists():
        stops = [["systemctl", "disable", "--now", "nginx"]]
    else:
        stops = [["service", "nginx", "stop"], ["update-rc.d", "nginx", "disable"]]
    for command in stops:
        subprocess.run(command, check=False, capture_output=True)
    return shutil.which("nginx", path=search) or "nginx"


def make_certificate() -> None:
    """A self-signed certificate for 127.0.0.1: ECDSA P-256, the kind certbot issues."""
    TLS.mkdir(parents=True, exist_ok=True)
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        str(TLS / "privkey.pem"),
        "-out",
        str(TLS / "fullchain.pem"),
    )


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
    say(
        "fair release: 1 000 carriers and a bot, draw policies, open windows, the draw's "
        "requests (bench/release_data.py)"
    )
    facts["release"] = release.data(PY, ROOT, ENV, "seed", WORK)
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


def start_nginx(nginx: str) -> Server:
    """nginx in the foreground with bench/nginx/nginx.conf, in a fresh prefix (cache, logs)."""
    shutil.rmtree(NGINX_PREFIX, ignore_errors=True)
    NGINX_PREFIX.mkdir(parents=True)
    log = (WORK / "nginx.log").open("w")
    process = subprocess.Popen(
        [
            nginx,
            "-p",
            f"{NGINX_PREFIX}/",
            "-c",
            str(BENCH / "nginx" / "nginx.conf"),
            "-g",
            "daemon off;",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Server("nginx", PROXY_PORTS["kezek"], process)


def url_of(server: Server, *, proxy: bool) -> str:
    if proxy:
        return f"https://127.0.0.1:{PROXY_PORTS[server.name]}"
    return f"http://127.0.0.1:{server.port}"


def get(url: str) -> http.client.HTTPResponse:
    context = ssl.create_default_context(cafile=TLS / "fullchain.pem")
    return urllib.request.urlopen(url, timeout=5, context=context)  # noqa: S310 - url_of's


def wait_ready(server: Server, url: str) -> None:
    for _ in range(120):
        try:
            with get(url):
                return
        except OSError:
            if server.process.poll() is not None:
                raise SystemExit(f"{server.name} did not start (bench/results/work)") from None
            time.sleep(0.5)
    raise SystemExit(f"{server.name} did not answer {url}")


def caching_headers(url: str) -> str:
    """What Kezek says about keeping a public read, as the proxy passes it on (the second ask,
    so that a kept answer shows as a HIT)."""
    for _ in range(2):
        with get(url) as answer:
            headers = answer.headers
    names = ("Cache-Control", "ETag", "Vary", "X-Cache-Status")
    return "; ".join(f"{name}: {headers.get(name) or '(none)'}" for name in names)


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
    cache: dict
    socket_errors: int
    # CPU seconds over the measured time: the app's gunicorn, nginx, wrk, PostgreSQL.
    server_cpu: float
    proxy_cpu: float
    wrk_cpu: float
    postgres_cpu: float
    # "once" mode: requests of the list that got no answer (lost by wrk on a failed connection).
    unanswered: int = 0
    ratio: float | None = None
    ratio_to: str = ""

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percent(self, cpu_seconds: float) -> float:
        """Of one core over the measured time."""
        return 100 * cpu_seconds / self.seconds if self.seconds else 0.0

    def per_request_ms(self, cpu_seconds: float) -> float:
        return 1000 * cpu_seconds / self.requests if self.requests else 0.0

    @property
    def from_cache(self) -> float | None:
        """The share of answers the proxy gave from its cache without waiting for Kezek (HIT, and
        STALE or UPDATING while an entry was being fetched again), of those that passed it."""
        counted = sum(self.cache.values())
        if not counted:
            return None
        kept = sum(self.cache.get(status, 0) for status in ("HIT", "STALE", "UPDATING"))
        return kept / counted


def drive(
    wrk: str,
    scenario: str,
    server: Server,
    requests_file: Path,
    *,
    nginx: Server,
    proxy: bool = False,
    clients: int,
    mode: str = "cycle",
    seconds: int = SECONDS,
) -> Result:
    """One wrk run, straight to `server` or through nginx in front of it; nginx's CPU is counted
    either way. In "once" mode wrk is stopped when every request has been answered."""
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
        url_of(server, proxy=proxy),
        "--",
        str(requests_file),
        mode,
        str(threads),
    ]
    server_pids, nginx_pids, pg_pids = server.pids(), nginx.pids(), postgres_pids()
    server_before, nginx_before = cpu_ticks(server_pids), cpu_ticks(nginx_pids)
    pg_before = cpu_ticks(pg_pids)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    finished_threads, answer, finished_at, last_answer, lost = 0, None, None, None, False
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            quiet = last_answer is not None and time.monotonic() - last_answer > QUIET_S
            if mode == "once" and finished_at is None and quiet:
                finished_at = last_answer  # a request was lost: the run ended at its last answer
                lost = True
                process.send_signal(signal.SIGINT)
            continue
        if line is None:
            break
        if line.startswith("BENCH_ANSWER"):
            last_answer = time.monotonic()
        elif line.startswith("BENCH_THREAD_DONE"):
            finished_threads += 1
            if finished_threads == threads and finished_at is None:
                finished_at = time.monotonic()
                process.send_signal(signal.SIGINT)  # wrk stops its run early and reports
        elif line.startswith("BENCH_JSON "):
            answer = json.loads(line.split(" ", 1)[1])
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = (finished_at or time.monotonic()) - started
    server_cpu = cpu_seconds_since(server_before, server_pids)
    nginx_cpu = cpu_seconds_since(nginx_before, nginx.pids())
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
        cache=answer["cache"],
        socket_errors=sum(answer[key] for key in ("connect", "read", "write", "timeout")),
        unanswered=max(0, answer["listed"] - answer["requests"]) if lost else 0,
        server_cpu=server_cpu,
        proxy_cpu=nginx_cpu,
        wrk_cpu=usage.ru_utime + usage.ru_stime,
        postgres_cpu=pg_cpu,
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
    if result.unanswered:
        parts.append(f"unanswered×{result.unanswered}")
    return ", ".join(parts)


def cache_text(result: Result) -> str:
    share = result.from_cache
    if share is None:
        return "—"
    counts = ", ".join(f"{status} {n}" for status, n in sorted(result.cache.items()))
    return f"{share:.1%} ({counts})"


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | app | clients | requests | req/s | p50 ms | p95 ms | p99 ms | answers "
        "| from the proxy's cache | ratio to floor | web CPU % | proxy CPU % | wrk CPU % "
        "| PostgreSQL CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.ratio:.0%} of {r.ratio_to}" if r.ratio is not None else "—"
        lines.append(
            f"| {r.scenario} | {r.app} | {r.clients} | {r.requests} | {r.throughput:.1f} | "
            f"{r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | {statuses_text(r)} | "
            f"{cache_text(r)} | {ratio} | {r.percent(r.server_cpu):.0f} | "
            f"{r.percent(r.proxy_cpu):.0f} | {r.percent(r.wrk_cpu):.1f} | "
            f"{r.percent(r.postgres_cpu):.0f} |"
        )
    return "\n".join(lines)


def cpu_table(results: list[Result], trivial: Result) -> str:
    """CPU per request; the direct reads' web CPU against the trivial view's is what a request
    that the proxy does not answer from its cache costs Kezek."""
    base = trivial.per_request_ms(trivial.server_cpu)
    lines = [
        "| scenario | web CPU ms per request | proxy CPU ms per request "
        "| PostgreSQL CPU ms per request | web CPU ÷ the trivial view's (direct) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        web = r.per_request_ms(r.server_cpu)
        lines.append(
            f"| {r.scenario} | {web:.3f} | {r.per_request_ms(r.proxy_cpu):.3f} | "
            f"{r.per_request_ms(r.postgres_cpu):.3f} | {web / base:.1f} × |"
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


def nginx_version(nginx: str) -> str:
    done = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().rsplit("/", 1)[-1]


def raise_open_files() -> None:
    """1 000 clients, their connections in wrk or in the fairness clients and in gunicorn: the
    limit of open files raised to the hard limit for this process and what it starts."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main() -> int:
    raise_open_files()
    wrk = ensure_wrk()
    nginx_bin = ensure_nginx()
    ensure_services()
    WORK.mkdir(parents=True, exist_ok=True)
    make_certificate()
    reset_database()
    facts = prepare()
    floor_env = {**ENV, "DJANGO_SETTINGS_MODULE": "bench.floor.settings"}
    kezek = start_server("kezek", "config.wsgi:application", KEZEK_PORT, ENV)
    floor = start_server("floor", "bench.floor.wsgi:application", FLOOR_PORT, floor_env)
    nginx = start_nginx(nginx_bin)
    results: list[Result] = []
    try:
        wait_ready(kezek, url_of(kezek, proxy=False) + "/api/v1/checkpoints")
        wait_ready(floor, url_of(floor, proxy=False) + "/const")
        wait_ready(nginx, url_of(kezek, proxy=True) + "/api/v1/checkpoints")
        wait_ready(nginx, url_of(floor, proxy=True) + "/const")
        caching = caching_headers(
            url_of(kezek, proxy=True) + f"/api/v1/checkpoints/{facts['board_checkpoint']}/queue"
        )

        def scenario(name: str, server: Server, requests: str, **options) -> Result:
            return drive(wrk, name, server, WORK / requests, nginx=nginx, **options)

        say("warming up (not measured)")
        for proxy in (False, True):
            scenario("warm-up", kezek, "availability.lua", proxy=proxy, clients=8, seconds=2)
            scenario("warm-up", floor, "floor_const.lua", proxy=proxy, clients=8, seconds=2)

        # Each floor runs right before the scenarios compared with it: on a shared machine,
        # numbers taken close together are the most comparable. Bookings go straight to
        # gunicorn, as in the reports before the proxy.
        say(f"rush: {facts['rush_clients']} clients for {facts['rush_places']} places")
        rush = scenario(
            "rush", kezek, "rush.lua", clients=facts["rush_clients"], mode="once", seconds=60
        )
        say("floor: the essential SQL of a booking; then the spread of bookings")
        floor_book = scenario("booking SQL", floor, "floor_book.lua", clients=32)
        spread = scenario("spread", kezek, "spread.lua", clients=32, mode="once")
        say("fair release: request intake with 200 and 1 000 clients into open windows")
        intake = {
            clients: scenario(
                "request intake",
                kezek,
                f"intake_{clients}.lua",
                clients=clients,
                mode="once",
                seconds=120,
            )
            for clients in (200, 1000)
        }
        say("straight to gunicorn, as on a miss of the proxy's cache: a constant, the reads")
        trivial = scenario("trivial view", floor, "floor_const.lua", clients=64)
        availability = scenario("availability", kezek, "availability.lua", clients=64)
        board_api = scenario("board API", kezek, "board_api.lua", clients=64)
        say("through nginx: a constant; then availability, the board API and the board page")
        trivial_p = scenario(
            "trivial view (proxy)", floor, "floor_const.lua", proxy=True, clients=64
        )
        availability_p = scenario(
            "availability (proxy)", kezek, "availability.lua", proxy=True, clients=64
        )
        board_api_p = scenario("board API (proxy)", kezek, "board_api.lua", proxy=True, clients=64)
        board_page_p = scenario(
            "board page (proxy)", kezek, "board_page.lua", proxy=True, clients=64
        )
        say("fair release: 1 000 carriers and a bot place requests (draw), then book (first-come)")
        fair_draw = release.clients_run(WORK, "draw", KEZEK_PORT)
        release.throttles_forget(REDIS_URL)
        fair_first_come = release.clients_run(WORK, "first_come", KEZEK_PORT)
        for result, floor_result in (
            (rush, floor_book),
            (spread, floor_book),
            (intake[200], floor_book),
            (intake[1000], floor_book),
            (availability, trivial),
            (board_api, trivial),
            (availability_p, trivial_p),
            (board_api_p, trivial_p),
            (board_page_p, trivial_p),
        ):
            result.ratio = result.throughput / floor_result.throughput
            result.ratio_to = f"floor {floor_result.scenario}"
        results += [
            rush,
            floor_book,
            spread,
            intake[200],
            intake[1000],
            trivial,
            availability,
            board_api,
            trivial_p,
            availability_p,
            board_api_p,
            board_page_p,
        ]
    finally:
        for server in (nginx, kezek, floor):
            server.process.send_signal(signal.SIGTERM)
        for server in (nginx, kezek, floor):
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()

    say("fair release: what the clients left; the fairness draws; the draw of 10 000 requests")
    rel = facts["release"]
    rel_check = release.data(PY, ROOT, ENV, "check", WORK)
    fair = release.Fairness(
        facts=rel,
        draw_clients=fair_draw,
        first_come_clients=fair_first_come,
        check=rel_check,
        **release.data(PY, ROOT, ENV, "draws", WORK),  # draws, recomputed
    )
    the_draw = release.data(PY, ROOT, ENV, "draw", WORK)
    draw_verified = (False, "not drawn: cancelled")
    if not the_draw["timed_out"]:
        done = subprocess.run(
            [PY, "manage.py", "verify_draw", str(rel["draw_window"])],
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
        )
        lines = (done.stdout + done.stderr).strip().splitlines()
        draw_verified = (done.returncode == 0, lines[-1][:300] if lines else "")
    profiled = release.data(PY, ROOT, ENV, "profile", WORK)

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
    proxied = (availability_p, board_api_p, board_page_p)
    not_ok = sum(n for r in proxied for status, n in r.statuses.items() if status != "200")
    not_ok += sum(r.socket_errors for r in proxied)
    trivial_ms = trivial.per_request_ms(trivial.server_cpu)

    def miss_cost(result: Result) -> tuple[bool, str]:
        ms = result.per_request_ms(result.server_cpu)
        return (
            ms <= 3 * trivial_ms,
            f"{ms:.2f} against {trivial_ms:.2f} ms ({ms / trivial_ms:.1f} ×)",
        )

    goals = [
        (
            "rush: exactly the capacity booked, every other answer 409 slot_full",
            rush_ok,
            f"{booked} booked of {facts['rush_places']} places; answers {statuses_text(rush)}",
        ),
        ("no 5xx in any scenario", server_errors == 0, f"{server_errors} answers 5xx"),
        *((f"{name} clean", ok, line) for name, (ok, line) in checks.items()),
        ("every read through the proxy answered 200", not_ok == 0, f"{not_ok} other answers"),
        *(
            (
                f"{r.scenario.removesuffix(' (proxy)')} through the proxy ≥ 2 × the trivial view "
                "through the proxy",
                r.ratio >= 2,
                f"{r.ratio:.2f} × ({r.throughput:.0f} against {trivial_p.throughput:.0f} req/s)",
            )
            for r in (availability_p, board_api_p)
        ),
        *(
            (
                f"{r.scenario.removesuffix(' (proxy)')} through the proxy p95 < 50 ms at "
                f"{r.clients} clients",
                r.p95_ms < 50,
                f"{r.p95_ms:.0f} ms",
            )
            for r in (availability_p, board_api_p)
        ),
        *(
            (
                f"a cache miss costs ≤ 3 × the trivial view's web CPU per request: {r.scenario}",
                *miss_cost(r),
            )
            for r in (availability, board_api)
        ),
    ]
    bot = fair.bot_result()
    fair_first = fair.first_come()
    draws_ok = all(d["verified"] for d in fair.draws) and len(fair.draws) >= 20
    capped = bot["most_in_a_draw"] <= rel["fair_carrier_limit"]
    fair_limit_ok = (
        rel_check["fairness"]["most_per_carrier"] <= rel_check["fairness"]["carrier_limit"]
    )
    resolved = the_draw["timed_out"] or (
        the_draw["won"] + the_draw["unsuccessful"] + the_draw["skipped"] == rel["draw_requests"]
    )
    release_goals = [
        *(
            (
                f"request intake, {n} clients: every accepted request stored once, F3 respected",
                *release.intake_correct(rel_check, n, intake[n].statuses),
            )
            for n in (200, 1000)
        ),
        (
            "fairness: every draw verified from its published document (at least 20 draws)",
            draws_ok,
            f"{sum(d['verified'] for d in fair.draws)} of {len(fair.draws)} draws",
        ),
        (
            "fairness: the bot's requests in the draw within F3's cap, and its places in every "
            "draw",
            fair_limit_ok and capped,
            f"{bot['requests']} requests, at most {bot['most_in_a_draw']} places in one draw; "
            f"cap {rel['fair_carrier_limit']}",
        ),
        (
            f"draw of {rel['draw_requests']} requests: every request resolved, verify_draw clean "
            "(not judged when the draw was cancelled for time)",
            resolved and (the_draw["timed_out"] or draw_verified[0]),
            f"won {the_draw['won']}, unsuccessful {the_draw['unsuccessful']}, skipped "
            f"{the_draw['skipped']}; {draw_verified[1]}",
        ),
    ]
    release_speed = [
        *(
            (
                f"request intake, {n} clients ≥ 50 % of the floor's booking SQL",
                intake[n].ratio >= 0.5,
                f"{intake[n].ratio:.0%} ({intake[n].throughput:.0f} against "
                f"{floor_book.throughput:.0f} req/s)",
            )
            for n in (200, 1000)
        ),
        *(
            (
                f"request intake, {n} clients: p95 < 250 ms",
                intake[n].p95_ms < 250,
                f"{intake[n].p95_ms:.0f} ms",
            )
            for n in (200, 1000)
        ),
        (
            "fairness: the bot's share of places under the draw within the 95 % interval of "
            "its share of requests",
            bot["inside"],
            f"{bot['place_share']:.2%} of places for {bot['request_share']:.2%} of requests; "
            f"interval {bot['low']:.2%} – {bot['high']:.2%}",
        ),
        (
            f"fairness: the same, over {fair.recomputed_result()['draws']} draws recomputed from "
            "the published data with fresh secrets (normal law)",
            fair.recomputed_result()["inside"],
            f"{fair.recomputed_result()['place_share']:.2%} of places; interval "
            f"{fair.recomputed_result()['low']:.2%} – {fair.recomputed_result()['high']:.2%}",
        ),
        (
            "fairness, first-come (measured): the bot's share of places",
            True,
            f"{fair_first['bot']} of {fair_first['booked']} places "
            f"({fair_first['bot'] / max(fair_first['booked'], 1):.0%})",
        ),
        (
            f"draw of {rel['draw_requests']} requests, 24 h × 650 places, money included: < 10 s",
            not the_draw["timed_out"] and the_draw["seconds"] < 10,
            f"{the_draw['seconds']:.1f} s"
            + (
                " (cancelled: not finished; see the draw's line below)"
                if the_draw["timed_out"]
                else ""
            ),
        ),
    ]
    goals += release_goals + release_speed
    load = os.getloadavg()
    report = "\n".join(
        [
            f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} "
            f"cores (load average before the checks: {load[0]:.1f}); gunicorn "
            f"{server_settings()} for both apps; nginx {nginx_version(nginx_bin)} "
            f"(worker_processes auto) in front of both for the (proxy) scenarios, over https; wrk "
            f"{THREADS} threads. CPU % is of one core (200 % = both).",
            "",
            f"Kezek's public read through the proxy (board API, asked twice): {caching}.",
            "",
            table(results),
            "",
            cpu_table(results, trivial),
            "",
            "| check | result | measured |",
            "|---|---|---|",
            *(f"| {name} | {'yes' if ok else 'NO'} | {text} |" for name, ok, text in goals),
            "",
            "### Fair release",
            "",
            f"Seeded in {rel['seconds']} s: {rel['carriers']} carriers through the services "
            f"({rel['carriers_seconds']} s), {rel['vehicles']} trucks; windows open from "
            f"{rel['opens_at']} to {rel['closes_at']} for the day {rel['day']}.",
            "",
            release.fairness_tables(fair),
            "",
            release.draw_table(rel, the_draw, draw_verified),
            "",
            f"One request placed through the test client (bench/results/work/request_profile.txt):"
            f" {profiled['answers']}.",
            "",
        ]
    )
    (BENCH / "results" / "latest.md").write_text(report)
    print()
    print(report)
    say("written to bench/results/latest.md")
    correctness = (
        rush_ok
        and server_errors == 0
        and all(ok for ok, _ in checks.values())
        and all(ok for _name, ok, _text in release_goals)
    )
    return 0 if correctness else 1


if __name__ == "__main__":
    sys.exit(main())
