"""The policy calculator over HTTP: requests per second and p50/p99 latency with 32 concurrent clients on
loopback, bounded in time. Target: p99 <= 50 ms.

The script starts the server itself (uvicorn, ``--workers`` processes, one a CPU by default, a migrated
temporary SQLite database) on a free loopback port, warms it up, then runs closed-loop clients (each sends its
next request when the previous answer arrives) for ``--seconds``. Every answer is checked (status 200, the
expected verdicts). The scope is the calculator's default (the firm's registration city, programmes in force
on the date) or, with ``--all``, every city's (``?all=true``).

.venv/bin/python benchmarks/api.py [--seconds 10] [--clients 32] [--workers N] [--firm small-ai-firm] [--all]

The load generator runs on the same machine (asyncio streams, one process): on a small machine it takes CPU
from the server, so the figures are a lower bound for the server alone. It prints the machine's load average
before and after the run: figures taken while other work runs on the machine are not the server's own.

A closed loop obeys Little's law: latency = clients / throughput, so p99 <= 50 ms with 32 clients needs at
least 32 / 0.05 = 640 answers a second; the script prints that bound next to the measured rate.
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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from huiqi.db.migrate import upgrade

TARGET_P99_MS = 50.0
QUIET = ["--log-level", "warning", "--no-access-log"]
#: how each server is started: ``huiqi serve`` (the parent hands connections to the workers in turn) or
#: plain ``uvicorn --workers`` (the workers share one listening socket), for comparison
SERVERS = {
    "huiqi": [sys.executable, "-m", "huiqi.cli.main", "serve", "--host", "127.0.0.1"],
    "uvicorn": [sys.executable, "-m", "uvicorn", "huiqi.web.asgi:app", "--host", "127.0.0.1"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(directory: Path, workers: int, kind: str = "huiqi") -> tuple[subprocess.Popen[bytes], str]:
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
        [*SERVERS[kind], "--port", str(port), "--workers", str(workers), *QUIET],
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


def expected(base: str, path: str, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """One request before the run (httpx): the answer every answer must repeat and what it says."""
    r = httpx.post(base + path, json=body, timeout=30)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return r.content, data


async def run_clients(
    base: str, path: str, body: dict[str, Any], clients: int, seconds: float, reference: bytes
) -> tuple[list[list[float]], int, float]:
    """Closed-loop clients for ``seconds``; returns each client's latencies (ms), failures and the wall time.

    Each client keeps one HTTP/1.1 connection and writes the same pre-built request on it: a lean client
    (asyncio streams; no httpx, which cost more CPU an answer than the server on this machine). An answer
    counts when its status is 200 and its body is byte for byte the reference answer (same verdicts, amounts
    and explanations)."""
    host, port = base.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    latencies: list[list[float]] = []
    failures = 0
    start = time.perf_counter()
    stop = start + seconds

    async def one() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, int(port))
        mine: list[float] = []
        latencies.append(mine)
        try:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                answer = await reader.readexactly(length)
                t1 = time.perf_counter()
                if not head.startswith(b"HTTP/1.1 200") or answer != reference:
                    failures += 1
                    continue
                mine.append((t1 - t0) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(clients)))
    return latencies, failures, time.perf_counter() - start


def run(coro: Any) -> Any:
    """Run the clients on uvloop when it is installed (uvicorn uses it too): less CPU for the generator."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Measured:
    """One server's run: the single-client and the ``clients`` runs, and the CPU they took."""

    kind: str
    single: list[float]
    single_fail: int
    single_wall: float
    per_client: list[list[float]]
    failures: int
    wall: float
    server_cpu: float
    client_cpu: float

    @property
    def lat(self) -> list[float]:
        return [x for c in self.per_client for x in c]


def measure(
    kind: str, args: argparse.Namespace, path: str, body: dict[str, Any]
) -> tuple[Measured, bytes, Any]:
    with tempfile.TemporaryDirectory(prefix="huiqi-bench-api-") as tmp:
        proc, base = start_server(Path(tmp), args.workers, kind)
        try:
            reference, answer = expected(base, path, body)
            # warm-up: every worker loads the programmes and compiles what it caches
            run(run_clients(base, path, body, args.clients, 2.0, reference))
            single, single_fail, single_wall = run(run_clients(base, path, body, 1, 2.0, reference))
            server_cpu0, client_cpu0 = tree_cpu_seconds(proc.pid), time.process_time()
            per_client, failures, wall = run(
                run_clients(base, path, body, args.clients, args.seconds, reference)
            )
            server_cpu = tree_cpu_seconds(proc.pid) - server_cpu0
            client_cpu = time.process_time() - client_cpu0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    one = [x for c in single for x in c]
    m = Measured(kind, one, single_fail, single_wall, per_client, failures, wall, server_cpu, client_cpu)
    return m, reference, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the measured run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent closed-loop clients")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)"
    )
    parser.add_argument("--firm", default="small-ai-firm", help="example profile (src/huiqi/firms/examples)")
    parser.add_argument("--on", default="2025-12-01", help="the date the calculator evaluates on")
    parser.add_argument(
        "--all", action="store_true", help="every city's programmes (?all=true); default: the firm's city"
    )
    parser.add_argument(
        "--server",
        choices=["huiqi", "uvicorn", "both"],
        default="huiqi",
        help="huiqi serve (connections handed to the workers in turn; the default), plain uvicorn --workers "
        "(one shared listening socket), or both one after the other",
    )
    args = parser.parse_args()

    examples = Path(str(resources.files("huiqi.firms").joinpath("examples")))
    firm = json.loads((examples / f"{args.firm}.json").read_text(encoding="utf-8"))
    body = {"firm": firm, "on": args.on, "lang": "en"}
    path = "/api/v1/calculator" + ("?all=true" if args.all else "")
    load_before = os.getloadavg()
    kinds = ["huiqi", "uvicorn"] if args.server == "both" else [args.server]
    runs: list[Measured] = []
    references: set[bytes] = set()
    for kind in kinds:
        m, reference, answer = measure(kind, args, path, body)
        runs.append(m)
        references.add(reference)
    if len(references) != 1:
        raise SystemExit("the servers gave different answers to the same request")
    want, scope, size = (answer["eligible_count"], answer["total"]), answer["scope"], len(reference)
    load_after = os.getloadavg()
    loop = " on uvloop" if has_uvloop() else ""
    where = "every city" if scope["all_cities"] else f"the {scope['pack']} pack (the firm's city)"
    print(
        f"POST {path}, firm {args.firm} on {args.on}: {scope['programmes']} programmes of {where} in force "
        f"(eligible for {want[0]}, total {want[1]} yuan), answer {size:,} bytes with explanations"
    )
    print(
        f"servers: {args.workers} workers, SQLite; huiqi = `huiqi serve` (the parent hands each connection "
        f"to the next worker), uvicorn = `uvicorn --workers` (shared listening socket); clients: asyncio "
        f"streams{loop}, one process on the same machine ({os.cpu_count()} CPUs shared by both)"
    )
    print(
        f"load average (1/5/15 min) before {fmt_load(load_before)}, after {fmt_load(load_after)}: "
        + (
            "the machine was busy with other work, so these figures are not the server's own"
            if max(load_before[0], load_after[0]) > 0.5
            else "a quiet machine"
        )
        + "\n"
    )
    print(
        f"{'server':>8}{'clients':>8}{'seconds':>9}{'requests':>10}{'failed':>8}{'req/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  client medians ms"
    )
    need = args.clients / (TARGET_P99_MS / 1000)
    for m in runs:
        rows = (
            (1, m.single, m.single_fail, m.single_wall, ""),
            (args.clients, m.lat, m.failures, m.wall, spread(m)),
        )
        for n, values, fails, secs, extra in rows:
            if not values:
                print(f"{m.kind:>8}{n:>8}{secs:>9.1f}{0:>10}{fails:>8}   (no successful request)")
                continue
            print(
                f"{m.kind:>8}{n:>8}{secs:>9.1f}{len(values):>10,}{fails:>8}{len(values) / secs:>9.0f}"
                f"{statistics.median(values):>9.1f}{pct(values, 0.99):>9.1f}{max(values):>9.1f}  {extra}"
            )
    print()
    for m in runs:
        lat = m.lat
        p99 = pct(lat, 0.99) if lat else float("inf")
        verdict = "met" if p99 <= TARGET_P99_MS and not m.failures else "NOT met"
        rate = len(lat) / m.wall if lat else 0.0
        print(
            f"{m.kind}: target p99 <= {TARGET_P99_MS:.0f} ms with {args.clients} clients: {verdict} "
            f"(p99 {p99:.1f} ms)"
        )
        if lat:
            # CPU time an answer is less sensitive to other work on the machine than the wall-clock figures
            n, cpus = len(lat), os.cpu_count() or 1
            print(
                f"  CPU an answer: server {1000 * m.server_cpu / n:.2f} ms, load generator "
                f"{1000 * m.client_cpu / n:.2f} ms; the {cpus} CPUs could give at most "
                f"{cpus * n / (m.server_cpu + m.client_cpu):.0f} answers/s at that cost if nothing else ran"
            )
        print(
            f"  Little's law: {args.clients} closed-loop clients within {TARGET_P99_MS:.0f} ms need >= "
            f"{need:.0f} answers/s; measured {rate:.0f}/s"
        )


def spread(m: Measured) -> str:
    """The clients' own medians, lowest and highest: far apart when the workers hold unequal shares of the
    connections (a worker's clients wait in proportion to how many it holds)."""
    medians = sorted(statistics.median(c) for c in m.per_client if c)
    if not medians:
        return ""
    return f"{medians[0]:.1f}-{medians[-1]:.1f}"


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    main()
