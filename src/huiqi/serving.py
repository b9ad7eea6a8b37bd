"""Serving the site with several worker processes that are handed connections in turn.

``uvicorn --workers N`` lets every worker accept from one shared listening socket. Whichever worker wakes
first accepts every connection then pending (libuv accepts until the queue is empty), so a burst of
keep-alive connections ends up split unevenly: 11 against 21 of 32 clients measured here, and the busier
worker's clients wait twice as long for as long as they stay connected. A reverse proxy's pooled upstream
connections are split the same way.

So the parent process accepts, and hands each connection to the next live worker in turn over a Unix
socket (``SCM_RIGHTS``); each worker runs uvicorn's server (protocols, lifespan, graceful shutdown) on the
connections it is handed. The parent costs one ``accept`` and one ``sendmsg`` a connection, not a request.
It restarts a worker that dies, and on SIGTERM or SIGINT stops accepting, lets the workers finish their
requests and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

#: what a worker says on its channel once its application is loaded and it can take connections
READY = b"R"
#: the one byte sent with each handed connection
HANDOFF = b"C"


class HandedServer(uvicorn.Server):
    """uvicorn's server taking its connections from a channel instead of a listening socket."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(3)  # uvicorn's STARTUP_FAILURE
        config, loop = self.config, asyncio.get_running_loop()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=_loop
            )
            return protocol

        def take() -> None:
            while True:
                try:
                    _, fds, _, _ = socket.recv_fds(self.channel, 1, 8)
                except BlockingIOError:
                    return
                except OSError:
                    fds = []
                if not fds:  # the parent has gone: finish what is in flight and stop
                    loop.remove_reader(self.channel.fileno())
                    self.should_exit = True
                    return
                for fd in fds:
                    conn = socket.socket(fileno=fd)
                    task = loop.create_task(loop.connect_accepted_socket(create_protocol, conn))
                    task.add_done_callback(_log_failure)

        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), take)
        self.servers = []
        self.started = True
        self.channel.send(READY)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
        self.channel.close()
        await super().shutdown(sockets)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:  # pragma: no cover - a connection reset at once
        uvicorn.config.logger.warning("a handed connection could not start: %s", task.exception())


def _worker(options: dict[str, Any], channel: socket.socket) -> None:
    """A worker process: uvicorn's server on the connections the parent hands it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop (it forwards SIGTERM)
    config = uvicorn.Config(**options)
    server = HandedServer(config, channel)
    server.run()


@dataclass
class _Slot:
    process: BaseProcess
    channel: socket.socket
    #: it has said READY: only then is it handed connections
    ready: bool = False


class Balancer:
    """The parent: accepts on ``listener`` and hands each connection to the next live worker."""

    def __init__(self, options: dict[str, Any], workers: int, listener: socket.socket) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected at least 1, got {workers}")
        self.options = options
        self.listener = listener
        self.size = workers
        self.slots: list[_Slot] = []
        self.turn = 0
        self.stopping = False
        self.context = multiprocessing.get_context("spawn")

    def spawn(self) -> _Slot:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = self.context.Process(target=_worker, args=(self.options, theirs), daemon=False)
        process.start()
        theirs.close()
        return _Slot(process, mine)

    def wait_ready(self, slots: list[_Slot], timeout: float = 120.0) -> None:
        """Wait until each worker has loaded the application (its first connection is answered at once)."""
        deadline = time.monotonic() + timeout
        for slot in slots:
            slot.channel.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                said = slot.channel.recv(1)
            except TimeoutError:
                said = b""
            if said != READY:
                code = slot.process.exitcode
                raise SystemExit(f"a worker did not start (exit code {code}); see the log above")
            slot.channel.settimeout(None)
            slot.ready = True

    def hand(self, conn: socket.socket) -> None:
        """Give a connection to the next live worker; a dead worker is skipped (and replaced later)."""
        for _ in range(len(self.slots)):
            slot = self.slots[self.turn % len(self.slots)]
            self.turn += 1
            if not slot.ready or not slot.process.is_alive():
                continue
            try:
                socket.send_fds(slot.channel, [HANDOFF], [conn.fileno()])
                return
            except OSError:
                continue
        uvicorn.config.logger.error("no live worker to take a connection; it is closed")

    def replace_dead(self, selector: selectors.BaseSelector) -> None:
        """Start another worker for each that has died. The others go on serving meanwhile: the new one is
        handed connections once it says READY (``heard``)."""
        for i, slot in enumerate(self.slots):
            if slot.process.is_alive() or self.stopping:
                continue
            uvicorn.config.logger.warning(
                "worker %s exited with code %s; starting another", slot.process.pid, slot.process.exitcode
            )
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(slot.channel)
            slot.channel.close()
            fresh = self.spawn()
            selector.register(fresh.channel, selectors.EVENT_READ, fresh)
            self.slots[i] = fresh

    def heard(self, slot: _Slot, selector: selectors.BaseSelector) -> None:
        """A starting worker spoke: READY, or it died before (then ``replace_dead`` starts another)."""
        selector.unregister(slot.channel)
        try:
            said = slot.channel.recv(1)
        except OSError:
            said = b""
        if said == READY:
            slot.ready = True
            uvicorn.config.logger.info("worker %s is ready", slot.process.pid)

    def stop(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.stop)
        self.slots = [self.spawn() for _ in range(self.size)]
        self.wait_ready(self.slots)
        host, port = self.listener.getsockname()[:2]
        uvicorn.config.logger.info(
            "huiqi serving on http://%s:%d with %d workers (connections handed in turn)",
            host,
            port,
            self.size,
        )
        self.listener.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ)
        try:
            while not self.stopping:
                for key, _ in selector.select(timeout=0.5):
                    if isinstance(key.data, _Slot):
                        self.heard(key.data, selector)
                        continue
                    while True:
                        try:
                            conn, _ = self.listener.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        with conn:
                            self.hand(conn)
                self.replace_dead(selector)
        finally:
            selector.close()
            self.listener.close()
            self.shutdown()
        return 0

    def shutdown(self, grace: float = 30.0) -> None:
        """Stop the workers: SIGTERM (uvicorn finishes the requests in flight), SIGKILL after ``grace``."""
        for slot in self.slots:
            if slot.process.is_alive() and slot.process.pid is not None:
                os.kill(slot.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for slot in self.slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():  # pragma: no cover - a worker stuck past the grace period
                slot.process.kill()
                slot.process.join()
            slot.channel.close()


def serve(app: str, *, host: str, port: int, workers: int, **options: Any) -> int:
    """Serve ``app`` (an import string) on ``host:port``: with one worker, uvicorn itself; with more, a
    ``Balancer`` handing connections to the workers in turn (on Linux; elsewhere uvicorn's own workers)."""
    if workers <= 1:
        uvicorn.run(app, host=host, port=port, **options)
        return 0
    if not sys.platform.startswith("linux"):  # pragma: no cover - handing sockets over is written for Linux
        uvicorn.run(app, host=host, port=port, workers=workers, **options)
        return 0
    uvicorn.Config(app, **options)  # the parent logs as uvicorn does
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=2048)
    return Balancer({"app": app, **options}, workers, listener).run()
