"""Benchmark: a reform over a large synthetic register against one match of the programmes it affects.

    .venv/bin/python benchmarks/simulate.py                      # 3 M firms, median of 3
    .venv/bin/python benchmarks/simulate.py --firms 300000 --runs 5
    .venv/bin/python benchmarks/simulate.py --reform "model voucher"    # only the reforms so labelled

For each reform it prints, in seconds (median of --runs, each timing fresh compile + DuckDB + fetch):
  match     one match of the affected programmes (eligibility and amounts of every firm, fetched as Arrow);
  twice     the naive reform: a baseline match and a reform match, one after the other;
  simulate  huiqi's reform run: a first query keeps the firms that pass an affected programme's necessary
            tests, baseline and reform in one query over those firms, then every aggregate the report
            shows (totals, gainers and losers, sector, district, size, pools);
  stored    the same report with the baseline read from a results Parquet (what
            `huiqi match --programme ... --out FILE` writes): reading and checking the file (version, date,
            register coverage, spot check of 400 recomputed firms), the reform side computed, the join and
            the same aggregates. The report is checked equal to the computed one.
The register is generated in memory (huiqi.firms.synth) and the results Parquet written once per reform
(the earlier match), neither timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from huiqi.firms.exporting import write_table
from huiqi.firms.synth import synth_register
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack
from huiqi.simulation.baseline import from_parquet, spot_check
from huiqi.simulation.reform import apply_reform, parse_sets
from huiqi.simulation.run import match_seconds, simulate

ON = dt.date(2025, 10, 1)
REFORMS = {
    "model voucher 60%, cap 8M (1 programme)": [
        "shanghai.ai.model-voucher.rate=60%",
        "shanghai.ai.model-voucher.max_voucher=8_000_000",
    ],
    "designation: 20 R&D staff (designation + 3 dependants)": ["shanghai.hq.designation.rd_staff_count=20"],
    "compute vouchers in 3 cities (3 programmes)": [
        "shanghai.ai.compute-voucher.rental_rate=40%",
        "shenzhen.ai.compute-voucher.rate=60%",
        "chengdu.ai.compute-voucher.max_per_year=8_000_000",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--firms", type=int, default=3_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reform", action="append", default=[], help="only the reforms whose label has it")
    args = parser.parse_args()
    started = time.perf_counter()
    tables = synth_register(args.firms, args.seed)
    print(f"register: {args.firms:,} firms (seed {args.seed}), made in {time.perf_counter() - started:.1f} s")
    pack = load_pack()
    print(
        f"{'reform':<58}{'match':>9}{'twice':>9}{'simulate':>10}{'stored':>9}{'sim/match':>11}{'stored/match':>14}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="huiqi-simulate-bench-"))
    for label, sets in REFORMS.items():
        if args.reform and not any(text in label for text in args.reform):
            continue
        applied = apply_reform(pack, parse_sets(sets))
        ids = sorted(applied.affected)
        results = tmp / "results.parquet"
        write_table(evaluate_register(pack, tables, ON, ids), results)
        match, twice, sim, stored = [], [], [], []
        for _ in range(args.runs):
            match.append(match_seconds(pack, tables, ON, ids))
            twice.append(
                match_seconds(pack, tables, ON, ids) + match_seconds(applied.programmes, tables, ON, ids)
            )
            t = time.perf_counter()
            result = simulate(applied, tables, ON)
            sim.append(time.perf_counter() - t)
            t = time.perf_counter()
            baseline = from_parquet(results, pack, tables, ON, ids)
            spot_check(baseline, pack, tables, ON)
            checked = time.perf_counter() - t
            fast = simulate(applied, tables, ON, baseline=baseline)
            stored.append(time.perf_counter() - t)
            same = {**result.to_json(), "seconds": 0, "baseline": 0} == {
                **fast.to_json(),
                "seconds": 0,
                "baseline": 0,
            }
            if not same:
                raise SystemExit(f"{label}: the stored-baseline report differs from the computed one")
        m, w, s, b = (statistics.median(x) for x in (match, twice, sim, stored))
        print(f"{label:<58}{m:>9.2f}{w:>9.2f}{s:>10.2f}{b:>9.2f}{s / m:>11.2f}{b / m:>14.2f}")
        print(f"    load average after the runs: {Path('/proc/loadavg').read_text().split()[0]}")
        print(
            f"    change {result.change:,} yuan; gainers {result.gainers:,}, losers {result.losers:,}; "
            f"last computed run: " + ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items())
        )
        print(
            f"    last stored run: read + check {checked:.2f}, "
            + ", ".join(f"{k} {v:.2f}" for k, v in fast.seconds.items())
            + "; reports identical"
        )


if __name__ == "__main__":
    main()
