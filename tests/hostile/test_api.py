"""The hostile corpus through the API (issue 13): every answer below 500 and, when an error,
``application/problem+json`` naming what was wrong; a refused request leaves the database byte-for-byte as
it was; bodies, targets and headers bounded (413, 414, 431); JSON too deep, with a lone surrogate or an
endless integer refused before a handler sees it (400). The slow body is in ``test_serve.py`` (a real
server).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfixtures import Db
from hostile.corpus import BOUND, FIRMS, PROGRAMMES, Case, firm_data
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade
from web.conftest import Web, build, key

FAST = 10.0


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Web, Path]]:
    tmp = tmp_path_factory.mktemp("api")
    path = tmp / "huiqi.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    try:
        yield build(Db("sqlite", url, engine, make_session_factory(engine)), tmp), path
    finally:
        engine.dispose()


#: Tables a request writes by being made, refused or not: the money-write and login counters (as in
#: tests/web/test_api_fuzz.py) and the sessions' last-seen times.
COUNTERS = ("rate_events", "login_attempts", "web_sessions")


def digest(path: Path) -> str:
    """Every row of every table but the counters, as SQL."""
    with sqlite3.connect(path) as conn:
        lines = [
            line
            for line in conn.iterdump()
            if not line.startswith(tuple(f'INSERT INTO "{t}"' for t in COUNTERS))
        ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def client(web: Web, role: str | None) -> TestClient:
    """The fixture's client for ``role``, but a failing handler answers 500 here instead of raising."""
    logged_in = web.client(role)
    c = TestClient(web.app, raise_server_exceptions=False, follow_redirects=False)
    c.headers.update(logged_in.headers)
    c.cookies = logged_in.cookies
    return c


def refused(response: Any, status: int, expect: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert expect in body["detail"], body["detail"]


def is_text(case: Case) -> bool:
    """Whether a programme case is UTF-8 text (the API takes a programme's text in JSON, not its file)."""
    try:
        case.data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not case.data.startswith(b"PK")


@pytest.mark.parametrize("case", [c for c in PROGRAMMES if is_text(c)], ids=lambda c: c.name)
def test_programme_files(case: Case, web: tuple[Web, Path]) -> None:
    app, db = web
    text = case.text
    # an officer validates and writes drafts; the direct load is the admin's bootstrap (issue 15)
    officer, admin = client(app, "officer"), client(app, "admin")
    before = digest(db)
    started = time.monotonic()
    for route, who in (
        ("/api/v1/programmes/validate", officer),
        ("/api/v1/programme-drafts", officer),
        ("/api/v1/programmes", admin),
    ):
        r = who.post(route, json={"filename": case.filename, "text": text})
        assert time.monotonic() - started < FAST
        if case.expect is None:
            assert r.status_code < 300, r.text[:500]
            break  # loading it writes (a new version); validating it was enough
        refused(r, 422, case.expect)
        assert digest(db) == before


#: Firm cases that are JSON a parser reads but must refuse (the middleware answers 400).
RAW_JSON = {"deep-json", "integer-5000-digits", "lone-surrogate", "nan"}


def _api_case(case: Case) -> tuple[bytes, int, str] | None:
    """What the API is sent for a firm case, and the answer it must give (None: a case about files)."""
    if case.body is not None:
        return json.dumps({"firm": case.body}, ensure_ascii=False).encode(), 422, case.expect or ""
    if case.name in RAW_JSON and case.expect:
        return b'{"firm": ' + case.data + b"}", 400, case.expect
    return None


@pytest.mark.parametrize("case", [c for c in FIRMS if _api_case(c)], ids=lambda c: c.name)
def test_firm_profiles(case: Case, web: tuple[Web, Path]) -> None:
    app, db = web
    sent = _api_case(case)
    assert sent is not None
    body, status, expect = sent
    anonymous = client(app, None)
    r = anonymous.post("/api/v1/calculator", content=body, headers={"content-type": "application/json"})
    refused(r, status, expect)
    officer = client(app, "officer")
    before = digest(db)
    inner = body[len(b'{"firm": ') : -1]
    uscc = firm_data()["uscc"]
    r = officer.put(f"/api/v1/firms/{uscc}", content=inner, headers={"content-type": "application/json"})
    refused(r, status, expect)
    assert digest(db) == before


def test_amounts_beyond_the_bound_are_refused_and_move_nothing(web: tuple[Web, Path]) -> None:
    app, db = web
    officer = client(app, "officer")
    before = digest(db)
    period = {"period_start": "2025-01-01", "period_end": "2025-12-31"}
    for size in ("1e400", "9" * 27, "1E+20", "1000000000000000.01", "1000000000000000"):
        r = officer.post(
            "/api/v1/pools", headers=key(), json={"id": "big", "name": "大", "size": size, **period}
        )
        if size == "1000000000000000":  # the bound itself is accepted, and the digest sees the write
            assert r.status_code == 201, r.text
            assert digest(db) != before
        else:
            refused(r, 422, BOUND)
            assert digest(db) == before


def test_bodies_targets_and_headers_are_bounded(web: tuple[Web, Path]) -> None:
    app, db = web
    anonymous = client(app, None)
    before = digest(db)
    big = b'{"firm": {"name_zh": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
    refused(
        anonymous.post("/api/v1/calculator", content=big, headers={"content-type": "application/json"}),
        413,
        "at most 1,048,576 bytes",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 65536

    refused(anonymous.post("/api/v1/calculator", content=chunks()), 413, "more than 1,048,576 bytes")
    refused(anonymous.get("/api/v1/programmes?q=" + "a" * 9000), 414, "at most 8,192")
    refused(anonymous.get("/api/v1/programmes", headers={"x-big": "a" * 40_000}), 431, "32,768 bytes")
    officer = client(app, "officer")
    upload = b"%PDF-1.4\n" + b"0" * (22 * 1024 * 1024)
    r = officer.post(
        f"/api/v1/applications/{app.ids['app_own']}/evidence",
        files={"file": ("big.pdf", upload, "application/pdf")},
    )
    refused(r, 413, "an upload may be at most")
    assert digest(db) == before


def test_the_document_names_the_bounds(web: tuple[Web, Path]) -> None:
    app, _ = web
    doc = client(app, None).get("/openapi.json").json()
    calculator = doc["paths"]["/api/v1/calculator"]["post"]["responses"]
    for status in ("400", "408", "413"):
        assert "application/problem+json" in calculator[status]["content"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.decimals(allow_nan=False).map(str),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        _json.map(lambda v: json.dumps({"firm": v}).encode()),
        st.builds(lambda d: b'{"firm": ' + b"[" * d + b"]" * d + b"}", st.integers(0, 5000)),
        st.builds(lambda n: b'{"on": "2025-01-01", "firm": ' + b"9" * n + b"}", st.integers(1, 6000)),
    )
)
def test_no_body_makes_the_calculator_fail(body: bytes, web: tuple[Web, Path]) -> None:
    app, _ = web
    anonymous = client(app, None)
    r = anonymous.post("/api/v1/calculator", content=body, headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text[:300]
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")


def test_a_fault_of_huiqis_is_a_problem_too(web: tuple[Web, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception no handler expected: 500 as problem+json, with nothing of the trace in it."""
    from huiqi.web.api import programmes

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(programmes, "calculator_answer", broken)
    app, _ = web
    r = client(app, None).post("/api/v1/calculator", json={"firm": firm_data()})
    refused(r, 500, "the server failed to answer this request")
    assert "secret internals" not in r.text
