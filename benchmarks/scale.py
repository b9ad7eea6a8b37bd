"""Benchmark: the register at scale as users run it (issue 16): PostgreSQL at 3 M firms, 30 M out of core.

    .venv/bin/python benchmarks/scale.py postgres --csv /work/data/csv3m           # HUIQI_DATABASE_URL
    .venv/bin/python benchmarks/scale.py postgres --csv /work/data/csv3m --sqlite  # the same, embedded
    .venv/bin/python benchmarks/scale.py out-of-core --firms 30000000 --dir /work/data/reg30m [--import-db]
    .venv/bin/python benchmarks/scale.py out-of-core --dir /work/data/reg30m --import-db \
        --csv /work/data/csv30m --skip-dir-match --cap 6  # the import of its CSV export, then match db

``postgres``: every step is the ``huiqi`` command as a subprocess, timed from the outside, with its CPU
seconds (user + system of its process tree), the peak RSS of its process tree (sampled from /proc), the
database's size after it and the load average; one new database (``CREATE DATABASE``, ``huiqi db
upgrade``), dropped at the end:

1. ``huiqi register import CSV`` (a folder of table files, the register's CSV export), new database;
2. ``huiqi register import CSV-CHANGED``: the same register with the employees of 1 % of the firms changed;
3. ``huiqi match --register db``: first run; 4. again, nothing changed; 5. after an import (not timed) of a
   CSV changing 1 % of the firms (``benchmarks/match.py``'s ``change_one_percent``). The match is timed
   without ``--out``, as ``benchmarks/match.py`` times it (the figures the targets were set against); with
   ``--export`` each match also writes ``--out FILE.parquet``: after 1 % changed that writes the whole
   firm x programme table (42 M rows at 3 M firms) from the run's delta over its base, about 9.6 CPU-s more
   (DuckDB's Parquet writer; the run itself takes about 5.6 CPU-s besides start-up).

``out-of-core``: a register larger than memory (default 30 M firms) made with ``huiqi register synth --out
DIR`` (written as it is made), matched with ``huiqi match --register DIR`` (new embedded database), and
with ``--import-db`` imported into a new embedded database (``huiqi register import DIR``, or its CSV
export with ``--csv``: a large one is imported a credit-code range at a time) and matched with
``--register db``; ``--skip-dir-match`` leaves out the match from the directory. Each step's
peak RSS is the figure against the 4 GiB target.

Run the heavy steps one at a time on a shared machine: ``flock /tmp/huiqi-bench.lock`` around the script.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from match import CPU, HUIQI, ON, Database, _du, _tree_rss, change_one_percent, timed  # the same measuring

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


def capped(limit_gib: float, cmd: list[str]) -> int:
    """Run ``cmd`` in its own process group and end that group if its memory passes ``limit_gib`` (a run
    that would not fit is stopped before it pushes the shared machine into swapless OOM); its exit code."""
    proc = subprocess.Popen(cmd, start_new_session=True)
    while proc.poll() is None:
        if _tree_rss(proc.pid) > limit_gib * 2**30:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            print(f"stopped: more than {limit_gib} GiB", file=sys.stderr)
            return 137
        time.sleep(0.2)
    return proc.returncode


def _one_percent_changed(csv: Path, out: Path) -> int:
    """``benchmarks/import.py``'s copy of a CSV export with 1 % of the firms changed (a module named
    ``import`` is loaded by path)."""
    spec = importlib.util.spec_from_file_location("import_bench", Path(__file__).with_name("import.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.one_percent_changed(csv, out))


class Figures:
    """The table of the run: path, target, wall, CPU, peak RSS, database size, load."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float, float, float, float, str]] = []

    def add(self, path: str, target: str, seconds: float, rss: float, db_mib: float) -> None:
        load = "/".join(f"{x:.1f}" for x in os.getloadavg())
        self.rows.append((path, target, seconds, CPU[0], rss, db_mib, load))
        print(
            f"{path}: {seconds:.1f} s wall, {CPU[0]:.1f} CPU-s, peak {rss:.2f} GiB, "
            f"database {db_mib:.0f} MiB, load {load}",
            flush=True,
        )

    def print(self, title: str) -> None:
        print(f"\n{title}")
        print("| path | target | wall s | CPU s | peak RSS GiB | database MiB | load 1/5/15 |")
        print("|---|---|---|---|---|---|---|")
        for path, target, s, cpu, rss, mib, load in self.rows:
            print(f"| {path} | {target} | {s:.1f} | {cpu:.1f} | {rss:.2f} | {mib:.0f} | {load} |")


def database_run(args: argparse.Namespace) -> None:
    """Import, re-import 1 %, match first, unchanged, 1 % changed on one new database."""
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    csv: Path = args.csv
    changed_csv = args.changed or csv.with_name(csv.name + "-changed")
    if not (changed_csv / "firms.csv").exists():
        print(f"{_one_percent_changed(csv, changed_csv):,} firms changed in {changed_csv}", flush=True)
    db = Database(work, None if args.sqlite else args.postgres)
    name = "h4-scale"
    kind = "SQLite" if args.sqlite else "PostgreSQL"
    db.create(name)
    if args.sqlite:
        (work / f"{name}.match-results").mkdir(parents=True, exist_ok=True)
    env = db.env(name)
    figures = Figures()
    factor = 1.0 if args.sqlite else 1.5
    match = [HUIQI, "match", "--register", "db", "--on", ON.isoformat()]
    if args.export:  # the run keeps its results either way; --out also exports the whole table
        match += ["--out", str(work / "results.parquet")]
    try:
        s, rss, out = timed([HUIQI, "register", "import", str(csv)], env)
        print(out.strip()[-300:], flush=True)
        figures.add(
            f"import {csv.name} (CSV folder), new database",
            f"≤ {60 * factor:.0f} s, ≤ 4 GiB",
            s,
            rss,
            db.size(name) / 2**20,
        )
        s, rss, out = timed([HUIQI, "register", "import", str(changed_csv)], env)
        print(out.strip()[-300:], flush=True)
        figures.add(
            "re-import, 1 % of firms changed", f"≤ {30 * factor:.0f} s", s, rss, db.size(name) / 2**20
        )
        s, rss, _ = timed(match, env)
        figures.add(
            "match --register db, first run", f"≤ {20 * factor:.0f} s, ≤ 4 GiB", s, rss, db.size(name) / 2**20
        )
        s, rss, _ = timed(match, env)
        figures.add(
            "match --register db, nothing changed", f"≤ {5 * factor:.1f} s", s, rss, db.size(name) / 2**20
        )
        register = work / f"{name}.match-results" / "register"
        change_one_percent(db, name, register, 0, work, "db")
        s, rss, _ = timed(match, env)
        figures.add(
            "match --register db, 1 % changed", f"≤ {8 * factor:.0f} s", s, rss, db.size(name) / 2**20
        )
        tables = db.results_size(name) / 2**20
    finally:
        if not args.keep:
            db.drop(name)
            shutil.rmtree(work / "changed-0", ignore_errors=True)
            (work / "results.parquet").unlink(missing_ok=True)
    out = ", match with --out FILE.parquet" if args.export else ""
    figures.print(
        f"{kind}, {csv} ({_du(csv) / 2**20:.0f} MiB){out}; register tables and results files {tables:.0f} MiB"
    )


def out_of_core(args: argparse.Namespace) -> None:
    """A register larger than memory: made, matched from its directory, imported and matched from the db."""
    folder: Path = args.dir
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    figures = Figures()
    db = Database(work, None)
    if not (folder / "register.json").exists():
        synth = [HUIQI, "register", "synth", "--firms", str(args.firms), "--seed", "42", "--out", str(folder)]
        s, rss, _ = timed(synth, dict(os.environ))
        figures.add(f"register synth --out ({args.firms:,} firms)", "≤ 4 GiB", s, rss, 0)
    print(f"register {folder}: {_du(folder) / 2**30:.2f} GiB", flush=True)
    match = [HUIQI, "match", "--register", str(folder), "--on", ON.isoformat(), "--rows", "0"]
    try:
        if not args.skip_dir_match:
            db.create("dir")
            (work / "dir.match-results").mkdir(parents=True, exist_ok=True)
            s, rss, _ = timed([*match, "--out", str(work / "results.parquet")], db.env("dir"))
            figures.add("match --register DIR, first run", "≤ 4 GiB", s, rss, db.size("dir") / 2**20)
            s, rss, _ = timed(match, db.env("dir"))
            figures.add("match --register DIR, nothing changed", "≤ 4 GiB", s, rss, db.size("dir") / 2**20)
            if not args.keep:
                db.drop("dir")
        if args.import_db:
            source = args.csv or folder
            kind = "CSV folder" if args.csv else "DIR"
            db.create("imported")
            (work / "imported.match-results").mkdir(parents=True, exist_ok=True)
            cap = [
                sys.executable,
                __file__,
                "--capped",
                str(args.cap),
                HUIQI,
                "register",
                "import",
                str(source),
            ]
            started = time.perf_counter()
            try:
                s, rss, _ = timed(cap, db.env("imported"))
            except SystemExit as failed:  # stopped at the cap, or refused: said, and the figures so far kept
                print(f"import failed after {time.perf_counter() - started:.0f} s: {failed}", flush=True)
                figures.print(f"out of core, {args.firms:,} firms, SQLite (the import did not complete)")
                return
            figures.add(
                f"register import {source.name} ({kind}), new database",
                "≤ 4 GiB",
                s,
                rss,
                db.size("imported") / 2**20,
            )
            s, rss, _ = timed(
                [HUIQI, "match", "--register", "db", "--on", ON.isoformat()], db.env("imported")
            )
            figures.add("match --register db, first run", "≤ 4 GiB", s, rss, db.size("imported") / 2**20)
    finally:
        if not args.keep:
            for name in ("dir", "imported"):
                db.drop(name)
            (work / "results.parquet").unlink(missing_ok=True)
    figures.print(f"out of core, {args.firms:,} firms, SQLite")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    pg = sub.add_parser("postgres", help="3 M firms: import and match on PostgreSQL (or --sqlite)")
    pg.add_argument("--csv", type=Path, required=True, help="a CSV export (huiqi register export DIR)")
    pg.add_argument("--changed", type=Path, help="the same with 1 %% changed (default: made beside --csv)")
    pg.add_argument("--postgres", default=PG, help="a PostgreSQL server URL without database")
    pg.add_argument("--sqlite", action="store_true", help="the embedded database instead, for comparison")
    pg.add_argument("--work", type=Path, default=Path("/work/data/h4-scale"))
    pg.add_argument("--keep", action="store_true", help="keep the database and its files")
    pg.add_argument("--export", action="store_true", help="time huiqi match with --out FILE.parquet")
    ooc = sub.add_parser("out-of-core", help="30 M firms: synth, match DIR, import, match db")
    ooc.add_argument("--firms", type=int, default=30_000_000)
    ooc.add_argument("--dir", type=Path, required=True, help="the register directory (made if missing)")
    ooc.add_argument("--import-db", action="store_true", help="also import it into a new embedded database")
    ooc.add_argument("--csv", type=Path, help="import this CSV export of the register (not DIR itself)")
    ooc.add_argument(
        "--skip-dir-match", action="store_true", help="skip match --register DIR (measured already)"
    )
    ooc.add_argument("--work", type=Path, default=Path("/work/data/h4-ooc"))
    ooc.add_argument("--cap", type=float, default=8.0, help="GiB at which the import is stopped")
    ooc.add_argument("--keep", action="store_true", help="keep the databases and their files")
    args = parser.parse_args()
    print(f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    database_run(args) if args.what == "postgres" else out_of_core(args)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--capped":
        sys.exit(capped(float(sys.argv[2]), sys.argv[3:]))
    main()
