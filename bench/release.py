# The bench starts programs (manage.py, python) with fixed arguments of its own.
# ruff: noqa: S311, S603, S607
"""The fair release in `make bench` (issue 19, parts 6 and 7), driven by bench/run.py.

- **intake**: wrk sends request-create calls (`POST /api/v1/release/requests`) with 200 and
  1 000 connections into open windows, like the rush (bench/run.py measures them; the requests
  are bench/release_data.py's Lua tables).
- **fairness**: 1 000 carriers, one of them a bot, ask for the 100 places of one day over HTTP,
  through a draw (requests) and then first-come (bookings); the clients are this module's
  asyncio connections, paced as people and as a bot 100 × faster. The draw is then run
  DRAWS times with fresh secrets (bench/release_data.py `draws`).
- **draw**: `window_draw` of 10 000 requests for 24 hours of 650 places, timed in one process.

This module speaks HTTP only and reads what bench/release_data.py writes; it never imports
Django, so bench/run.py can use it in its own process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from statistics import median

from bench import fairness

ALMATY = dt.timezone(dt.timedelta(hours=5))
# People: the first request 0–10 s after the window opens (or the places are released), the
# next 1–3 s after an answer; a booking is tried at up to 3 hours of the client's list.
REACTION_S = 10.0
RETRY_S = (1.0, 3.0)
ATTEMPTS = 3
# The bot: 100 × faster in both, on connections of its own, 50 requests per place of the day.
SPEEDUP = 100
BOT_CONNECTIONS = 10
REQUESTS_PER_PLACE = 50
DEADLINE_S = 120.0


@dataclasses.dataclass
class Answer:
    who: str  # "bot" or "person"
    sent: float
    answered: float
    status: int
    code: str


class Connection:
    """One keep-alive HTTP/1.1 connection to gunicorn, opened at the first request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, path: str, token: str, body: str) -> tuple[int, str]:
        payload = body.encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                self.writer.write(head + payload)
                await self.writer.drain()
                return await self._answer()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _answer(self) -> tuple[int, str]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _sep, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        code = ""
        if status >= 400:
            try:
                code = json.loads(body).get("error", {}).get("code", "") or "-"
            except (ValueError, AttributeError):
                code = "-"
        return status, code

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _request_body(plan: dict, truck: int, driver: int, hours: list[int]) -> str:
    return json.dumps(
        {
            "checkpoint": plan["draw_checkpoint"],
            "direction": plan["direction"],
            "day": plan["day"],
            "service": "regular",
            "hours": hours,
            "vehicle": truck,
            "drivers": [driver],
        },
        separators=(",", ":"),
    )


def _booking_body(plan: dict, truck: int, driver: int, hour: int) -> str:
    start = dt.datetime.combine(dt.date.fromisoformat(plan["day"]), dt.time(hour), ALMATY)
    return json.dumps(
        {
            "checkpoint": plan["first_come_checkpoint"],
            "direction": plan["direction"],
            "service": "regular",
            "slot_start": start.isoformat(),
            "vehicle": truck,
            "drivers": [driver],
        },
        separators=(",", ":"),
    )


async def _ask(
    connection: Connection, who: str, path: str, token: str, body: str, answers: list, t0: float
) -> Answer:
    sent = time.monotonic() - t0
    try:
        status, code = await connection.send(path, token, body)
    except (OSError, asyncio.IncompleteReadError):
        status, code = 0, "socket_error"
    answer = Answer(who, sent, time.monotonic() - t0, status, code)
    answers.append(answer)
    return answer


async def _person(plan, client, mode, port, rng, answers, t0) -> None:
    await asyncio.sleep(rng.uniform(0, REACTION_S))
    connection = Connection(port)
    try:
        if mode == "draw":
            body = _request_body(plan, client["truck"], client["driver"], client["hours"])
            await _ask(connection, "person", REQUESTS, client["token"], body, answers, t0)
            return
        for hour in client["hours"][:ATTEMPTS]:
            body = _booking_body(plan, client["truck"], client["driver"], hour)
            answer = await _ask(connection, "person", BOOKINGS, client["token"], body, answers, t0)
            if answer.code != "slot_full":
                return
            await asyncio.sleep(rng.uniform(*RETRY_S))
    finally:
        connection.close()


async def _bot(plan, mode, port, rng, answers, t0) -> None:
    bot, hours = plan["bot"], plan["hours"]
    trucks = bot["trucks"]
    total = REQUESTS_PER_PLACE * plan["places"]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for j in range(total):
        queue.put_nowait(j)

    async def line() -> None:
        await asyncio.sleep(rng.uniform(0, REACTION_S / SPEEDUP))
        connection = Connection(port)
        try:
            while not queue.empty() and time.monotonic() - t0 < DEADLINE_S:
                j = queue.get_nowait()
                truck = trucks[j % len(trucks)]
                if mode == "draw":
                    first = j % len(hours)
                    body = _request_body(plan, truck, bot["driver"], hours[first:] + hours[:first])
                    path = REQUESTS
                else:
                    body = _booking_body(plan, truck, bot["driver"], hours[j % len(hours)])
                    path = BOOKINGS
                await _ask(connection, "bot", path, bot["token"], body, answers, t0)
                await asyncio.sleep(rng.uniform(*RETRY_S) / SPEEDUP)
        finally:
            connection.close()

    await asyncio.gather(*(line() for _ in range(BOT_CONNECTIONS)))


REQUESTS = "/api/v1/release/requests"
BOOKINGS = "/api/v1/bookings"


async def _clients(plan: dict, mode: str, port: int, seed: int) -> tuple[list[Answer], float]:
    rng = random.Random(seed)
    answers: list[Answer] = []
    t0 = time.monotonic()
    people = [
        _person(plan, client, mode, port, random.Random(rng.random()), answers, t0)
        for client in plan["clients"]
    ]
    await asyncio.gather(_bot(plan, mode, port, random.Random(rng.random()), answers, t0), *people)
    return answers, time.monotonic() - t0


def clients_run(work: Path, mode: str, port: int, seed: int = 19) -> dict:
    """Every client of the fairness scenario against Kezek at `port`: "draw" places requests in
    the draw window, "first_come" books the first-come day. Answers by client kind."""
    plan = json.loads((work / "fairness.json").read_text())
    cpu = time.process_time()
    answers, seconds = asyncio.run(_clients(plan, mode, port, seed))
    cpu = time.process_time() - cpu
    summary = {"mode": mode, "seconds": round(seconds, 1), "client_cpu_s": round(cpu, 1)}
    for who in ("person", "bot"):
        mine = [a for a in answers if a.who == who]
        latencies = sorted(a.answered - a.sent for a in mine)
        summary[who] = {
            "sent": len(mine),
            "statuses": dict(Counter(str(a.status) for a in mine)),
            "codes": dict(Counter(f"{a.status}:{a.code}" for a in mine if a.status >= 400)),
            "first_answer_s": round(min((a.answered for a in mine), default=0), 2),
            "last_answer_s": round(max((a.answered for a in mine), default=0), 2),
            "p50_ms": round(1000 * median(latencies), 1) if latencies else 0,
            "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1)
            if latencies
            else 0,
        }
    return summary


def throttles_forget(redis_url: str) -> int:
    """The booking-write rate limit's counts (120 a minute per carrier) forgotten: the draw and
    the first-come release stand for two different days, and the bot's minute of requests must
    not carry over from one to the other."""
    keys = subprocess.run(
        ["redis-cli", "-u", redis_url, "--scan", "--pattern", "*:throttle_booking_writes_*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if keys:
        subprocess.run(
            ["redis-cli", "-u", redis_url, "del", *keys], capture_output=True, check=True
        )
    return len(keys)


def data(python: str, root: Path, env: dict, command: str, work: Path) -> dict:
    """A command of bench/release_data.py in its own process; its JSON answer."""
    done = subprocess.run(
        [python, "-m", "bench.release_data", command, str(work)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stdout.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit(f"failed: bench.release_data {command}")
    answer = done.stdout.strip().splitlines()[-1]
    (work / f"release_{command}.json").write_text(answer + "\n")
    return json.loads(answer)


# --- Tables ---------------------------------------------------------------------------------


def _statuses(part: dict) -> str:
    out = []
    for status, n in sorted(part["statuses"].items()):
        codes = [
            f"{key.split(':', 1)[1]} {count}"
            for key, count in sorted(part["codes"].items())
            if key.startswith(status + ":")
        ]
        out.append(f"{status}×{n}" + (f" ({', '.join(codes)})" if codes else ""))
    return ", ".join(out)


@dataclasses.dataclass
class Fairness:
    """The fairness scenario's numbers, from the clients, `check` and `draws`."""

    facts: dict
    draw_clients: dict
    first_come_clients: dict
    check: dict
    draws: list[dict]
    recomputed: dict

    @property
    def bot(self) -> str:
        return str(self.facts["bot_carrier"])

    @property
    def requests(self) -> dict[str, int]:
        """Live requests per carrier at the close: what entered each draw."""
        return self.check["fairness"]["per_carrier"]

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def places_per_draw(self) -> int:
        return min(self.facts["fair_places"], self.total_requests)

    def wins(self, carrier: str) -> list[int]:
        return [d["per_carrier"].get(carrier, 0) for d in self.draws]

    def fair_interval(self, mine: int) -> tuple[list[float], tuple[int, int]]:
        one = fairness.hypergeometric(self.total_requests, mine, self.places_per_draw)
        total = fairness.total_of_draws(one, len(self.draws))
        return total, fairness.interval(total)

    def bot_result(self) -> dict:
        mine = self.requests.get(self.bot, 0)
        wins = self.wins(self.bot)
        total, (low, high) = self.fair_interval(mine)
        places = self.places_per_draw * len(self.draws)
        return {
            "requests": mine,
            "request_share": mine / self.total_requests,
            "won": sum(wins),
            "place_share": sum(wins) / places if places else 0,
            "low": low / places,
            "high": high / places,
            "expected": fairness.mean(total) / places,
            "most_in_a_draw": max(wins, default=0),
            "inside": low <= sum(wins) <= high,
        }

    def recomputed_result(self) -> dict:
        """The bot over the recomputed draws: its share of places, and the 95 % interval of a
        fair draw's total by the normal law (the exact one is long to convolve that often)."""
        wins = self.recomputed["bot"]
        draws = len(wins)
        mine = self.requests.get(self.bot, 0)
        one = fairness.hypergeometric(self.total_requests, mine, self.places_per_draw)
        mean = fairness.mean(one)
        sd = (sum(k * k * p for k, p in enumerate(one)) - mean**2) ** 0.5
        places = self.places_per_draw * draws
        half = 1.96 * sd * draws**0.5
        return {
            "draws": draws,
            "won": sum(wins),
            "place_share": sum(wins) / places if places else 0,
            "low": (draws * mean - half) / places if places else 0,
            "high": (draws * mean + half) / places if places else 0,
            "inside": abs(sum(wins) - draws * mean) <= half,
            "most_in_a_draw": max(wins, default=0),
        }

    def first_come(self) -> dict:
        booked = self.check["first_come"]["per_carrier"]
        total = sum(booked.values())
        sent_bot = self.first_come_clients["bot"]["sent"]
        sent_all = sent_bot + self.first_come_clients["person"]["sent"]
        return {
            "booked": total,
            "bot": booked.get(self.bot, 0),
            "people": total - booked.get(self.bot, 0),
            "people_carriers": len([c for c in booked if c != self.bot]),
            "bot_sent": sent_bot,
            "sent": sent_all,
        }

    def people_histogram(self) -> list[tuple[int, int, float]]:
        """(places won over the draws, carriers observed, carriers expected) for the people's
        carriers with one request each."""
        ones = [c for c, n in self.requests.items() if c != self.bot and n == 1]
        observed = Counter(sum(self.wins(c)) for c in ones)
        total, _interval = self.fair_interval(1)
        top = max([*observed, 4])
        rows = []
        for k in range(top + 1):
            rows.append((k, observed.get(k, 0), len(ones) * (total[k] if k < len(total) else 0)))
        return rows

    def people_ratio(self) -> dict:
        """Share of places ÷ share of requests of each person's carrier (1 request each)."""
        ones = [c for c, n in self.requests.items() if c != self.bot and n == 1]
        places = self.places_per_draw * len(self.draws)
        ratios = sorted((sum(self.wins(c)) / places) / (1 / self.total_requests) for c in ones)
        if not ratios:
            return {}

        def q(x: float) -> float:
            return ratios[int(x * (len(ratios) - 1))]

        won = sum(sum(self.wins(c)) for c in ones)
        return {
            "carriers": len(ones),
            "mean": sum(ratios) / len(ratios),
            "p10": q(0.10),
            "p50": q(0.50),
            "p90": q(0.90),
            "max": ratios[-1],
            "share_places": won / places,
            "share_requests": len(ones) / self.total_requests,
        }


def fairness_tables(f: Fairness) -> str:
    bot = f.bot_result()
    rec = f.recomputed_result()
    fc = f.first_come()
    draws = len(f.draws)
    people = f.people_ratio()
    limit = f.facts["fair_carrier_limit"]
    dc, fcc = f.draw_clients, f.first_come_clients
    lines = [
        f"Fairness: {f.facts['fair_places']} places (20 hours × 5) of one day, "
        f"{f.facts['carriers'] - 1} carriers ({len(f.requests) - 1} of them placed a request, "
        f"and the bot); F3's cap is {limit} requests per carrier; {draws} draws with fresh "
        "secrets, each rolled back.",
        "",
        "| release | client | HTTP requests sent | answers | in the draw / booked "
        "| share of requests | share of places | fair 95 % interval | places ÷ fair share |",
        "|---|---|---:|---|---:|---:|---:|---|---:|",
        f"| draw | bot | {dc['bot']['sent']} | {_statuses(dc['bot'])} | {bot['requests']} "
        f"requests | {bot['request_share']:.2%} | {bot['place_share']:.2%} ({bot['won']} of "
        f"{f.places_per_draw * draws} over {draws} draws; at most {bot['most_in_a_draw']} "
        f"in one) | {bot['low']:.2%} – {bot['high']:.2%} | "
        f"{bot['place_share'] / bot['request_share']:.2f} |"
        if bot["request_share"]
        else "| draw | bot | — | — | 0 | — | — | — | — |",
        f"| draw, recomputed | bot | — | — | {bot['requests']} requests | "
        f"{bot['request_share']:.2%} | {rec['place_share']:.2%} ({rec['won']} of "
        f"{f.places_per_draw * rec['draws']} over {rec['draws']} draws; at most "
        f"{rec['most_in_a_draw']} in one) | {rec['low']:.2%} – {rec['high']:.2%} | "
        f"{rec['place_share'] / max(bot['request_share'], 1e-9):.2f} |",
        f"| draw | people ({people.get('carriers', 0)} carriers) | {dc['person']['sent']} | "
        f"{_statuses(dc['person'])} | {f.total_requests - bot['requests']} requests | "
        f"{people.get('share_requests', 0):.2%} | {people.get('share_places', 0):.2%} | — | "
        f"{people.get('share_places', 0) / max(people.get('share_requests', 1), 1e-9):.2f} |",
        f"| first-come | bot | {fcc['bot']['sent']} | {_statuses(fcc['bot'])} | {fc['bot']} "
        f"booked | {fc['bot_sent'] / max(fc['sent'], 1):.2%} of HTTP requests | "
        f"{fc['bot'] / max(fc['booked'], 1):.2%} ({fc['bot']} of {fc['booked']}) | — | — |",
        f"| first-come | people | {fcc['person']['sent']} | {_statuses(fcc['person'])} | "
        f"{fc['people']} booked ({fc['people_carriers']} carriers) | "
        f"{1 - fc['bot_sent'] / max(fc['sent'], 1):.2%} of HTTP requests | "
        f"{fc['people'] / max(fc['booked'], 1):.2%} | — | — |",
        "",
        f"The people's carriers (one request each): places won over the {draws} draws, against "
        "what a fair draw gives (the sum of the draws' hypergeometric laws); share of places ÷ "
        f"share of requests per carrier: mean {people.get('mean', 0):.2f}, 10th percentile "
        f"{people.get('p10', 0):.2f}, median {people.get('p50', 0):.2f}, 90th percentile "
        f"{people.get('p90', 0):.2f}, largest {people.get('max', 0):.2f}.",
        "",
        "| places won | carriers | expected |",
        "|---:|---:|---:|",
        *(f"| {k} | {n} | {e:.1f} |" for k, n, e in f.people_histogram()),
        "",
        "| clients | seconds | first answer | last answer | people's p50 / p95 ms "
        "| bot's p50 / p95 ms | client CPU s |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for name, c in (("draw (requests)", dc), ("first-come (bookings)", fcc)):
        first = min(c["person"]["first_answer_s"], c["bot"]["first_answer_s"])
        last = max(c["person"]["last_answer_s"], c["bot"]["last_answer_s"])
        lines.append(
            f"| {name} | {c['seconds']} | {first} s | {last} s | {c['person']['p50_ms']} / "
            f"{c['person']['p95_ms']} | {c['bot']['p50_ms']} / {c['bot']['p95_ms']} | "
            f"{c['client_cpu_s']} |"
        )
    seconds = [d["seconds"] for d in f.draws]
    lines += [
        "",
        f"Each draw (window_draw, {f.places_per_draw} winners booked): median "
        f"{median(seconds):.2f} s, slowest {max(seconds):.2f} s; every document verified: "
        f"{'yes' if all(d['verified'] for d in f.draws) else 'NO'}.",
    ]
    return "\n".join(lines)


def draw_table(facts: dict, result: dict, verified: tuple[bool, str]) -> str:
    written = result["written"]
    if result["timed_out"]:
        return (
            f"The draw of {facts['draw_requests']} requests for {facts['draw_places']} places "
            f"was cancelled after {result['seconds']:.0f} s ({result['queries']} queries), in: "
            f"{result['cancelled_in']}; its transaction was rolled back."
        )
    return "\n".join(
        [
            "| draw | requests | places | won | unsuccessful | skipped | seconds | queries "
            "| bookings | transfers | audit events | messages | verify_draw |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            f"| {facts['draw_requests']} requests, 24 h × 650 places | {facts['draw_requests']} "
            f"| {facts['draw_places']} | {result['won']} | {result['unsuccessful']} | "
            f"{result['skipped']} | {result['seconds']:.2f} | {result['queries']} | "
            f"{written['bookings']} | {written['transfers']} | {written['audit events']} | "
            f"{written['messages']} | {'yes' if verified[0] else 'NO'} |",
        ]
    )


def intake_correct(check: dict, clients: int, statuses: dict) -> tuple[bool, str]:
    """Every 201 stored once, nothing stored without one, F3 respected."""
    found = check[str(clients)]
    accepted = statuses.get("201", 0)
    ok = (
        found["rows"] == accepted == found["live"] == found["distinct_vehicles"]
        and found["most_per_carrier"] <= found["carrier_limit"]
    )
    return ok, (
        f"{accepted} answers 201, {found['rows']} requests stored ({found['distinct_vehicles']} "
        f"vehicles, {found['carriers']} carriers, at most {found['most_per_carrier']} per "
        f"carrier of F3's {found['carrier_limit']})"
    )
