"""Mixed traffic against the real server: throughput and p50/p99 latency per kind of request, zero errors,
and the ledger and the audit chain verified through the API afterwards.

The script makes a fresh database (PostgreSQL by default, created and dropped; ``--sqlite`` for a temporary
SQLite file), migrates it, creates an officer, a funded pool and an open first-come-first-served call, then
starts ``huiqi serve`` (``--workers`` processes, one a CPU by default) on a free loopback port. ``--clients``
closed-loop clients (asyncio, one keep-alive HTTP/1.1 connection each) then repeat, for ``--seconds``:

    calculator  POST /api/v1/calculator (anonymous: the small AI firm example, its city's programmes)
    submit      POST /api/v1/applications (the officer, for the client's firm, one model-use contract)
    check       POST /api/v1/applications/{id}/check (the rules engine's verdict)
    decide      POST /api/v1/applications/{id}/decide (approve and reserve; Idempotency-Key)
    grant       POST /api/v1/applications/{id}/grant (the reservation becomes an award; Idempotency-Key)
    pay         POST /api/v1/applications/{id}/tranches/1/pay (the whole award; Idempotency-Key)
    firm        PUT /api/v1/firms/{uscc} (a new firm profile when the client's contracts are used up)

Every answer is checked (status and the state it reports); anything else is an error, and any error makes the
script exit 1. The money-write rate limit (HUIQI_MONEY_RATE_LIMIT) is set far above what the clients can
reach: this measures the server, not the limiter's refusals.

.venv/bin/python benchmarks/load.py [--seconds 30] [--clients 16] [--workers N] [--sqlite] [--warmup 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from huiqi.db import make_engine, make_session_factory, run_in_transaction
from huiqi.db.migrate import upgrade

KINDS = ("calculator", "submit", "check", "decide", "grant", "pay", "firm")
PASSWORD = "load-benchmark-password"
POOL, CALL, PROGRAMME = "load-pool", "load-call", "shanghai.ai.model-voucher"
CONTRACTS_PER_FIRM = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def fresh_database(sqlite: bool, admin_url: str, directory: Path) -> Iterator[tuple[str, str]]:
    """A migrated empty database; yields (url, what to call it). PostgreSQL ones are dropped afterwards."""
    if sqlite:
        url = f"sqlite:///{directory / 'huiqi.db'}"
        upgrade(url)
        yield url, f"SQLite {directory / 'huiqi.db'}"
        return
    name = f"huiqi_load_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url, f"PostgreSQL, fresh database {name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def set_up(url: str) -> None:
    """An officer, a pool far larger than the run can spend, and an open first-come-first-served call."""
    from sqlalchemy.orm import Session

    from huiqi.accounts import service as accounts
    from huiqi.applications import service as apps
    from huiqi.ledger import service as ledger

    now = dt.datetime.now(dt.UTC)

    def work(s: Session) -> None:
        accounts.create_user(session=s, username="officer", password=PASSWORD, role="officer", actor="load")
        ledger.create_pool(
            session=s,
            pool_id=POOL,
            name="load benchmark",
            size="10000000000.00",
            period_start=dt.date(now.year, 1, 1),
            period_end=dt.date(now.year, 12, 31),
            per_firm_cap=None,
            actor="load",
            idempotency_key="load:pool",
        )
        apps.open_call(
            session=s,
            call_id=CALL,
            programme_id=PROGRAMME,
            programme_version="2025.1",
            pool_id=POOL,
            opens_at=now - dt.timedelta(hours=1),
            closes_at=now + dt.timedelta(days=2),
            allocation_mode="fcfs",
            actor="load",
        )

    engine = make_engine(url, pool_size=1)
    try:
        run_in_transaction(make_session_factory(engine), work)
    finally:
        engine.dispose()


def pg_counters(url: str) -> dict[str, int]:
    """pg_stat_database for the run's database (the server's backends have exited: their counts are in)."""
    engine = sa.create_engine(url)
    try:
        time.sleep(0.5)  # backends report their counters as they exit
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT xact_commit, xact_rollback, deadlocks, conflicts FROM pg_stat_database "
                    "WHERE datname = current_database()"
                )
            ).one()
        return dict(row._mapping)
    finally:
        engine.dispose()


def server_args(port: int, workers: int) -> list[str]:
    quiet = ["--log-level", "warning", "--no-access-log"]
    return ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *quiet]


def start_server(url: str, directory: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "HUIQI_DATABASE_URL": url,
        "HUIQI_EVIDENCE_DIR": str(directory / "evidence"),
        "HUIQI_PROGRAMMES_DIR": str(directory / "programmes"),
        "HUIQI_MONEY_RATE_LIMIT": "100000000",
    }
    log = (directory / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "huiqi.cli.main", "serve", *server_args(port, workers)],  # as operators run it
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{(directory / 'server.log').read_text(errors='replace')}")
        try:
            if httpx.get(base + "/openapi.json", timeout=5).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not answer within 120 s")


class Http:
    """One keep-alive HTTP/1.1 connection over asyncio streams: a lean client, so that the load generator
    (on the same machine) takes as little CPU from the server as it can."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send and read the answer. The server closes a connection idle past its keep-alive timeout; a
        request that finds its reused connection closed before any byte of the answer is sent once more on a
        new one, as HTTP clients do (the money writes carry an Idempotency-Key besides)."""
        payload = b"" if body is None else json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        message = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.fixed}{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        reused = self.writer is not None
        try:
            return await self._exchange(message)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
        return await self._exchange(message)

    async def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(message)
        answer = await self.reader.readuntil(b"\r\n\r\n")
        status = int(answer[9:12])
        lines = answer.decode("latin-1").lower().split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        if "content-length" in fields:
            content = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding") == "chunked":
            content = b""
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                content += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
        else:
            content = b""
        if fields.get("connection") == "close":
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    recording: bool = True
    granted: int = 0  # grants answered 200, warm-up included: the awards the database must hold

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 8:
            self.samples.append(f"{kind}: {message[:300]}")


def firm_profile(uscc: str, example: dict[str, Any]) -> dict[str, Any]:
    """The small AI firm example (eligible for the model voucher) under another code, with enough model-use
    contracts for a run of awards (a contract can be awarded once)."""
    model_use = next(c for c in example["contracts"] if c["kind"] == "model_use")
    contracts = [{**model_use, "id": f"HT-LOAD-{i:03d}"} for i in range(CONTRACTS_PER_FIRM)]
    return {**example, "uscc": uscc, "contracts": contracts}


async def client(
    n: int, base: str, token: str, example: dict[str, Any], stop_at: float, tally: Tally
) -> None:
    """One closed-loop client: calculator, then an application carried from submission to payment. A round
    begun before ``stop_at`` is finished, so that every kind is measured even in a very short run."""
    from huiqi.firms.uscc import make_uscc

    host, port = base.removeprefix("http://").split(":")
    anonymous = Http(host, int(port), {})
    officer = Http(host, int(port), {"Authorization": f"Bearer {token}"})
    calculator = {"firm": example, "on": "2025-12-01", "lang": "en"}
    firms = 0
    uscc, contracts = "", 0
    rng = random.Random(n)

    async def call(
        kind: str, http: Http, method: str, path: str, body: Any, want: int, key: bool = False
    ) -> dict[str, Any] | None:
        headers = {"Idempotency-Key": uuid.uuid4().hex} if key else None
        t0 = time.perf_counter()
        try:
            status, content = await http.request(method, path, body, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await http.close()
            tally.error(kind, f"{type(exc).__name__}: {exc}")
            return None
        ms = (time.perf_counter() - t0) * 1000
        if status != want:
            tally.error(kind, f"{method} {path}: {status} {content.decode(errors='replace')}")
            return None
        if tally.recording:
            tally.latencies[kind].append(ms)
        if kind == "calculator":
            if b'"eligible_count"' not in content:
                tally.error(kind, f"no eligible_count in the answer: {content[:200]!r}")
            return {}  # not parsed: the load generator's CPU is the server's too
        answer: dict[str, Any] = json.loads(content)
        return answer

    try:
        while time.monotonic() < stop_at:
            await call("calculator", anonymous, "POST", "/api/v1/calculator", calculator, 200)
            if contracts == 0:
                firms += 1
                uscc = make_uscc(f"91310110MA{n:03d}{firms:04d}")
                if await call(
                    "firm", officer, "PUT", f"/api/v1/firms/{uscc}", firm_profile(uscc, example), 200
                ):
                    contracts = CONTRACTS_PER_FIRM
                else:
                    continue
            contracts -= 1
            amount = f"{rng.randint(1000, 9999)}.{rng.randint(0, 99):02d}"
            claim = {"contract_id": f"HT-LOAD-{contracts:03d}", "amount": amount}
            body = {"call_id": CALL, "firm_uscc": uscc, "claims": [claim]}
            app = await call("submit", officer, "POST", "/api/v1/applications", body, 201)
            if app is None:
                continue
            steps: list[tuple[str, str, Any, str, str]] = [
                ("check", f"/applications/{app['id']}/check", None, "state", "under_review"),
                ("decide", f"/applications/{app['id']}/decide", None, "state", "approved"),
                ("grant", f"/applications/{app['id']}/grant", {}, "status", "active"),
                (
                    "pay",
                    f"/applications/{app['id']}/tranches/1/pay",
                    {"reference": "L"},
                    "award_status",
                    "completed",
                ),
            ]
            for kind, path, payload, what, expected in steps:
                answer = await call(
                    kind, officer, "POST", "/api/v1" + path, payload, 200, key=kind != "check"
                )
                if answer is None:
                    break
                if answer.get(what) != expected:
                    tally.error(kind, f"{what} is {answer.get(what)!r}, expected {expected!r}: {answer}")
                    break
                tally.granted += kind == "grant"
    finally:
        await anonymous.close()
        await officer.close()


async def run_clients(
    base: str, token: str, clients: int, warmup: float, seconds: float
) -> tuple[Tally, float]:
    examples = Path(str(resources.files("huiqi.firms").joinpath("examples")))
    example = json.loads((examples / "small-ai-firm.json").read_text(encoding="utf-8"))
    tally = Tally(recording=warmup <= 0)
    start = time.monotonic()
    stop_at = start + warmup + seconds
    tasks = [asyncio.create_task(client(n, base, token, example, stop_at, tally)) for n in range(clients)]
    if warmup > 0:
        await asyncio.sleep(warmup)
        tally.latencies.clear()
        tally.recording = True
    measured_from = time.monotonic()
    await asyncio.gather(*tasks)
    return tally, time.monotonic() - measured_from


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the measured run")
    parser.add_argument("--clients", type=int, default=16, help="concurrent closed-loop clients")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)"
    )
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="huiqi-bench-load-") as tmp,
        fresh_database(args.sqlite, args.admin_url, Path(tmp)) as (url, where),
    ):
        set_up(url)
        proc, base = start_server(url, Path(tmp), args.workers)
        try:
            login = httpx.post(
                base + "/api/v1/auth/login", json={"username": "officer", "password": PASSWORD}, timeout=60
            )
            login.raise_for_status()
            token = login.json()["token"]
            tally, wall = asyncio.run(run_clients(base, token, args.clients, args.warmup, args.seconds))
            auth = {"Authorization": f"Bearer {token}"}
            ledger = httpx.get(base + "/api/v1/ledger/verify", headers=auth, timeout=300).json()
            chain = httpx.get(base + "/api/v1/audit/verify", headers=auth, timeout=300).json()
            awards = httpx.get(base + "/api/v1/awards?limit=1", headers=auth, timeout=60).json()["total"]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        database = None if args.sqlite else pg_counters(url)
    load_after = os.getloadavg()

    print(
        f"mixed load: {args.clients} closed-loop clients for {args.seconds:g} s (after {args.warmup:g} s of "
        f"warm-up) on loopback; server huiqi serve, {args.workers} workers, {where}"
    )
    print(
        f"load average (1/5/15 min) before {fmt_load(load_before)}, after {fmt_load(load_after)} on "
        f"{os.cpu_count()} CPUs shared by server, database and clients\n"
    )
    print(f"{'kind':<12}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
    everything: list[float] = []
    for kind in KINDS:
        values = tally.latencies.get(kind, [])
        everything += values
        print(row(kind, values, tally.errors.get(kind, 0), wall))
    errors = sum(tally.errors.values())
    print(row("all", everything, errors, wall))
    print(f"\nerrors: {errors}")
    for sample in tally.samples:
        print(f"  {sample}")
    print(
        f"ledger verify: {'ok' if ledger['ok'] else 'FAILED'} ({ledger['transactions']:,} transactions, "
        f"{ledger['pools']} pools)"
    )
    for problem in ledger["problems"][:10]:
        print(f"  {problem}")
    print(f"awards stored: {awards:,}; grants acknowledged: {tally.granted:,}")
    print(
        f"audit chain: {'ok' if chain['ok'] else 'FAILED'} ({chain['checked']:,} links)"
        + (f": {chain['problem']}" if chain["problem"] else "")
    )
    if database is not None:
        print(
            "PostgreSQL, the run's database: {xact_commit:,} commits, {xact_rollback:,} rollbacks (a read "
            "ends in one too; a write retried after a conflict adds one), {deadlocks} deadlocks, {conflicts} "
            "conflicts".format(**database)
        )
    ok = errors == 0 and bool(everything) and ledger["ok"] and chain["ok"] and awards == tally.granted
    return 0 if ok else 1


def row(kind: str, values: list[float], errors: int, wall: float) -> str:
    if not values:
        return f"{kind:<12}{0:>10}{'':>36}{errors:>8}"
    return (
        f"{kind:<12}{len(values):>10,}{len(values) / wall:>9.1f}{statistics.median(values):>9.1f}"
        f"{pct(values, 0.99):>9.1f}{max(values):>9.1f}{errors:>8}"
    )


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    sys.exit(main())
