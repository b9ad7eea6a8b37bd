"""A running app on a migrated database (SQLite file, and PostgreSQL via the ``db`` fixture), with one user
per role, two firms (A: the firm member's own, B: another), a pool, an open call and an application of each
firm carried through to a paid award, so that every route has something real to act on."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dbfixtures import FIRM_A, FIRM_B, Db, db, pg_db, pg_url, sqlite_db
from huiqi.config import Settings
from huiqi.web.app import create_app
from huiqi.web.security import ANON_COOKIE, anon_csrf

__all__ = ["db", "pg_db", "pg_url", "sqlite_db"]

PASSWORD = "correct horse battery"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Web:
    app: Any
    settings: Settings
    ids: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None) -> TestClient:
        """A browser-like client: logged in as ``role`` (cookie + CSRF header) or anonymous (pre-session
        token)."""
        c = TestClient(self.app, follow_redirects=False)
        if role is None:
            anon = uuid.uuid4().hex
            c.cookies.set(ANON_COOKIE, anon)
            c.headers["X-CSRF-Token"] = anon_csrf(self.settings.secret_key, anon)
            return c
        r = c.post("/api/v1/auth/login", json={"username": role, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    def bearer(self, role: str) -> TestClient:
        c = TestClient(self.app, follow_redirects=False)
        token = c.post("/api/v1/auth/login", json={"username": role, "password": PASSWORD}).json()["token"]
        c.cookies.clear()
        c.headers["Authorization"] = f"Bearer {token}"
        return c


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


EXAMPLE = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples/small-ai-firm.json"


def firm_json(uscc: str) -> dict[str, Any]:
    """The small AI firm example (eligible for the model voucher) under another code, with a second
    contract."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["uscc"] = uscc
    second = dict(next(c for c in data["contracts"] if c["kind"] == "model_use"))
    second["id"] = "HT-2025-0903"
    data["contracts"].append(second)
    return data


def build(database: Db, tmp: Path) -> Web:
    from huiqi.accounts import service as accounts

    settings = Settings(
        database_url=database.url, evidence_dir=tmp / "evidence", programmes_dir=tmp / "programmes"
    )
    web = Web(create_app(settings, pool_size=4), settings)
    with database.session() as s:
        for role in ("officer", "reviewer", "auditor", "admin", "probe"):
            accounts.create_user(
                session=s,
                username=role,
                password=PASSWORD,
                role="officer" if role == "probe" else role,
                actor="test",
            )
        accounts.create_user(
            session=s,
            username="firm_member",
            password=PASSWORD,
            role="firm_member",
            firm_uscc=FIRM_A,
            actor="test",
        )
        accounts.create_user(
            session=s,
            username="firm_b",
            password=PASSWORD,
            role="firm_member",
            firm_uscc=FIRM_B,
            actor="test",
        )
        s.commit()
    officer = web.bearer("officer")
    now = dt.datetime.now(dt.UTC)
    r = officer.post(
        "/api/v1/pools",
        headers=key(),
        json={
            "id": "pool",
            "name": "模型券",
            "size": "1000000.00",
            "period_start": f"{now.year}-01-01",
            "period_end": f"{now.year + 1}-12-31",
            "programme_id": "shanghai.ai.model-voucher",
        },
    )
    assert r.status_code == 201, r.text
    r = officer.post(
        "/api/v1/calls",
        json={
            "id": "call",
            "programme_id": "shanghai.ai.model-voucher",
            "programme_version": "2025.1",
            "pool_id": "pool",
            "opens_at": (now - dt.timedelta(hours=1)).isoformat(),
            "closes_at": (now + dt.timedelta(days=5)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    for name, uscc in (("own", FIRM_A), ("other", FIRM_B)):
        r = officer.put(f"/api/v1/firms/{uscc}", json=firm_json(uscc))
        assert r.status_code == 200, r.text
        r = officer.post(
            "/api/v1/applications",
            json={
                "call_id": "call",
                "firm_uscc": uscc,
                "claims": [{"contract_id": "HT-2025-0902", "amount": "150000.00"}],
            },
        )
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]
        web.ids[f"app_{name}"] = app_id
        r = officer.post(
            f"/api/v1/applications/{app_id}/evidence", files={"file": ("invoice.pdf", PDF, "application/pdf")}
        )
        assert r.status_code == 201, r.text
        web.ids[f"sha_{name}"] = r.json()["sha256"]
        # a second application per firm stays open (for withdraw, check and the other moves)
        r = officer.post(
            "/api/v1/applications",
            json={
                "call_id": "call",
                "firm_uscc": uscc,
                "claims": [{"contract_id": "HT-2025-0903", "amount": "150000.00"}],
            },
        )
        web.ids[f"open_{name}"] = r.json()["id"]
    return web


def carry_to_payment(web: Web) -> None:
    """Check, decide, grant and pay the first application of each firm; keep the ids the routes need."""
    officer = web.bearer("officer")
    for name in ("own", "other"):
        app_id = web.ids[f"app_{name}"]
        r = officer.post(f"/api/v1/applications/{app_id}/check")
        assert r.status_code == 200 and r.json()["state"] == "under_review", r.text
        r = officer.post(f"/api/v1/applications/{app_id}/decide", headers=key())
        assert r.status_code == 200 and r.json()["state"] == "approved", r.text
        r = officer.post(f"/api/v1/applications/{app_id}/grant", headers=key(), json={})
        assert r.status_code == 200, r.text
        web.ids[f"award_{name}"] = r.json()["id"]
        r = officer.post(
            f"/api/v1/applications/{app_id}/tranches/1/pay", headers=key(), json={"reference": "B-1"}
        )
        assert r.status_code == 200, r.text
        web.ids[f"txn_{name}"] = r.json()["transaction_id"]


@pytest.fixture
def web(db: Db, tmp_path: Path) -> Iterator[Web]:
    w = build(db, tmp_path)
    carry_to_payment(w)
    yield w
    w.app.state.huiqi.store.close()


@pytest.fixture
def sqlite_web(sqlite_db: Db, tmp_path: Path) -> Iterator[Web]:
    w = build(sqlite_db, tmp_path)
    carry_to_payment(w)
    yield w
    w.app.state.huiqi.store.close()


#: A fixed Ed25519 seed, so that certificates are signed without writing a key file into the working tree.
SIGNING_SEED = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.fixture(autouse=True)
def _signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUIQI_CERTIFICATE_SIGNING_KEY", SIGNING_SEED)
