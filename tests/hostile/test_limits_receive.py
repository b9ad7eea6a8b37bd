"""web/limits.py reads a body message without a timer when the server already holds it, and under the pause
limit when it has to wait: both give the same message; a pause too long is 408; a cancellation from
outside stays a cancellation and reaches the server's receive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from huiqi.web.limits import RequestLimits

BODY = b'{"uscc": "91310000MA1FL0000X"}'
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/api/v1/calculator",
    "raw_path": b"/api/v1/calculator",
    "query_string": b"",
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}


def message(body: bytes = BODY, more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


async def through(receive: Any, pause: float = 1.0) -> tuple[bytes, list[dict[str, Any]]]:
    """The body the app behind the limits got, and what was sent back."""
    got: list[bytes] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got.append((await receive())["body"])

    async def send(msg: Any) -> None:
        sent.append(msg)

    await RequestLimits(app, max_body=1 << 20, max_upload=1 << 24, timeout=pause)(SCOPE, receive, send)
    return (got[0] if got else b""), sent


def test_a_body_already_there_is_read_without_a_timer() -> None:
    async def main() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        before = len(loop._scheduled)  # type: ignore[attr-defined]

        async def receive() -> dict[str, Any]:
            return message()

        body, _ = await through(receive)
        return body, len(loop._scheduled) - before  # type: ignore[attr-defined]

    body, timers = asyncio.run(main())
    assert body == BODY
    assert timers == 0


def test_a_body_that_waits_is_read_whole_in_parts() -> None:
    parts = [message(BODY[:10], more=True), message(BODY[10:])]

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.01)  # the server waits for the next packet
        await asyncio.sleep(0)
        return parts.pop(0)

    body, sent = asyncio.run(through(receive))
    assert body == BODY and not sent


def test_a_future_as_receive_is_read_under_the_pause_limit() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()

        def receive() -> asyncio.Future[dict[str, Any]]:
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            loop.call_later(0.01, future.set_result, message())
            return future

        body, _ = await through(receive)
        return body

    assert asyncio.run(main()) == BODY


def stuck(cancelled: list[bool]) -> Any:
    """A server's receive whose body never comes; it notes that it was cancelled."""

    async def receive() -> dict[str, Any]:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return message()

    return receive


def test_a_pause_too_long_is_408_and_the_server_receive_is_cancelled() -> None:
    cancelled: list[bool] = []
    receive = stuck(cancelled)

    body, sent = asyncio.run(through(receive, pause=0.05))
    assert body == b""
    assert sent[0]["status"] == 408 and b"stopped arriving" in sent[1]["body"]
    assert cancelled == [True]


def test_a_cancellation_from_outside_is_not_a_timeout() -> None:
    cancelled: list[bool] = []
    receive = stuck(cancelled)

    async def main() -> None:
        task = asyncio.ensure_future(through(receive, pause=30))
        await asyncio.sleep(0.02)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert cancelled == [True]


def test_a_body_over_the_limit_while_waiting_is_413() -> None:
    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        return message(b"x" * 100)

    async def main() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            raise AssertionError("the app must not be reached")

        async def send(msg: Any) -> None:
            sent.append(msg)

        scope = {
            **SCOPE,
            "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        }
        await RequestLimits(app, max_body=10, max_upload=10, timeout=1.0)(scope, receive, send)
        return sent

    sent = asyncio.run(main())
    assert sent[0]["status"] == 413 and b"at most 10" in sent[1]["body"]
