"""Benchmark: the officer's background match and a firm's page over HTTP, as users reach them (issue 16).

    .venv/bin/python benchmarks/web_match.py                                  # 30 k firms, a quick try
    .venv/bin/python benchmarks/web_match.py --csv /work/data/csv300k         # the 300 k CSV export
    flock /tmp/huiqi-bench.lock .venv/bin/python benchmarks/web_match.py --firms 3000000 --cli
    flock /tmp/huiqi-bench.lock .venv/bin/python benchmarks/web_match.py --csv /work/data/csv3m

Setup (not timed), under ``--dir``: a new embedded (SQLite) database with the register, either synthesised
into it (``huiqi register synth --firms N --register db``) or imported from a CSV export (``--csv DIR``:
``huiqi register import DIR``); an officer account (``huiqi users create``); the real server started as a
subprocess (``huiqi serve``, its default workers) with its programmes folder empty (the bundled packs, as
the CLI's ``huiqi match``).

Timed over HTTP (httpx), as a browser does it: the officer logs in through the login form (the anonymous
form's CSRF token, then the session's), POSTs the matching form (``/officer/matching``, every programme,
the messages sent) and follows the job's page as HTMX does (``HX-Request``, every ``--poll`` seconds)
until it says the job succeeded; the figure is from the POST to that answer, beside the job's own start and
end, the server's peak RSS (its process tree, sampled from /proc) and the server's CPU seconds. Then the
result page the browser is sent to. Three runs:

- first run: no run stored yet;
- nothing changed: the same POST again;
- 1 % of firms changed: after an import (not timed) of 1 % of the firms changed (``--csv``: the export
  copied with every 100th firm's employees changed, ``benchmarks/import.py``'s ``one_percent_changed``;
  otherwise a CSV of those firms' new employees, ``benchmarks/match.py``'s ``change_one_percent``).

With ``--cli`` the same three runs of ``huiqi match --register db`` on a copy of the database, at the
same hour, for comparison (each after the web's run, or before it with ``--cli-first``). Then a firm that
has messages (taken from the officer's outbox) gets an account and logs in; its page (``/firms/{uscc}``:
its messages, what the latest match found for it, its applications, awards, certificates and the
calculator's matches) is fetched ``--page-runs`` times (median and p95 ms), and the API's reads of its
stored results and its messages (``/api/v1/firms/{uscc}/match-results``, ``.../inbox``). Then the pages of
``--page-runs`` other firms with messages, each fetched once by the officer (staff see any firm's page):
a first view, as users see it, before the server has kept anything of that firm (its messages' texts).

The machine's load (``uptime``) is printed before and after: the figures depend on it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from importlib import import_module

match_bench = import_module("match")  # the same measuring as benchmarks/match.py
import_bench = import_module("import")  # 'import' is a keyword: the module by name

ON = match_bench.ON
HUIQI = match_bench.HUIQI
PASSWORD = "web-match-benchmark-password"  # nosec B105  # a throwaway account in a throwaway database
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TICK = os.sysconf("SC_CLK_TCK")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return out


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of ``pid``'s tree."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


class Peak:
    """Samples the resident memory of a process tree in a thread until stopped; the peak in GiB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.done = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, match_bench._tree_rss(self.pid))
            time.sleep(0.05)

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return self.peak / 2**30


class Server:
    """``huiqi serve`` as a subprocess on a free port, its output to a log file."""

    def __init__(self, env: dict[str, str], log: Path, workers: int) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = [HUIQI, "serve", "--port", str(self.port), "--no-access-log", "--log-level", "warning"]
        if workers:
            cmd += ["--workers", str(workers)]
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/login", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: see {log}")
            time.sleep(0.3)
        time.sleep(2)  # every worker up and warmed (the parent answers as soon as the first is ready)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def browser(url: str, username: str) -> tuple[httpx.Client, str]:
    """A client logged in through the login form, as a browser: the session's CSRF token from a page."""
    client = httpx.Client(base_url=url, timeout=600, headers={"Sec-Fetch-Site": "same-origin"})
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token, form.text[:500]
    done = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, f"login of {username}: {done.status_code} {done.text[:500]}"
    return client, done.headers["location"]


def csrf_of(client: httpx.Client, page: str) -> str:
    found = CSRF.search(client.get(page).text)
    assert found, page
    return found.group(1)


def create_user(env: dict[str, str], name: str, role: str, firm: str | None = None) -> None:
    cmd = [HUIQI, "users", "create", name, "--role", role, "--password-stdin"]
    if firm:
        cmd += ["--firm-uscc", firm]
    subprocess.run(cmd, env=env, input=PASSWORD + "\n", text=True, check=True, capture_output=True)


def web_match(server: Server, client: httpx.Client, poll: float) -> dict[str, Any]:
    """POST the matching form and follow the job's page until it succeeds: the figures of one run."""
    token = csrf_of(client, "/officer/matching")
    peak = Peak(server.proc.pid)
    cpu = tree_cpu(server.proc.pid)
    started = time.perf_counter()
    posted = client.post("/officer/matching", data={"on": ON.isoformat(), "notify": "1", "csrf_token": token})
    assert posted.status_code == 303, f"{posted.status_code} {posted.text[:500]}"
    job_url = posted.headers["location"]
    answered = time.perf_counter() - started
    polls = 0
    while True:
        fragment = client.get(job_url, headers={"HX-Request": "true"})
        polls += 1
        assert fragment.status_code == 200, f"{fragment.status_code} {fragment.text[:500]}"
        if fragment.headers.get("hx-redirect"):
            break
        if "job-failed" in fragment.text:
            raise SystemExit(f"the match failed: {fragment.text}")
        time.sleep(poll)
    seconds = time.perf_counter() - started
    cpu = tree_cpu(server.proc.pid) - cpu
    rss = peak.stop()
    shown = time.perf_counter()
    result = client.get(fragment.headers["hx-redirect"])
    assert result.status_code == 200, result.text[:500]
    result_ms = (time.perf_counter() - shown) * 1000
    job = client.get(f"/api/v1/jobs/{job_url.rsplit('/', 1)[1]}").json()
    own = (_when(job["finished_at"]) - _when(job["created_at"])) if job.get("finished_at") else float("nan")
    return {
        "s": seconds,
        "cpu": cpu,
        "rss": rss,
        "post_ms": answered * 1000,
        "job_s": own,
        "result_ms": result_ms,
        "polls": polls,
        "run": job["result"]["run"],
    }


def _when(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def said(label: str, f: dict[str, Any]) -> None:
    run = f["run"]
    print(
        f"web {label}: {f['s']:.2f} s from the POST to the page saying succeeded (job's own "
        f"{f['job_s']:.2f} s; POST answered in {f['post_ms']:.0f} ms; {f['polls']} polls), server "
        f"{f['cpu']:.2f} CPU-s, peak {f['rss']:.2f} GiB; result page {f['result_ms']:.0f} ms; "
        f"run: {run['firms']:,} firms, {run['recomputed_firms']:,} recomputed, {run['eligible']:,} eligible, "
        f"{run['notifications']:,} messages  [{uptime()}]",
        flush=True,
    )


def cli_match(env: dict[str, str], label: str) -> tuple[float, float, float]:
    cmd = [HUIQI, "match", "--register", "db", "--on", ON.isoformat()]
    s, rss, _out = match_bench.timed(cmd, env)
    cpu = match_bench.CPU[0]
    print(f"cli {label}: {s:.2f} s, {cpu:.2f} CPU-s, peak {rss:.2f} GiB  [{uptime()}]", flush=True)
    return s, cpu, rss


def timings(client: httpx.Client, path: str, runs: int) -> tuple[float, float, int]:
    """Median and p95 ms of ``runs`` GETs of ``path`` (one first, not counted: the worker's caches)."""
    first = client.get(path)
    assert first.status_code == 200, f"{path}: {first.status_code} {first.text[:500]}"
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.text[:300]
    times.sort()
    return (
        statistics.median(times),
        times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        len(r.content),
    )


def first_views(client: httpx.Client, firms: list[str]) -> tuple[float, float]:
    """Median and p95 ms of one GET of each firm's page (none fetched before)."""
    times = []
    for uscc in firms:
        started = time.perf_counter()
        r = client.get(f"/firms/{uscc}")
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, f"{uscc}: {r.status_code} {r.text[:300]}"
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def change(db: Any, name: str, args: argparse.Namespace, base_dir: Path) -> None:
    """Import (not timed) 1 % of the firms changed into ``name``."""
    if args.csv:
        changed = args.dir / "csv-changed"
        if not (changed / "firms.csv").exists():
            n = import_bench.one_percent_changed(args.csv, changed)
            print(f"{n:,} firms changed in {changed}", flush=True)
        subprocess.run(
            [HUIQI, "register", "import", str(changed)], env=db.env(name), check=True, capture_output=True
        )
    else:
        match_bench.change_one_percent(db, name, base_dir / "register", 0, args.dir, "db")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--firms", type=int, default=30_000, help="synthesised firms (without --csv)")
    ap.add_argument("--csv", type=Path, help="a CSV export to import (a folder of table files)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/huiqi-bench-web-match"))
    ap.add_argument("--workers", type=int, default=0, help="huiqi serve --workers (0: its default)")
    ap.add_argument("--poll", type=float, default=0.2, help="seconds between polls of the job's page")
    ap.add_argument("--page-runs", type=int, default=30)
    ap.add_argument("--cli", action="store_true", help="also time huiqi match --register db on a copy")
    ap.add_argument("--cli-first", action="store_true", help="with --cli: each CLI run before the web's")
    ap.add_argument("--keep", action="store_true", help="keep the databases at the end")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    db = match_bench.Database(args.dir, None)
    print(f"before: {uptime()}", flush=True)
    started = time.perf_counter()
    db.create("web")
    if args.csv:
        subprocess.run([HUIQI, "register", "import", str(args.csv)], env=db.env("web"), check=True)
        what = f"{args.csv} imported"
    else:
        synth = [HUIQI, "register", "synth", "--firms", str(args.firms), "--seed", "42", "--register", "db"]
        subprocess.run(synth, env=db.env("web"), check=True, capture_output=True)
        what = f"{args.firms:,} firms synthesised"
    print(f"{what} into SQLite in {time.perf_counter() - started:.0f} s", flush=True)
    if args.cli:
        db.copy("web", "cli")
    env = db.env("web")
    programmes = args.dir / "programmes"  # empty: the bundled packs only, as the CLI's match
    programmes.mkdir(exist_ok=True)
    env |= {"HUIQI_PROGRAMMES_DIR": str(programmes), "HUIQI_EVIDENCE_DIR": str(args.dir / "evidence")}
    create_user(env, "officer", "officer")

    server = Server(env, args.dir / "server.log", args.workers)
    try:
        idle = match_bench._tree_rss(server.proc.pid) / 2**30
        print(
            f"server on {server.url}: {len(tree(server.proc.pid))} processes, {idle:.2f} GiB idle", flush=True
        )
        officer, _home = browser(server.url, "officer")
        figures: dict[str, dict[str, Any]] = {}
        cli: dict[str, tuple[float, float, float]] = {}
        for label in ("first run", "nothing changed", "1 % changed"):
            if label == "1 % changed":
                change(db, "web", args, args.dir / "web.match-results")
                if args.cli:
                    change(db, "cli", args, args.dir / "cli.match-results")
            if args.cli and args.cli_first:  # the other order, to tell the load's noise from the path's cost
                cli[label] = cli_match(db.env("cli"), label)
            figures[label] = web_match(server, officer, args.poll)
            said(label, figures[label])
            if args.cli and not args.cli_first:
                cli[label] = cli_match(db.env("cli"), label)

        outbox = officer.get("/api/v1/matching/outbox", params={"limit": 500}).json()["items"]
        with_messages = list(dict.fromkeys(item["uscc"] for item in outbox))
        uscc, others = with_messages[0], with_messages[1 : args.page_runs + 1]
        create_user(env, "firm", "firm_member", uscc)
        firm, home = browser(server.url, "firm")
        cpu = tree_cpu(server.proc.pid)
        page = timings(firm, f"/firms/{uscc}", args.page_runs)
        page_cpu = (tree_cpu(server.proc.pid) - cpu) / (args.page_runs + 1) * 1000
        results = timings(firm, f"/api/v1/firms/{uscc}/match-results", args.page_runs)
        inbox = timings(firm, f"/api/v1/firms/{uscc}/inbox", args.page_runs)
        cpu = tree_cpu(server.proc.pid)
        firsts = first_views(officer, others)
        firsts_cpu = (tree_cpu(server.proc.pid) - cpu) / max(1, len(others)) * 1000
        rss = match_bench._tree_rss(server.proc.pid) / 2**30
    finally:
        server.stop()

    print(f"\nafter: {uptime()}")
    print(
        f"SQLite, {figures['first run']['run']['firms']:,} firms, huiqi serve at {server.url}, "
        f"poll {args.poll} s"
    )
    print(f"{'path':<18}{'web s':>8}{'job s':>8}{'CPU s':>8}{'peak GiB':>10}{'cli s':>8}{'cli CPU':>9}")
    for label, f in figures.items():
        c = cli.get(label)
        tail = f"{c[0]:>8.2f}{c[1]:>9.2f}" if c else ""
        print(f"{label:<18}{f['s']:>8.2f}{f['job_s']:>8.2f}{f['cpu']:>8.2f}{f['rss']:>10.2f}{tail}")
    print(
        f"a firm's page GET /firms/{uscc} (home {home}), {args.page_runs} runs: median {page[0]:.1f} ms, "
        f"p95 {page[1]:.1f} ms, {page[2]:,} bytes, server {page_cpu:.1f} CPU-ms a request"
    )
    print(
        f"{len(others)} other firms' pages, each fetched once (a first view): median {firsts[0]:.1f} ms, "
        f"p95 {firsts[1]:.1f} ms, server {firsts_cpu:.1f} CPU-ms a request"
    )
    print(f"GET /api/v1/firms/{uscc}/match-results: median {results[0]:.1f} ms, p95 {results[1]:.1f} ms")
    print(f"GET /api/v1/firms/{uscc}/inbox: median {inbox[0]:.1f} ms, p95 {inbox[1]:.1f} ms")
    print(f"server's resident memory at the end: {rss:.2f} GiB")
    if not args.keep:
        for name in ("web", "cli"):
            db.drop(name)
        shutil.rmtree(args.dir / "csv-changed", ignore_errors=True)
        shutil.rmtree(args.dir / "register", ignore_errors=True)


if __name__ == "__main__":
    main()
