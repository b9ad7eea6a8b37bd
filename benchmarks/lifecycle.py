"""Programmes through their life (issue 15): how long each step takes on a SQLite store, and what withdrawn
versions cost a worker that loads the site's programmes. Targets: publishing (the draft's and the pack's test
cases run, the file put in force) median <= 2 s; a worker's reload with 10 withdrawn versions <= 1.5 x one
without.

.venv/bin/python benchmarks/lifecycle.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from huiqi.app import lifecycle as life
from huiqi.app.registry import ProgrammeRegistry
from huiqi.app.store import Store, migrate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.programmes.lifecycle_helpers import MODEL, cases_for, next_year


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:8.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    steps: dict[str, list[float]] = {"create": [], "test": [], "publish": [], "withdraw": []}
    reload_plain: list[float] = []
    reload_withdrawn: list[float] = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/huiqi.db"
            migrate(url)
            store = Store.open(url, pool_size=2)
            registry = ProgrammeRegistry(Path(tmp) / "programmes", recheck_seconds=0)
            t = time.perf_counter()
            ProgrammeRegistry(registry.uploads, recheck_seconds=0).programmes()
            reload_plain.append(time.perf_counter() - t)
            for i in range(10):
                version, year = f"2026.{i + 1}", 2027 + i
                t = time.perf_counter()
                d = life.create_draft(
                    store,
                    registry=registry,
                    filename=f"m{i}.programme.yaml",
                    text=next_year(version=version, start=f"{year}-01-01"),
                    tests=cases_for(on=f"{year}-03-01").replace("2027-01-05", f"{year}-01-05"),
                    actor="web:alice",
                )
                steps["create"].append(time.perf_counter() - t)
                life.submit_draft(store, draft_id=d.id, actor="web:alice")
                t = time.perf_counter()
                life.test_draft(store, registry=registry, draft_id=d.id)
                steps["test"].append(time.perf_counter() - t)
                t = time.perf_counter()
                life.publish_draft(store, registry=registry, draft_id=d.id, actor="web:bob")
                steps["publish"].append(time.perf_counter() - t)
                t = time.perf_counter()
                life.withdraw_version(
                    store, registry=registry, programme_id=MODEL, version=version, actor="web:bob", reason="b"
                )
                steps["withdraw"].append(time.perf_counter() - t)
            t = time.perf_counter()
            ProgrammeRegistry(registry.uploads, recheck_seconds=0).programmes()
            reload_withdrawn.append(time.perf_counter() - t)
            store.close()
    for name, times in steps.items():
        print(f"{name:<10}{median_ms(times)}  ({len(times)} runs)")
    print(f"reload, no withdrawn version   {median_ms(reload_plain)}")
    print(f"reload, 10 withdrawn versions  {median_ms(reload_withdrawn)}")
    ratio = statistics.median(reload_withdrawn) / statistics.median(reload_plain)
    ok = statistics.median(steps["publish"]) <= 2.0 and ratio <= 1.5
    print(f"ratio {ratio:.2f}; targets {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
