"""The policy calculator for one firm: the whole bundled pack, with explanations. Target: median <= 5 ms.

.venv/bin/python benchmarks/check_one.py [--runs 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from importlib import resources
from pathlib import Path

from huiqi.firms import load_firm
from huiqi.rules.evaluator import evaluate
from huiqi.rules.explain import explain
from huiqi.rules.loader import load_pack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--on", default="2025-12-01")
    args = parser.parse_args()
    programmes = load_pack()
    on = dt.date.fromisoformat(args.on)
    examples = Path(str(resources.files("huiqi.firms").joinpath("examples")))
    print(
        f"{len(programmes)} programmes; {args.runs} runs per firm; "
        "evaluation and explanation (en) of every one\n"
    )
    print(f"{'firm':<36}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}{'eligible':>10}")
    medians = []
    for path in sorted(examples.glob("*.json")):
        firm = load_firm(path)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            results = evaluate(programmes, firm, on)
            for r in results:
                explain(r, "en")
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        medians.append(statistics.median(times))
        eligible = sum(r.eligible for r in results)
        print(
            f"{path.stem:<36}{statistics.median(times):>10.3f}{times[int(len(times) * 0.95)]:>9.3f}"
            f"{times[-1]:>9.3f}{eligible:>10}"
        )
    worst = max(medians)
    print(f"\nworst median {worst:.3f} ms; target <= 5 ms: {'met' if worst <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
