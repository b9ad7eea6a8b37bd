"""Benchmark: a reform over a large synthetic register against one match of the programmes it affects.

    .venv/bin/python benchmarks/simulate.py                      # 3 M firms, median of 3
    .venv/bin/python benchmarks/simulate.py --firms 300000 --runs 5

For each reform it prints, in seconds (median of --runs, each timing fresh compile + DuckDB + fetch):
  match     one match of the affected programmes (eligibility and amounts of every firm, fetched as Arrow);
  twice     the naive reform: a baseline match and a reform match, one after the other;
  simulate  huiqi's reform run: baseline and reform in one query, only firms eligible somewhere fetched,
            then every aggregate the report shows (totals, gainers and losers, sector, district, size, pools).
The register is generated in memory (huiqi.firms.synth), not timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from huiqi.firms.synth import synth_register
from huiqi.rules.loader import load_pack
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
    args = parser.parse_args()
    started = time.perf_counter()
    tables = synth_register(args.firms, args.seed)
    print(f"register: {args.firms:,} firms (seed {args.seed}), made in {time.perf_counter() - started:.1f} s")
    pack = load_pack()
    print(f"{'reform':<58}{'match':>9}{'twice':>9}{'simulate':>10}{'sim/match':>11}")
    for label, sets in REFORMS.items():
        applied = apply_reform(pack, parse_sets(sets))
        ids = sorted(applied.affected)
        match, twice, sim = [], [], []
        for _ in range(args.runs):
            match.append(match_seconds(pack, tables, ON, ids))
            twice.append(
                match_seconds(pack, tables, ON, ids) + match_seconds(applied.programmes, tables, ON, ids)
            )
            t = time.perf_counter()
            result = simulate(applied, tables, ON)
            sim.append(time.perf_counter() - t)
        m, w, s = (statistics.median(x) for x in (match, twice, sim))
        print(f"{label:<58}{m:>9.2f}{w:>9.2f}{s:>10.2f}{s / m:>11.2f}")
        print(
            f"    change {result.change:,} yuan; gainers {result.gainers:,}, losers {result.losers:,}; "
            f"phases of the last run: " + ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items())
        )


if __name__ == "__main__":
    main()
