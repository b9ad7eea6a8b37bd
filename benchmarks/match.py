"""Benchmark: the whole Shanghai pack over a synthetic register, Parquet in, results Parquet out, DuckDB.

    .venv/bin/python benchmarks/match.py                 # 3 M firms, median of 3 runs, peak memory
    .venv/bin/python benchmarks/match.py --big 30000000  # and a 30 M-firm register, out-of-core

Each run is a child process (so its peak RSS, ru_maxrss, is its own): it compiles the pack with unmet
lists and has DuckDB stream the wide result (one row a firm) straight to Parquet with COPY ... TO, never
through Python. The 30 M register is made from the 3 M one by DuckDB, ten copies with the copy number
written into the credit code's first two characters (unique keys; check digits are not re-made, the
matcher does not read them), and runs with a memory limit and a spill directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ON = dt.date(2025, 7, 28)


def child(register: str, out: str, memory_limit: str | None, temp: str | None) -> None:
    from huiqi.rules import backends
    from huiqi.rules.compiler import compile_pack
    from huiqi.rules.loader import load_pack

    started = time.perf_counter()
    pack = load_pack("shanghai")
    con = backends.duckdb_connect(memory_limit=memory_limit, temp_directory=temp)
    tables = backends.duckdb_parquet_tables(con, register)
    compiled = compile_pack(pack, tables, ON, with_unmet=True)
    rows = backends.copy_to_parquet(compiled.table, out)
    print(f"{time.perf_counter() - started:.3f} {rows}")


def ensure_register(path: Path, firms: int) -> None:
    if (path / "register.json").exists():
        return
    # generated in a child process: a forked child's ru_maxrss counts its parent's pages until exec, so
    # a parent holding the register would inflate every measured run
    t = time.perf_counter()
    code = (
        "import sys; from huiqi.firms.register import write_register; from huiqi.firms.synth import "
        "synth_register; write_register(synth_register(int(sys.argv[1]), 42), sys.argv[2])"
    )
    subprocess.run([sys.executable, "-c", code, str(firms), str(path)], check=True)
    print(f"generated {firms:,} firms in {time.perf_counter() - t:.0f} s -> {path}", flush=True)


def ensure_big(src: Path, path: Path, copies: int) -> None:
    if (path / "register.json").exists():
        return
    import json

    import duckdb

    path.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    manifest = json.loads((src / "register.json").read_text())
    for entry in manifest["tables"].values():
        parts = " UNION ALL ".join(
            f"SELECT * REPLACE (lpad('{i}', 2, '0') || substr(uscc, 3) AS uscc) "
            f"FROM read_parquet('{src / entry['file']}')"
            for i in range(copies)
        )
        n = con.execute(f"COPY ({parts}) TO '{path / entry['file']}' (FORMAT parquet)").fetchone()
        entry["rows"] = int(n[0]) if n else 0
    (path / "register.json").write_text(json.dumps(manifest, indent=2))


def run_child(
    register: Path, out: Path, memory_limit: str | None = None, temp: str | None = None
) -> tuple[float, float]:
    """(seconds inside the child, peak RSS of the child in GiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cmd = [sys.executable, __file__, "--child", str(register), str(out), memory_limit or "", temp or ""]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds = float(done.stdout.split()[0])
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: runs go smallest first, so it is this one
    return seconds, max(rss, before) / 1024 / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=3_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big", type=int, default=0, help="also a register this large (a multiple of --firms)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/huiqi-bench"))
    ap.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit for the big register")
    args = ap.parse_args()
    reg = args.dir / f"register-{args.firms}"
    ensure_register(reg, args.firms)
    times, peaks = [], []
    for i in range(args.runs):
        s, rss = run_child(reg, args.dir / "results.parquet")
        times.append(s)
        peaks.append(rss)
        print(f"run {i + 1}: {s:.2f} s, peak RSS {rss:.2f} GiB", flush=True)
    print(
        f"{args.firms:,} firms x whole Shanghai pack (with unmet lists) -> Parquet: "
        f"median {statistics.median(times):.2f} s, peak RSS {max(peaks):.2f} GiB"
    )
    if args.big:
        copies = args.big // args.firms
        big = args.dir / f"register-{copies * args.firms}"
        t = time.perf_counter()
        ensure_big(reg, big, copies)
        print(f"{copies * args.firms:,}-firm register ready ({time.perf_counter() - t:.0f} s)", flush=True)
        spill = args.dir / "spill"
        spill.mkdir(exist_ok=True)
        s, rss = run_child(big, args.dir / "results-big.parquet", args.memory_limit, str(spill))
        print(
            f"{copies * args.firms:,} firms, out-of-core (memory_limit {args.memory_limit}): {s:.1f} s, "
            f"peak RSS {rss:.2f} GiB"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4] or None, sys.argv[5] or None)
    else:
        main()
