"""The policy calculator over HTTP: requests per second and p50/p99 latency with 32 concurrent clients on
loopback, bounded in time. Target: p99 <= 50 ms.

The script starts the server itself (uvicorn, ``--workers`` processes, a migrated temporary SQLite database)
on a free loopback port, warms it up, then runs closed-loop clients (each sends its next request when the
previous answer arrives) for ``--seconds``. Every answer is checked (status 200, the expected verdicts).

.venv/bin/python benchmarks/api.py [--seconds 10] [--clients 32] [--workers 2] [--firm small-ai-firm]

The load generator runs on the same machine (httpx, asyncio, one process): on a small machine it takes CPU
from the server, so the figures are a lower bound for the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from huiqi.db.migrate import upgrade

TARGET_P99_MS = 50.0
QUIET = ["--log-level", "warning", "--no-access-log"]
UVICORN = [sys.executable, "-m", "uvicorn", "huiqi.web.asgi:app", "--host", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(directory: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    url = f"sqlite:///{directory / 'huiqi.db'}"
    upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "HUIQI_DATABASE_URL": url,
        "HUIQI_EVIDENCE_DIR": str(directory / "evidence"),
        "HUIQI_PROGRAMMES_DIR": str(directory / "programmes"),
    }
    log = (directory / "server.log").open("wb")
    proc = subprocess.Popen(
        [*UVICORN, "--port", str(port), "--workers", str(workers), *QUIET],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{(directory / 'server.log').read_text(errors='replace')}")
        try:
            if httpx.get(base + "/api/v1/programmes", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not answer within 60 s")


def expected(base: str, body: dict[str, Any]) -> tuple[int, str]:
    """One request before the run: the eligible count and total every answer must repeat."""
    r = httpx.post(base + "/api/v1/calculator", json=body, timeout=30)
    r.raise_for_status()
    data = r.json()
    return data["eligible_count"], data["total"]


async def run_clients(
    base: str, body: dict[str, Any], clients: int, seconds: float, want: tuple[int, str]
) -> tuple[list[float], int, float]:
    """Closed-loop clients for ``seconds``; returns latencies (ms), failures and the measured wall time."""
    payload = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        stop = start + seconds

        async def one() -> None:
            nonlocal failures
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await client.post("/api/v1/calculator", content=payload, headers=headers)
                t1 = time.perf_counter()
                if r.status_code != 200:
                    failures += 1
                    continue
                data = r.json()
                if (data["eligible_count"], data["total"]) != want:
                    failures += 1
                    continue
                latencies.append((t1 - t0) * 1000)

        await asyncio.gather(*(one() for _ in range(clients)))
        wall = time.perf_counter() - start
    return latencies, failures, wall


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the measured run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent closed-loop clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--firm", default="small-ai-firm", help="example profile (src/huiqi/firms/examples)")
    parser.add_argument("--on", default="2025-12-01", help="the date the calculator evaluates on")
    parser.add_argument(
        "--city", default="", help="only this city's programmes (e.g. shanghai); default: every programme"
    )
    args = parser.parse_args()

    examples = Path(str(resources.files("huiqi.firms").joinpath("examples")))
    firm = json.loads((examples / f"{args.firm}.json").read_text(encoding="utf-8"))
    body = {"firm": firm, "on": args.on, "lang": "en"}

    with tempfile.TemporaryDirectory(prefix="huiqi-bench-api-") as tmp:
        proc, base = start_server(Path(tmp), args.workers)
        try:
            if args.city:
                listed = httpx.get(base + "/api/v1/programmes", timeout=30).json()
                body["programmes"] = [p["id"] for p in listed if p["id"].startswith(args.city + ".")]
            want = expected(base, body)
            size = len(httpx.post(base + "/api/v1/calculator", json=body, timeout=30).content)
            # warm-up: every worker loads the programmes and compiles what it caches
            asyncio.run(run_clients(base, body, args.clients, 2.0, want))
            single, single_fail, single_wall = asyncio.run(run_clients(base, body, 1, 2.0, want))
            lat, failures, wall = asyncio.run(run_clients(base, body, args.clients, args.seconds, want))
        finally:
            proc.terminate()
            proc.wait(timeout=15)

    scope = f"{len(body['programmes'])} {args.city} programmes" if args.city else "every programme"
    print(
        f"POST /api/v1/calculator, firm {args.firm} on {args.on}, {scope} (eligible for {want[0]}, "
        f"total {want[1]} yuan), answer {size:,} bytes"
    )
    print(
        f"server: uvicorn, {args.workers} workers, SQLite; clients: httpx/asyncio on the same machine "
        f"({os.cpu_count()} CPUs)\n"
    )
    print(
        f"{'clients':>8}{'seconds':>9}{'requests':>10}{'failed':>8}{'req/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    rows = ((1, single, single_fail, single_wall), (args.clients, lat, failures, wall))
    for n, values, fails, secs in rows:
        if not values:
            print(f"{n:>8}{secs:>9.1f}{0:>10}{fails:>8}   (no successful request)")
            continue
        print(
            f"{n:>8}{secs:>9.1f}{len(values):>10,}{fails:>8}{len(values) / secs:>9.0f}"
            f"{statistics.median(values):>9.1f}{pct(values, 0.99):>9.1f}{max(values):>9.1f}"
        )
    p99 = pct(lat, 0.99) if lat else float("inf")
    verdict = "met" if p99 <= TARGET_P99_MS and not failures else "NOT met"
    print(f"\ntarget p99 <= {TARGET_P99_MS:.0f} ms with {args.clients} clients: {verdict} (p99 {p99:.1f} ms)")


if __name__ == "__main__":
    main()
