"""The calculator page in process: time per answer of the questionnaire (form fields, amounts in 万元) and
of the advanced JSON box, through the whole app (FastAPI TestClient, a migrated temporary SQLite database,
the page rendered in zh), p50/p99 over ``--requests`` answers after a warm-up. No target of its own: it
shows what the questionnaire's parsing adds to the JSON path (the API's target is benchmarks/api.py's).

.venv/bin/python benchmarks/calculator_page.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from huiqi.config import Settings
from huiqi.firms import firm_from_data
from huiqi.web.app import create_app
from huiqi.web.calculator import answers_of
from huiqi.web.security import ANON_COOKIE, anon_csrf

EXAMPLE = Path(__file__).resolve().parents[1] / "src/huiqi/firms/examples/small-ai-firm.json"


def timings(client: TestClient, data: dict[str, str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.post("/calculator", data=data, headers={"HX-Request": "true"})
        out.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text[:300]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    n = parser.parse_args().requests
    print("load before:", os.getloadavg())
    text = EXAMPLE.read_text(encoding="utf-8")
    firm = firm_from_data(json.loads(text))
    import datetime as dt

    form = {k: v for k, v in answers_of(firm, dt.date(2025, 12, 1)).values.items() if v}
    form |= {"mode": "form", "on": "2025-12-01", "registered_capital": "500万元", "sales.2025": "185万元"}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/b.db", evidence_dir=Path(tmp) / "e")
        with TestClient(create_app(settings)) as client:
            anon = "bench"
            client.cookies.set(ANON_COOKIE, anon)
            client.cookies.set("huiqi_lang", "zh")
            client.headers["X-CSRF-Token"] = anon_csrf(settings.secret_key, anon)
            for name, data in (("questionnaire", form), ("json box", {"mode": "json", "profile": text})):
                timings(client, data, 20)
                t = sorted(timings(client, data, n))
                p50, p99 = statistics.median(t), t[int(len(t) * 0.99) - 1]
                print(f"{name:14s} n={n} p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms")
    print("load after:", os.getloadavg())


if __name__ == "__main__":
    main()
