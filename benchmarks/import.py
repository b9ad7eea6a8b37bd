"""Benchmark: ``huiqi register import`` into the stored register as users run it (issue 16).

    .venv/bin/python benchmarks/import.py                              # 3 M firms CSV, 1 M xlsx, SQLite
    .venv/bin/python benchmarks/import.py --firms 300000 --xlsx-firms 100000 --runs 3
    .venv/bin/python benchmarks/import.py --postgres postgresql://postgres@127.0.0.1:5432

Setup (not timed), under ``--work`` (default /tmp/bench-import, removed at the end unless ``--keep``):
the synthetic register (``huiqi register synth --out``) exported as CSV files (``huiqi register export
DIR``: a folder of table files) and, for the workbook figure, a register of ``--xlsx-firms`` exported as
one xlsx workbook; a copy of the CSV folder with the employees of 1 % of the firms changed. ``--csv`` and
``--xlsx`` take ready exports instead (e.g. made once for several runs).

Timed, each as a subprocess of the ``huiqi`` command, from the outside, with the peak RSS of its process
tree (sampled from /proc), its CPU seconds (user + system, printed per run: the machine is shared), and the
database's and the register tables' size after it:

- the CSV folder into a new database (median of ``--runs``);
- the same register again with 1 % of firms changed, into each of those databases (history recorded for
  the changed firms only: the command's own counts are printed);
- the xlsx workbook into a new database (median of ``--xlsx-runs``, default 1: it is the slow one).

The load of the machine (``uptime``) is printed before and after: the figures depend on it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from match import CPU, HUIQI, Database, _du, timed  # the same measuring as benchmarks/match.py


def uptime() -> str:
    """The machine's load, as ``uptime`` prints it."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def said(what: str, seconds: float, rss: float, out: str) -> None:
    """One run's figures as it ends: wall, CPU seconds of the command, peak memory, its own summary."""
    print(f"{what}: {seconds:.1f} s, {CPU[0]:.1f} CPU-s, peak {rss:.2f} GiB, {out.strip()}", flush=True)


def make_exports(work: Path, firms: int, xlsx_firms: int) -> tuple[Path, Path | None]:
    """A CSV export of ``firms`` synthetic firms and an xlsx export of ``xlsx_firms`` (not timed)."""
    csv = work / "csv"
    if not (csv / "firms.csv").exists():
        reg = work / "register"
        subprocess.run([HUIQI, "register", "synth", "--firms", str(firms), "--out", str(reg)], check=True)
        subprocess.run([HUIQI, "register", "export", str(csv), "--register", str(reg)], check=True)
        shutil.rmtree(reg, ignore_errors=True)
    xlsx = None
    if xlsx_firms:
        xlsx = work / "register.xlsx"
        if not xlsx.exists():
            reg = work / "register-xlsx"
            args = ["--firms", str(xlsx_firms), "--seed", "1", "--out", str(reg)]
            subprocess.run([HUIQI, "register", "synth", *args], check=True)
            subprocess.run([HUIQI, "register", "export", str(xlsx), "--register", str(reg)], check=True)
            shutil.rmtree(reg, ignore_errors=True)
    return csv, xlsx


def one_percent_changed(csv: Path, out: Path) -> int:
    """``csv`` copied to ``out`` with the employees of 1 % of the firms (every 100th row) changed; how
    many firms were changed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(csv, out)
    header = (csv / "firms.csv").open(encoding="utf-8-sig").readline().strip().split(",")
    firms = pcsv.read_csv(
        csv / "firms.csv",
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    pick = pa.array(np.arange(firms.num_rows) % 100 == 0)
    now = pc.cast(pc.if_else(pc.equal(firms["employees"], ""), "0", firms["employees"]), pa.int64())
    more = pc.cast(pc.add(now, 1), pa.string())
    firms = firms.set_column(
        header.index("employees"), "employees", pc.if_else(pick, more, firms["employees"])
    )
    pcsv.write_csv(firms, out / "firms.csv")
    return int(pc.sum(pick).as_py())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--firms", type=int, default=3_000_000)
    parser.add_argument("--xlsx-firms", type=int, default=1_000_000, help="0: no workbook figure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--xlsx-runs", type=int, default=1)
    parser.add_argument("--postgres", help="a PostgreSQL server URL without database (else SQLite)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-import"))
    parser.add_argument("--csv", type=Path, help="a ready CSV export (a folder of table files)")
    parser.add_argument("--xlsx", type=Path, help="a ready xlsx export")
    parser.add_argument("--keep", action="store_true", help="keep the exports and databases")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"before: {uptime()}", flush=True)
    if args.csv is not None:
        csv, xlsx = args.csv, args.xlsx
    else:
        csv, xlsx = make_exports(args.work, args.firms, 0 if args.xlsx else args.xlsx_firms)
        xlsx = args.xlsx or xlsx
    changed_csv = args.work / "csv-changed"
    changed = one_percent_changed(csv, changed_csv)
    db = Database(args.work, args.postgres)
    figures: dict[str, list[tuple[float, float, int, int]]] = {}
    names = []
    try:
        for i in range(args.runs):
            name = f"import-{i}"
            names.append(name)
            db.create(name)
            s, rss, out = timed([HUIQI, "register", "import", str(csv)], db.env(name))
            row = (s, rss, db.size(name), db.results_size(name))
            figures.setdefault("CSV folder, new database", []).append(row)
            said(f"CSV {i + 1}", s, rss, out)
        for name in names:
            s, rss, out = timed([HUIQI, "register", "import", str(changed_csv)], db.env(name))
            row = (s, rss, db.size(name), db.results_size(name))
            figures.setdefault(f"re-import, 1 % changed ({changed:,} firms)", []).append(row)
            said("1 % changed", s, rss, out)
        if not args.keep:
            for name in names:
                db.drop(name)
        for i in range(args.xlsx_runs if xlsx is not None else 0):
            name = f"xlsx-{i}"
            names.append(name)
            db.create(name)
            s, rss, out = timed([HUIQI, "register", "import", str(xlsx)], db.env(name))
            row = (s, rss, db.size(name), db.results_size(name))
            figures.setdefault("xlsx workbook, new database", []).append(row)
            said(f"xlsx {i + 1}", s, rss, out)
    finally:
        if not args.keep:
            for name in names:
                db.drop(name)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"\n{args.firms:,} firms (CSV), {args.xlsx_firms:,} (xlsx), {backend}; median of the runs")
    print(f"{'':<44}{'seconds':>9}{'peak GiB':>10}{'database MiB':>14}{'tables MiB':>12}{'runs':>6}")
    for what, rows in figures.items():
        print(
            f"{what:<44}{statistics.median(r[0] for r in rows):>9.1f}{max(r[1] for r in rows):>10.2f}"
            f"{rows[-1][2] / 2**20:>14.0f}{rows[-1][3] / 2**20:>12.0f}{len(rows):>6}"
        )
    print(f"after: {uptime()}")
    print(
        f"exports: CSV {_du(csv) / 2**20:.0f} MiB" + (f", xlsx {_du(xlsx) / 2**20:.0f} MiB" if xlsx else "")
    )
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
