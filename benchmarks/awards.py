"""Awards per second through huiqi's service layer, beside pgbench doing the bare conditional UPDATE.

32 workers grant awards from one hot pool on the local PostgreSQL for a fixed time, each award a full
service call (idempotency key, balanced postings, award and tranche rows, the conditional UPDATE on the
pool, a link of the audit chain) in its own retried transaction; the ledger and audit chain are verified
after. Then pgbench runs, with the same number of clients for the same time, a one-statement script doing
the same conditional UPDATE on one pool row. Both figures and their ratio are printed.

    .venv/bin/python benchmarks/awards.py                 # 10 s each, 32 workers
    .venv/bin/python benchmarks/awards.py --seconds 5 --workers 16

Uses a dedicated database (``huiqi_bench`` by default) that it creates and drops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiqi.audit import chain as audit
from huiqi.db import make_engine, make_session_factory, run_in_transaction
from huiqi.db.migrate import upgrade
from huiqi.ledger import service
from huiqi.ledger.errors import InsufficientFunds
from huiqi.ledger.verify import verify_ledger

POOL_ID = "bench.hot"
AMOUNT = Decimal("1.00")


def _admin(url: str) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


def create_database(admin_url: str, name: str) -> str:
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def _worker(
    url: str,
    worker: int,
    threads: int,
    batch: int,
    at_commit: bool,
    run: str,
    start_at: float,
    stop_at: float,
    out: mp.Queue[tuple[int, int]],
) -> None:
    """One process with ``threads`` threads; each thread has its own session per transaction."""
    engine = make_engine(url, pool_size=threads)
    factory = make_session_factory(engine)
    counts = [0] * threads
    refused = [0] * threads

    def loop(t: int) -> None:
        n = 0
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            n += 1
            firm = f"BENCH{worker:06d}{t:07d}"
            if batch <= 1:
                key = f"bench-{run}-{worker}-{t}-{n}"

                def work(session: Session, key: str = key, firm: str = firm) -> int:
                    service.grant_award(
                        session=session,
                        pool_id=POOL_ID,
                        firm_uscc=firm,
                        amount=AMOUNT,
                        actor="bench",
                        idempotency_key=key,
                        settle_at_commit=at_commit,
                    )
                    return 1
            else:
                requests = [
                    service.AwardRequest(firm, AMOUNT, f"bench-{run}-{worker}-{t}-{n}-{i}")
                    for i in range(batch)
                ]

                def work(session: Session, requests: list[service.AwardRequest] = requests) -> int:
                    results = service.grant_awards(
                        session=session, pool_id=POOL_ID, requests=requests, actor="bench"
                    )
                    return sum(1 for r in results if not isinstance(r, Exception))

            try:
                counts[t] += run_in_transaction(factory, work)
            except InsufficientFunds:
                refused[t] += 1

    ts = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    engine.dispose()
    out.put((sum(counts), sum(refused)))


def run_huiqi(
    url: str, workers: int, processes: int, seconds: float, batch: int, at_commit: bool = False
) -> tuple[int, float]:
    run = f"{batch}{'c' if at_commit else ''}"  # every run its own idempotency keys: no replays counted
    ctx = mp.get_context("fork")
    out: mp.Queue[tuple[int, int]] = ctx.Queue()
    start_at = time.time() + 1.5  # let every process connect first
    stop_at = start_at + seconds
    per = [workers // processes + (1 if i < workers % processes else 0) for i in range(processes)]
    procs = [
        ctx.Process(target=_worker, args=(url, i, n, batch, at_commit, run, start_at, stop_at, out))
        for i, n in enumerate(per)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results), seconds


def verify(url: str, awards: int) -> list[str]:
    engine = make_engine(url, pool_size=1)
    problems: list[str] = []
    with make_session_factory(engine)() as s:
        report = verify_ledger(session=s)
        problems += report.problems
        chain = audit.verify_chain(session=s)
        if not chain.ok:
            assert chain.problem is not None
            problems.append(chain.problem.message)
        n = s.scalar(sa.text("SELECT count(*) FROM awards"))
        if n != awards:
            problems.append(f"{awards} awards acknowledged but {n} stored")
    engine.dispose()
    return problems


def run_pgbench(url: str, clients: int, seconds: float) -> float:
    pgbench = shutil.which("pgbench") or "/usr/bin/pgbench"
    parsed = sa.make_url(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE pgbench_pool (id int PRIMARY KEY, available bigint NOT NULL)")
        conn.exec_driver_sql("INSERT INTO pgbench_pool VALUES (1, 9000000000000)")
    engine.dispose()
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("UPDATE pgbench_pool SET available = available - 100 WHERE id = 1 AND available >= 100;\n")
        script = f.name
    cmd = [
        pgbench,
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(int(seconds)),
        "-f",
        script,
        "-h",
        parsed.host or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "postgres",
        parsed.database or "",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    Path(script).unlink(missing_ok=True)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", proc.stdout)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"pgbench failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return float(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="worker processes sharing the workers (threads), to spread Python over the cores",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=16,
        help="awards per transaction in the batched run (grant_awards); 0 skips it",
    )
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="huiqi_bench")
    args = parser.parse_args(argv)

    url = create_database(args.admin_url, args.database)
    try:
        upgrade(url)
        engine = make_engine(url, pool_size=1)
        with make_session_factory(engine)() as s:
            service.create_pool(
                session=s,
                pool_id=POOL_ID,
                name="benchmark hot pool",
                size="600000000.00",
                period_start=dt.date(2025, 1, 1),
                period_end=dt.date(2025, 12, 31),
                actor="bench",
                idempotency_key="bench-pool",
            )
            s.commit()
        engine.dispose()
        procs = max(1, args.processes)
        awards, seconds = run_huiqi(url, args.workers, procs, args.seconds, 1)
        at_commit, _ = run_huiqi(url, args.workers, procs, args.seconds, 1, at_commit=True)
        batched = 0
        if args.batch > 1:
            batched, _ = run_huiqi(url, args.workers, procs, args.seconds, args.batch)
        problems = verify(url, awards + at_commit + batched)
        tps = run_pgbench(url, args.workers, args.seconds)
    finally:
        drop_database(args.admin_url, args.database)

    rows = [
        ("huiqi grant_award, 1 award per transaction", awards, awards / seconds),
        ("  same, settle_at_commit=True", at_commit, at_commit / seconds),
    ]
    if batched:
        rows.append((f"huiqi grant_awards, {args.batch} per transaction", batched, batched / seconds))
    print(
        f"\n{args.workers} workers/clients, one hot pool, {args.seconds:g} s each, PostgreSQL at "
        f"{sa.make_url(args.admin_url).host}"
    )
    print(f"{'':46} {'awards':>10} {'per second':>11} {'vs pgbench':>11}")
    for name, n, rate in rows:
        print(f"{name:46} {n:>10,} {rate:>11,.0f} {rate / tps:>11.1%}")
    print(f"{'pgbench, one-statement conditional UPDATE':46} {'':>10} {tps:>11,.0f} {'(tps)':>11}")
    print("target: huiqi >= 40% of pgbench")
    print(f"invariants after the runs: {'ledger and audit chain verify' if not problems else 'FAILED'}")
    for p in problems:
        print(f"  - {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
