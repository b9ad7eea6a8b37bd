"""``huiqi serve`` with several workers: connections are handed to the workers in turn, so keep-alive clients
are split evenly (plain ``uvicorn --workers`` split 32 of them 11/21); a worker that dies is replaced and the
site keeps answering; SIGTERM stops everything cleanly. Linux only (the connections are counted in /proc)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from huiqi.db.migrate import upgrade

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="counts connections in /proc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out.extend(int(c) for c in (task / "children").read_text().split())
    return out


def workers_of(pid: int) -> list[int]:
    """The worker processes (multiprocessing's resource tracker is a child too, without connections)."""
    return [c for c in children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def established(pid: int, port: int) -> int:
    """How many established TCP connections on ``port`` the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def get(conn: http.client.HTTPConnection, path: str = "/api/v1/programmes") -> int:
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    return r.status


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    url = f"sqlite:///{tmp_path / 'huiqi.db'}"
    upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "HUIQI_DATABASE_URL": url,
        "HUIQI_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "HUIQI_PROGRAMMES_DIR": str(tmp_path / "programmes"),
    }
    cmd = [sys.executable, "-m", "huiqi.cli.main", "serve", "--port", str(port), "--workers", "2"]
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([*cmd, "--no-access-log"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, (tmp_path / "server.log").read_text(errors="replace")
        try:
            if get(http.client.HTTPConnection("127.0.0.1", port, timeout=5)) == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server did not answer within 120 s"
        time.sleep(0.2)
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_keep_alive_connections_are_split_evenly_and_a_dead_worker_is_replaced(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = served
    workers = workers_of(proc.pid)
    assert len(workers) == 2
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(8)]
    assert [get(c) for c in conns] == [200] * 8
    # a second request on each connection: still the same connections, each kept by one worker
    assert [get(c) for c in conns] == [200] * 8
    assert sorted(established(w, port) for w in workers) == [4, 4]

    os.kill(workers[0], signal.SIGKILL)
    # once the parent has noticed (it reaps the worker: no zombie left), the site keeps answering new
    # connections while the replacement starts (the live worker takes them: it is not held up) ...
    deadline = time.monotonic() + 10
    while Path(f"/proc/{workers[0]}").exists():
        assert time.monotonic() < deadline, "the parent did not reap the dead worker"
        time.sleep(0.05)
    for _ in range(3):
        started = time.monotonic()
        assert get(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) == 200
        assert time.monotonic() - started < 2.0
    # ... and the parent starts another worker, which takes its turn
    deadline = time.monotonic() + 120
    while True:
        now = workers_of(proc.pid)
        if len(now) == 2 and workers[0] not in now:
            break
        assert time.monotonic() < deadline, f"no replacement worker: {now}"
        time.sleep(0.2)
    fresh = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(4)]
    deadline = time.monotonic() + 60
    while True:  # the replacement is handed connections once it is ready
        statuses = [get(c) for c in fresh]
        assert statuses == [200] * len(statuses)
        if all(established(w, port) > 0 for w in now if w != workers[1]):
            break
        assert time.monotonic() < deadline, "the replacement worker was never handed a connection"
        fresh.append(http.client.HTTPConnection("127.0.0.1", port, timeout=10))
    for c in conns + fresh:
        c.close()


def test_sigterm_stops_the_parent_and_its_workers(served: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = served
    workers = workers_of(proc.pid)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert get(conn) == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert not any(Path(f"/proc/{w}").exists() for w in workers)
    with pytest.raises(OSError):
        get(http.client.HTTPConnection("127.0.0.1", port, timeout=5))
