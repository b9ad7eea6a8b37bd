"""Benchmark: ``huiqi match --register db`` as users run it (issue 16), beside the engine alone.

    .venv/bin/python benchmarks/match.py --firms 300000           # SQLite (the embedded default)
    .venv/bin/python benchmarks/match.py --firms 300000 --postgres # and PostgreSQL (HUIQI_DATABASE_URL)
    .venv/bin/python benchmarks/match.py --firms 3000000 --runs 1
    .venv/bin/python benchmarks/match.py --firms 3000000 --register-dir  # huiqi match --register DIR

Setup (not timed): a synthetic register written into a new database with ``huiqi register synth --register
db`` (which also writes the register's columnar copy beside the database), or with ``--register-dir`` into
a register directory (``huiqi register synth --out DIR``; matched with ``--register DIR``, the 1 % change
imported into the directory). Then, each as a subprocess of
the ``huiqi`` command, timed from the outside, with the peak RSS of its process tree (sampled from /proc)
and the database's size after it:

- first run: a copy of the freshly synthesised database, no run stored yet (results file, stored run,
  eligible pairs, outbox); median of ``--runs`` copies;
- nothing changed: the same command again on that database, ``--runs`` times;
- 1 % of firms changed: an import (``huiqi register import``, not timed) of a CSV changing the employees
  of 1 % of the firms, then the match, ``--runs`` times (each after its own import).

The engine alone (compile the pack with unmet lists, DuckDB streams the wide result from the register's
Parquet files to Parquet, never through Python) is timed in the same run, for comparison.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ON = dt.date(2025, 7, 28)
HUIQI = str(Path(sys.executable).with_name("huiqi"))
#: Fold SQLite's write-ahead log into the file before copying it.
CHECKPOINT = "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)')"


def child(register: str, out: str) -> None:
    """The engine alone: compile + DuckDB from the register's Parquet files to a Parquet file."""
    from huiqi.rules import backends
    from huiqi.rules.compiler import compile_pack
    from huiqi.rules.loader import load_pack

    started = time.perf_counter()
    pack = load_pack()
    con = backends.duckdb_connect()
    tables = backends.duckdb_parquet_tables(con, register)
    compiled = compile_pack(pack, tables, ON, with_unmet=True)
    # the unmet lists written as ENUMs, looked up from the failed tests' bits where DuckDB has them
    table = compiled.as_bits if compiled.as_bits is not None else compiled.table
    rows = backends.copy_to_parquet(table, out, enums=compiled.unmet_values)
    print(f"{time.perf_counter() - started:.3f} {rows}")


def _tree_rss(pid: int) -> int:
    """The resident memory (bytes) of ``pid`` and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


#: CPU seconds (user + system) of the last command timed and its children: on a machine shared with other
#: runs the wall time grows with the load average, the CPU time much less.
CPU: list[float] = [0.0]


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS of the process tree in GiB, stdout) of one command; its CPU time in ``CPU``. The
    files written before it (the data made for it, the run before) are flushed to disk first, so that their
    write-back is not timed as this command's."""
    os.sync()
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    CPU[0] = _children_cpu() - cpu
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}\n{err}")
    return seconds, peak[0] / 2**30, out


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


class Database:
    """Where a benchmark's database is, how to copy it, and how big it is."""

    def __init__(self, root: Path, postgres: str | None) -> None:
        self.root, self.postgres = root, postgres

    def env(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        env["HUIQI_MATCH_RESULTS_DIR"] = str(self.root / f"{name}.match-results")
        env["HUIQI_DATABASE_URL"] = (
            f"{self.postgres}/{self._pg_name(name)}" if self.postgres else f"sqlite:///{self.root / name}.db"
        )
        return env

    def _pg_name(self, name: str) -> str:
        return f"huiqi_bench_{name.replace('-', '_')}"

    def _admin(self, sql: str) -> None:
        import sqlalchemy as sa

        assert self.postgres is not None
        engine = sa.create_engine(f"{self.postgres}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
        engine.dispose()

    def size(self, name: str) -> int:
        """Bytes of the database (without the results directory)."""
        if not self.postgres:
            return sum(_du(self.root / f"{name}.db{suffix}") for suffix in ("", "-wal"))
        import sqlalchemy as sa

        engine = sa.create_engine(f"{self.postgres}/{self._pg_name(name)}")
        with engine.connect() as conn:
            n = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
        engine.dispose()
        return int(n or 0)

    def results_size(self, name: str) -> int:
        return _du(self.root / f"{name}.match-results")

    def drop(self, name: str) -> None:
        shutil.rmtree(self.root / f"{name}.match-results", ignore_errors=True)
        if self.postgres:
            self._admin(f'DROP DATABASE IF EXISTS "{self._pg_name(name)}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm"):
                (self.root / f"{name}.db{suffix}").unlink(missing_ok=True)

    def create(self, name: str) -> None:
        self.drop(name)
        if self.postgres:
            self._admin(f'CREATE DATABASE "{self._pg_name(name)}"')
            subprocess.run([HUIQI, "db", "upgrade"], env=self.env(name), check=True, capture_output=True)

    def copy(self, src: str, dst: str) -> None:
        self.drop(dst)
        if self.postgres:
            self._admin(f'CREATE DATABASE "{self._pg_name(dst)}" TEMPLATE "{self._pg_name(src)}"')
        else:
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHECKPOINT,
                    str(self.root / f"{src}.db"),
                ],
                check=True,
            )
            shutil.copyfile(self.root / f"{src}.db", self.root / f"{dst}.db")
        shutil.copytree(self.root / f"{src}.match-results", self.root / f"{dst}.match-results")


def change_one_percent(db: Database, name: str, register: Path, round_: int, work: Path, into: str) -> None:
    """Import (not timed) a CSV changing the employees of 1 % of the firms (a different 1 % each round)
    into ``into`` (``db``); a register directory's firms file is rewritten with the change instead, as the
    tool that keeps such a directory would."""
    import duckdb

    if into != "db":
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        firms = pq.read_table(register / "firms.parquet")
        rows = np.arange(firms.num_rows, dtype=np.uint64)
        mask = pa.array((rows * np.uint64(2654435761) + np.uint64(round_)) % np.uint64(100) == 0)
        employees = pc.add(pc.fill_null(firms["employees"], 0), round_ + 1)
        changed = firms.set_column(
            firms.schema.get_field_index("employees"),
            "employees",
            pc.if_else(mask, employees, firms["employees"]),
        )
        fresh = register / ".firms.parquet.new"
        pq.write_table(changed, fresh, compression="zstd")
        os.replace(fresh, register / "firms.parquet")
        return

    csv = work / f"changed-{round_}"
    shutil.rmtree(csv, ignore_errors=True)
    csv.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT uscc, coalesce(employees, 0) + {round_ + 1} AS employees "
        f"FROM read_parquet('{register / 'firms.parquet'}') WHERE hash(uscc || '{round_}') % 100 = 0) "
        f"TO '{csv / 'firms.csv'}' (HEADER)"
    )
    subprocess.run(
        [HUIQI, "register", "import", str(csv), "--register", into],
        env=db.env(name),
        check=True,
        capture_output=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/huiqi-bench-match"))
    ap.add_argument(
        "--postgres", nargs="?", const="postgresql+psycopg://postgres@127.0.0.1:5432", default=None
    )
    ap.add_argument("--reuse", action="store_true", help="keep the synthesised database of an earlier run")
    ap.add_argument("--register-dir", action="store_true", help="match a register directory, not the db")
    ap.add_argument("--export", action="store_true", help="time huiqi match with --out FILE.parquet")
    ap.add_argument("--pack", action="append", default=[], help="programme pack or folder (default: bundled)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    db = Database(args.dir, args.postgres)
    kind = "PostgreSQL" if args.postgres else "SQLite"
    base = f"base-{args.firms}"
    t = time.perf_counter()
    folder = args.dir / f"register-{args.firms}"
    if args.register_dir:
        kind += ", --register DIR"
        if not (args.reuse and (folder / "firms.parquet").exists()):
            shutil.rmtree(folder, ignore_errors=True)
            synth = [HUIQI, "register", "synth", "--firms", str(args.firms), "--seed", "42"]
            subprocess.run([*synth, "--out", str(folder)], check=True, capture_output=True)
        db.create(base)
        subprocess.run([HUIQI, "db", "upgrade"], env=db.env(base), check=True, capture_output=True)
        (args.dir / f"{base}.match-results").mkdir(parents=True, exist_ok=True)
        print(f"{args.firms:,} firms in {folder} ({time.perf_counter() - t:.0f} s)", flush=True)
    elif args.reuse and db.size(base):
        print(f"reusing the {args.firms:,}-firm {kind} database of an earlier run", flush=True)
    else:
        db.create(base)
        subprocess.run(
            [HUIQI, "register", "synth", "--firms", str(args.firms), "--seed", "42", "--register", "db"],
            env=db.env(base),
            check=True,
            capture_output=True,
        )
        print(f"{args.firms:,} firms synthesised into {kind} in {time.perf_counter() - t:.0f} s", flush=True)
    before = db.size(base)
    register = folder if args.register_dir else args.dir / f"{base}.match-results" / "register"

    s, _ = engine_alone(register, args.dir / "engine.parquet")
    print(f"engine alone (compile + DuckDB, Parquet to Parquet): {s:.2f} s", flush=True)

    cmd = [HUIQI, "match", "--register", str(folder) if args.register_dir else "db", "--on", ON.isoformat()]
    for pack in args.pack:  # a fixed copy of the programmes (others may be editing the bundled ones)
        cmd += ["--pack", pack]
    if args.export:  # the run keeps its results either way; --out also exports the whole table
        cmd += ["--out", str(args.dir / "results.parquet")]
    figures: dict[str, list[tuple[float, float, int, float]]] = {
        "first run": [],
        "nothing changed": [],
        "1 % changed": [],
    }
    for i in range(args.runs):
        name = f"run{i}"
        db.copy(base, name)
        s, rss, _ = timed(cmd, db.env(name))
        figures["first run"].append((s, rss, db.size(name) - before, CPU[0]))
        grew = (db.size(name) - before) / 2**20
        print(
            f"first run {i + 1}: {s:.2f} s (CPU {CPU[0]:.2f} s), peak {rss:.2f} GiB, "
            f"database +{grew:.1f} MiB",
            flush=True,
        )
    name = "run0"
    for i in range(args.runs):
        size = db.size(name)
        s, rss, _ = timed(cmd, db.env(name))
        figures["nothing changed"].append((s, rss, db.size(name) - size, CPU[0]))
        print(f"nothing changed {i + 1}: {s:.2f} s (CPU {CPU[0]:.2f} s), peak {rss:.2f} GiB", flush=True)
    for i in range(args.runs):
        change_one_percent(db, name, register, i, args.dir, str(folder) if args.register_dir else "db")
        size = db.size(name)
        s, rss, _ = timed(cmd, db.env(name))
        figures["1 % changed"].append((s, rss, db.size(name) - size, CPU[0]))
        print(f"1 % changed {i + 1}: {s:.2f} s (CPU {CPU[0]:.2f} s), peak {rss:.2f} GiB", flush=True)

    page_ms = firm_page(db.env(name))
    load = os.getloadavg()
    print(
        f"\n{kind}, {args.firms:,} firms x {len(load_ids())} programmes, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)"
    )
    print(f"{'path':<18}{'median s':>10}{'runs':>26}{'CPU s':>8}{'peak GiB':>10}{'db growth MiB':>15}")
    for label, rows in figures.items():
        times = [r[0] for r in rows]
        print(
            f"{label:<18}{statistics.median(times):>10.2f}{', '.join(f'{x:.2f}' for x in times):>26}"
            f"{statistics.median(r[3] for r in rows):>8.2f}"
            f"{max(r[1] for r in rows):>10.2f}{max(r[2] for r in rows) / 2**20:>15.1f}"
        )
    print(f"engine alone      {s_engine[0]:>10.2f}{'':>26}{CPU_ENGINE[0]:>8.2f}")
    print(
        f"a firm's page (current results and messages), median of {PAGE_FIRMS} told firms: {page_ms:.1f} ms"
    )
    mib = db.size(name) / 2**20, db.results_size(name) / 2**20
    print(f"database after: {mib[0]:.0f} MiB; results files and register copy: {mib[1]:.0f} MiB")
    for i in range(args.runs):
        db.drop(f"run{i}")


s_engine: list[float] = []


CPU_ENGINE = [0.0]


def engine_alone(register: Path, out: Path) -> tuple[float, float]:
    _outside, rss, stdout = timed(
        [sys.executable, __file__, "--child", str(register), str(out)], dict(os.environ)
    )
    CPU_ENGINE[0] = CPU[0]
    s_engine.append(float(stdout.split()[0]))
    return s_engine[-1], rss


#: How many firms told by the runs a firm's page is timed for.
PAGE_FIRMS = 20


def page_child() -> None:
    """A firm's page as the web reads it (``matching.firm_results`` and ``matching.firm_inbox``), for
    firms with messages, in one process as a web worker (the programmes loaded once); median ms."""
    from sqlalchemy import select

    from huiqi.app import matching
    from huiqi.app.store import Store
    from huiqi.matching.models import Notification
    from huiqi.rules.loader import load_pack

    pack = load_pack()
    store = Store.open()
    codes = store.read(
        lambda s: list(s.scalars(select(Notification.uscc).distinct().order_by(Notification.uscc)))
    )
    step = max(1, len(codes) // PAGE_FIRMS)
    times = []
    for uscc in codes[::step][:PAGE_FIRMS]:
        started = time.perf_counter()
        matching.firm_results(store, uscc=uscc)
        matching.firm_inbox(store, uscc=uscc, programmes=pack)
        times.append(time.perf_counter() - started)
    print(f"{statistics.median(times) * 1000:.3f}" if times else "nan")


def firm_page(env: dict[str, str]) -> float:
    """The median ms of a firm's page over the benchmark's database (see ``page_child``)."""
    _s, _rss, out = timed([sys.executable, __file__, "--page"], env)
    return float(out.split()[-1])


def load_ids() -> list[str]:
    from huiqi.rules.loader import load_pack

    return sorted(load_pack())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--page":
        page_child()
    else:
        main()
