"""The selection optimiser's time for 10,000 applications under 4 sector quotas, a total, a district quota
and a budget with grant amounts by rank band (target: <= 2 s).

    .venv/bin/python benchmarks/selection.py                  # 10,000 applications, 5 runs
    .venv/bin/python benchmarks/selection.py --n 50000 --runs 3

Scores are T-scores (mean 50, sd 10) at 10^-4, so ties occur; amounts come from the rank in the sector
(5, 3 and 1 million yuan). Prints each run's time, the median, the total score, the money spent, and how
many candidates the exact dominance rule left for the solver.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from decimal import Decimal

from huiqi.selection.optimiser import Candidate, Limits, _undominated, rank_order, select

SECTORS = ["integrated_circuits", "biomedicine", "artificial_intelligence", "digital_economy"]
DISTRICTS = [f"district-{i:02d}" for i in range(16)]


def instance(n: int, seed: int) -> tuple[list[Candidate], Limits]:
    rng = random.Random(seed)
    raw = [
        Candidate(
            key=f"app-{i:06d}",
            sector=SECTORS[rng.randrange(4)],
            district=DISTRICTS[rng.randrange(16)],
            score=Decimal(str(round(rng.gauss(50, 10), 4))),
            amount_fen=0,
            tiebreak=(rng.random(), i),
        )
        for i in range(n)
    ]
    seen: dict[str, int] = {}
    out = []
    for c in rank_order(raw):
        seen[c.sector] = seen.get(c.sector, 0) + 1
        rank = seen[c.sector]
        yuan = 5_000_000 if rank <= 3 else 3_000_000 if rank <= 6 else 1_000_000
        grant = 0 if rng.random() < 0.3 else yuan * 100  # some designated firms get no start-up grant
        out.append(Candidate(c.key, c.sector, c.district, c.score, grant, c.tiebreak))
    limits = Limits(
        total=40,
        sector=dict.fromkeys(SECTORS, 10),
        district={"district-00": 4},
        budget_fen=80_000_000 * 100,
    )
    return out, limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cands, limits = instance(args.n, args.seed)
    kept = len(_undominated(rank_order(cands), limits))
    times = []
    result = None
    for i in range(args.runs):
        start = time.perf_counter()
        result = select(cands, limits, reserve_per_sector=3)
        times.append(time.perf_counter() - start)
        print(f"run {i + 1}: {times[-1]:.3f} s")
    assert result is not None
    chosen = [o for o in result.outcomes.values() if o.selected]
    print(
        f"{args.n} applications, 4 sector quotas of 10, total 40, 1 district quota, budget 80,000,000 yuan: "
        f"median {statistics.median(times):.3f} s (min {min(times):.3f} s); {len(chosen)} selected, "
        f"total score {result.total_score}, spent {result.spent_fen / 100:,.2f} yuan; "
        f"{kept} candidates left for the solver after the exact dominance rule"
    )


if __name__ == "__main__":
    main()
