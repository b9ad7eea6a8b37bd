"""The officer finishes in the browser what only the CLI and the API could do: change an application's status
with a reason (reject, waitlist, appeal), decide a whole call, reverse a returned payment, miss a milestone,
record money recovered; each page action calls the same use case as the API and is recorded."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from tests.web.conftest import PDF, Web, key


def form_key() -> str:
    return uuid.uuid4().hex


def test_the_officer_rejects_with_a_reason_and_decides_a_call_from_the_pages(sqlite_web: Web) -> None:
    web = sqlite_web
    officer = web.client("officer")
    api = web.bearer("officer")
    own, other = web.ids["open_own"], web.ids["open_other"]
    for app_id in (own, other):
        assert officer.post(f"/applications/{app_id}/check").status_code == 303
    page = officer.get(f"/applications/{own}")
    assert f'action="/applications/{own}/move"' in page.text and 'value="rejected"' in page.text
    r = officer.post(f"/applications/{own}/move", data={"to": "rejected", "reason": "not innovative enough"})
    assert r.status_code == 303, r.text
    shown = api.get(f"/api/v1/applications/{own}").json()
    assert shown["state"] == "rejected"
    assert (
        shown["history"][-1]["reason"] == "not innovative enough" and shown["history"][-1]["to"] == "rejected"
    )
    assert shown["history"][-1]["actor"] == "web:officer"
    # the whole call: what is under review is decided at once
    r = officer.post("/officer/calls/call/decide", data={"idempotency_key": form_key()})
    assert r.status_code == 303 and r.headers["location"] == "/officer/applications?call_id=call"
    assert api.get(f"/api/v1/applications/{other}").json()["state"] == "approved"
    # an approved application has money reserved: it is not moved by a status change
    before = api.get("/api/v1/pools/pool").json()["available"]
    r = officer.post(f"/applications/{other}/move", data={"to": "waitlisted", "reason": "probe"})
    assert r.status_code == 422, r.text
    assert api.get(f"/api/v1/applications/{other}").json()["state"] == "approved"
    assert api.get("/api/v1/pools/pool").json()["available"] == before
    assert 'action="/applications/' + other + '/move"' not in officer.get(f"/applications/{other}").text


def test_the_officer_reverses_a_returned_payment_claws_back_and_records_recovery(sqlite_web: Web) -> None:
    web = sqlite_web
    officer = web.client("officer")
    api = web.bearer("officer")
    app_id = web.ids["open_own"]
    assert api.post(f"/api/v1/applications/{app_id}/check").json()["state"] == "under_review"
    assert api.post(f"/api/v1/applications/{app_id}/decide", headers=key()).json()["state"] == "approved"
    today = dt.date.today()
    plan = [
        {
            "amount": "75000.00",
            "due": (today + dt.timedelta(days=30)).isoformat(),
            "milestone": "office opened",
        },
        {
            "amount": "75000.00",
            "due": (today + dt.timedelta(days=60)).isoformat(),
            "milestone": "sales reached",
        },
    ]
    granted = api.post(f"/api/v1/applications/{app_id}/grant", headers=key(), json={"tranches": plan})
    assert granted.status_code == 200, granted.text
    award_id = granted.json()["id"]
    # "office opened" is paid only with the evidence that shows it: refused without, nothing paid
    r = officer.post(f"/applications/{app_id}/pay", data={"seq": "1", "idempotency_key": form_key()})
    assert r.status_code == 409 and "office opened" in r.text, r.text[-600:]
    up = api.post(
        f"/api/v1/applications/{app_id}/evidence", files={"file": ("opened.pdf", PDF, "application/pdf")}
    )
    assert up.status_code == 201, up.text
    sha = up.json()["sha256"]
    # the page confirms first: firm, amount, pool, what remains, the tranche and its due date
    confirm = officer.post(
        f"/applications/{app_id}/confirm", data={"move": "pay", "seq": "1", "evidence": sha}
    )
    assert confirm.status_code == 200, confirm.text[-600:]
    assert "75,000.00" in confirm.text and "office opened" in confirm.text and "模型券" in confirm.text
    assert f'action="/applications/{app_id}/pay"' in confirm.text and f'value="{sha}"' in confirm.text
    assert api.get(f"/api/v1/awards/{award_id}").json()["paid"] == "0.00"  # the summary wrote nothing
    r = officer.post(
        f"/applications/{app_id}/pay", data={"seq": "1", "evidence": sha, "idempotency_key": form_key()}
    )
    assert r.status_code == 303, r.text
    award = api.get(f"/api/v1/awards/{award_id}").json()
    txn = award["tranches"][0]["payment_txn_id"]
    assert txn and f'name="transaction_id" value="{txn}"' in officer.get(f"/applications/{app_id}").text
    r = officer.post(
        f"/applications/{app_id}/reverse",
        data={"transaction_id": txn, "reason": "returned by the bank", "idempotency_key": form_key()},
    )
    assert r.status_code == 303, r.text
    award = api.get(f"/api/v1/awards/{award_id}").json()
    assert award["tranches"][0]["status"] == "pending" and Decimal(award["paid"]) == 0
    # a milestone whose due date has not come cannot be missed; nothing changes
    r = officer.post(
        f"/applications/{app_id}/miss-milestone",
        data={"seq": "2", "reason": "no sales", "idempotency_key": form_key()},
    )
    assert r.status_code == 409, r.text[:300]
    assert api.get(f"/api/v1/awards/{award_id}").json() == award
    # paid again, then clawed back: the paid part is owed, and what comes back is recorded once
    assert (
        officer.post(
            f"/applications/{app_id}/pay", data={"seq": "1", "evidence": sha, "idempotency_key": form_key()}
        ).status_code
        == 303
    )
    r = officer.post(
        f"/applications/{app_id}/clawback",
        data={"reason": "left Shanghai", "first_due": "2030-01-01", "idempotency_key": form_key()},
    )
    assert r.status_code == 303, r.text
    award = api.get(f"/api/v1/awards/{award_id}").json()
    assert (
        Decimal(award["clawed"]) - Decimal(award["recovered"])
        == Decimal(award["paid"])
        == Decimal("75000.00")
    )
    assert 'name="move" value="recover"' in officer.get(f"/applications/{app_id}").text
    recover_key = form_key()
    for _ in range(2):  # the same form sent twice records the money once
        r = officer.post(
            f"/applications/{app_id}/recover",
            data={"amount": "1000.00", "reference": "BANK-7", "idempotency_key": recover_key},
        )
        assert r.status_code == 303, r.text
    assert Decimal(api.get(f"/api/v1/awards/{award_id}").json()["recovered"]) == Decimal("1000.00")
    assert api.get("/api/v1/ledger/verify").json()["ok"] is True


def test_scores_counts_and_awards_by_sector_from_the_pages_and_the_api(sqlite_web: Web) -> None:
    web = sqlite_web
    officer = web.client("officer")
    api = web.bearer("officer")
    app_id = web.ids["open_other"]
    r = officer.post(f"/applications/{app_id}/score", data={"score": "81.50"})
    assert r.status_code == 303, r.text
    assert api.get(f"/api/v1/applications/{app_id}").json()["score"] == "81.50"
    assert officer.post(f"/applications/{app_id}/score", data={"score": "lots"}).status_code == 422
    counts = web.bearer("auditor").get("/api/v1/applications/by-state").json()
    listed = api.get("/api/v1/applications", params={"limit": 500}).json()["items"]
    assert sum(counts.values()) == len(listed) and counts.get("completed") == 2
    assert counts == {s: sum(1 for a in listed if a["state"] == s) for s in counts}
    by = api.get("/api/v1/awards/by/sector").json()
    awards = api.get("/api/v1/awards").json()["items"]
    total = sum(Decimal(a["amount"]) - Decimal(a["released"]) - Decimal(a["clawed"]) for a in awards)
    assert sum(Decimal(x["amount"]) for x in by) == total and all("sector" in x for x in by)
    assert api.get("/api/v1/awards/by/colour").status_code == 422


def test_only_officers_act(sqlite_web: Web) -> None:
    app_id = sqlite_web.ids["open_own"]
    for role in ("auditor", "reviewer", "firm_member"):
        client = sqlite_web.client(role)
        r = client.post(f"/applications/{app_id}/move", data={"to": "rejected", "reason": "x"})
        assert r.status_code == 403, (role, r.status_code)
        r = client.post("/officer/calls/call/decide", data={"idempotency_key": form_key()})
        assert r.status_code == 403, (role, r.status_code)
