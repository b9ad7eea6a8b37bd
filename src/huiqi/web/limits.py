"""Bounds on what a request may cost before any route sees it, each refusal an ``application/problem+json``
answer (docs/limits.md):

- the request target (path and query) at most ``MAX_TARGET_BYTES``: 414; the headers at most
  ``MAX_HEADER_BYTES`` and ``MAX_HEADERS`` of them: 431;
- a body at most ``Settings.max_body_bytes`` (an upload — a form with files, a PDF — the evidence limit
  plus 1 MiB): 413, from its Content-Length before anything is read, or as soon as it has sent more;
- a body that pauses ``Settings.body_timeout`` seconds (or takes three times that in all, uploads ten times):
  408 and the connection closed, so a body shorter than its Content-Length holds nothing for long;
- a JSON body nested deeper than 64 levels, with an integer of more than 1,000 digits, ``NaN``, a lone
  surrogate (``"\\ud800"``) or not UTF-8: 400, before a handler could trip over it.

It is plain ASGI (no BaseHTTPMiddleware): a JSON body is read once here, checked, and handed on whole.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from huiqi.firms.io import MAX_DEPTH, load_json_text

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The longest path plus query string.
MAX_TARGET_BYTES = 8 * 1024
#: The most header bytes (names and values) and headers a request may send.
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADERS = 100
#: What an upload may be beyond the evidence limit (the multipart framing and the other form fields).
UPLOAD_SLACK = 1024 * 1024

#: The reason phrase each refusal is answered with (its problem's title).
TITLES = {
    400: "InvalidBody",
    408: "RequestTimeout",
    411: "LengthRequired",
    413: "TooLarge",
    414: "UriTooLong",
    431: "HeadersTooLarge",
}

_JSON = re.compile(rb"^application/(?:[\w.+-]+\+)?json\b", re.IGNORECASE)
#: Bodies of these types (or none) are data a request carries, under the body limit; any other (a form with
#: files, a PDF to verify) is an upload, under the upload limit, streamed to its route as it arrives.
_SMALL = re.compile(
    rb"^(?:$|application/(?:[\w.+-]+\+)?json\b|application/x-www-form-urlencoded\b|text/)", re.IGNORECASE
)


class BodyRefused(HTTPException):
    """A body refused while a route was reading it (an upload streamed to the form parser): answered by the
    app's HTTPException handler as a problem, with the connection closed."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail=detail, headers={"Connection": "close"})


def problem_body(status: int, detail: str, instance: str) -> bytes:
    """An RFC 9457 problem, as ``web.errors.problem`` writes one."""
    title = TITLES.get(status, "HTTPError")
    body = {"type": f"urn:huiqi:problem:{title}", "title": title, "status": status, "detail": detail}
    body["instance"] = instance
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


async def answer(send: Send, status: int, detail: str, instance: str, *, close: bool = False) -> None:
    """Send a problem+json answer (and ask the server to close the connection when the body was not read)."""
    body = problem_body(status, detail, instance)
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """The bounds above, in front of the whole app."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int, timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        target = len(scope.get("raw_path") or path.encode("utf-8", "replace")) + len(
            scope.get("query_string", b"")
        )
        if target > MAX_TARGET_BYTES:
            detail = f"the path and query are {target:,} bytes; at most {MAX_TARGET_BYTES:,}"
            await answer(send, 414, detail, path[:200])
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        # one pass over the headers: their size, and the three this bound reads
        header_bytes, content_type, length, chunked = 0, b"", None, False
        for name, value in headers:
            header_bytes += len(name) + len(value)
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if header_bytes > MAX_HEADER_BYTES or len(headers) > MAX_HEADERS:
            detail = (
                f"{len(headers)} headers of {header_bytes:,} bytes; at most {MAX_HEADERS} of "
                f"{MAX_HEADER_BYTES:,} bytes"
            )
            await answer(send, 431, detail, path)
            return
        if length is None and not chunked:  # no body (GET, or a POST without one)
            await self.app(scope, receive, send)
            return
        upload = not _SMALL.match(content_type)
        limit = self.max_upload if upload else self.max_body
        declared = _length(length)
        if length is not None and declared is None:
            await answer(
                send, 400, f"Content-Length {length[:40]!r} is not a number of bytes", path, close=True
            )
            return
        if declared is not None and declared > limit:
            await answer(send, 413, _too_large(declared, limit, upload), path, close=True)
            return
        if upload:
            await self.app(scope, _Metered(receive, limit, self.timeout, 10 * self.timeout).receive, send)
            return
        try:
            body = await _Metered(receive, limit, self.timeout, 3 * self.timeout).read_all()
        except BodyRefused as exc:
            await answer(send, exc.status_code, exc.detail, path, close=True)
            return
        if body and _JSON.match(content_type):
            problem = _json_problem(body)
            if problem:
                await answer(send, 400, problem, path)
                return
        await self.app(scope, _replay(body, receive), send)


def _length(value: bytes | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _too_large(size: int, limit: int, upload: bool) -> str:
    what = "an upload" if upload else "a request body"
    return f"the body is {size:,} bytes; {what} may be at most {limit:,} bytes"


#: Every digit as "0", so that a long run of digits is one substring search.
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
#: The longest integer a JSON body may hold: beyond every field's bound (where the field is named in the
#: refusal, 422) and below Python's 4,300 digits, past which converting it fails in the handler.
MAX_BODY_INT_DIGITS = 1000
_LONG_RUN = b"0" * (MAX_BODY_INT_DIGITS + 1)


def _suspect(body: bytes) -> bool:
    """Whether a body may break a bound other than depth: an escape from \\ud000 up (a surrogate?), NaN or
    Infinity, a run of more than ``MAX_BODY_INT_DIGITS`` digits. Substring searches in C: microseconds for
    a calculator's body, where a regex took 0.2 ms."""
    return (
        b"\\ud" in body
        or b"\\uD" in body
        or b"NaN" in body
        or b"Infinity" in body
        or _LONG_RUN in body.translate(_DIGITS)
    )


def _json_problem(body: bytes) -> str | None:
    """Why a JSON body is refused here, or None: what would make a handler fail rather than answer. A body
    with no more brackets than the depth bound and nothing ``_suspect`` passes unparsed (the calculator's
    bodies: a few microseconds instead of a second parse)."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH and not _suspect(body):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"body: not UTF-8 text (byte {exc.start}): send JSON in UTF-8"
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"body: not UTF-8 text (byte {exc.start}): send JSON in UTF-8"
    try:
        load_json_text(text, max_int_digits=MAX_BODY_INT_DIGITS)
    except ValueError as exc:
        return f"body: {exc}"
    return None


class _Metered:
    """``receive`` with a byte limit, a pause limit and a deadline."""

    def __init__(self, receive: Receive, limit: int, pause: float, total: float) -> None:
        self.inner, self.limit, self.pause = receive, limit, pause
        self.deadline = time.monotonic() + total
        self.seen = 0

    async def receive(self) -> Message:
        # A message the server already holds (a small body arrives with its headers) is taken without a
        # timer: the server's receive is stepped once, and only if it has to wait is the rest of it awaited
        # under the pause and the deadline. A timer for every request (asyncio.timeout: an object and an
        # entry in the event loop's heap, cancelled at once) was most of what this bound cost a request.
        waiting = self.inner()
        if isinstance(waiting, Coroutine):
            try:
                waits_on = waiting.send(None)
            except StopIteration as arrived:
                return self.count(arrived.value)
            waiting = _resume(waiting, waits_on)
        wait = min(self.pause, self.deadline - time.monotonic())
        try:  # asyncio.timeout, not wait_for: no task a message
            async with asyncio.timeout(max(wait, 0.001)):
                message = await waiting
        except TimeoutError:
            raise BodyRefused(
                408,
                f"the body stopped arriving ({self.seen:,} bytes read); send the whole body, as its "
                "Content-Length says, without pausing",
            ) from None
        return self.count(message)

    def count(self, message: Message) -> Message:
        """Add a message's bytes to those seen; past the limit, 413."""
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyRefused(413, f"the body is more than {self.limit:,} bytes; at most {self.limit:,}")
        return message

    async def read_all(self) -> bytes:
        parts: list[bytes] = []
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise BodyRefused(400, "the client went away before sending the whole body")
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(parts)


@types.coroutine
def _resume(waiting: Coroutine[Any, Any, Message], waits_on: Any) -> Generator[Any, Any, Message]:
    """The rest of ``await waiting`` for a coroutine already stepped once, which gave ``waits_on`` (what it
    waits for) to hand to the event loop: what ``await`` does, from the first suspension on. What the task
    sends or throws in (a wake-up, the timeout's cancellation) goes on to ``waiting``."""
    while True:
        try:
            sent = yield waits_on
        except BaseException as exc:  # a timeout's cancellation, GeneratorExit: the coroutine's to handle
            try:
                waits_on = waiting.throw(exc)
            except StopIteration as done:
                message: Message = done.value
                return message
        else:
            try:
                waits_on = waiting.send(sent)
            except StopIteration as done:
                message = done.value
                return message


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read here once, then waits on the real one (for a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
