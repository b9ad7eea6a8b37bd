"""Same Idempotency-Key, same answer through the API, even when the requests arrive at once (issue 13):
the routes' ``idempotent`` runs ``huiqi.app.idempotency.run_once``, which claims the key first, so a
duplicate in flight waits for the first and replays its answer instead of being refused with a 409."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from .conftest import Web

N = 6


def at_once(web: Web, path: str, json: dict[str, Any] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The same POST with one new key from N clients released together; each status and body."""
    token = web.bearer("officer").headers["Authorization"]
    headers = {"Authorization": token, "Idempotency-Key": uuid.uuid4().hex}
    barrier = threading.Barrier(N)

    def one(_: int) -> tuple[int, dict[str, Any]]:
        client = TestClient(web.app)
        barrier.wait()
        r = client.post(path, headers=headers, json=json)
        return r.status_code, r.json()

    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(one, range(N)))


def one_answer(answers: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Every client got 200 and the first answer; one of them did the work."""
    assert [s for s, _ in answers] == [200] * N, answers
    bodies = [{k: v for k, v in b.items() if k != "replayed"} for _, b in answers]
    assert all(b == bodies[0] for b in bodies), answers
    assert sum(1 for _, b in answers if not b.get("replayed")) == 1, answers
    return bodies[0]


def test_one_key_sent_at_once_decides_grants_and_pays_once(web: Web) -> None:
    officer = web.bearer("officer")
    app_id = web.ids["open_own"]
    assert officer.post(f"/api/v1/applications/{app_id}/check").json()["state"] == "under_review"
    assert one_answer(at_once(web, f"/api/v1/applications/{app_id}/decide"))["state"] == "approved"
    award = one_answer(at_once(web, f"/api/v1/applications/{app_id}/grant", json={}))
    paid = one_answer(
        at_once(web, f"/api/v1/applications/{app_id}/tranches/1/pay", json={"reference": "B-9"})
    )
    assert paid["award_id"] == award["id"]
    shown = officer.get(f"/api/v1/applications/{app_id}").json()
    moves = [e["to"] for e in shown["history"]]
    assert moves.count("approved") == 1 and moves.count("awarded") == 1 and moves.count("completed") == 1, (
        moves
    )
    verify = officer.get("/api/v1/ledger/verify").json()
    assert verify["ok"], verify
