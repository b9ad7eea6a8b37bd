"""The selection's money moves above the second-approval amount, through the API and the officer's pages
(issue 14): "select and award" answers 202 with the held move (the same key, the same move); the
confirmation page says it will be held; the page sends the maker to the 待复核 queue; the application's page
shows the move held for it (what, how much, by whom, when, a link for officers; the firm sees no officer);
the maker cannot approve it; a second officer approves it and the grants appear. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape
from typing import Any

from sqlalchemy import select
from tests.selection.test_second_approval import ready_call
from tests.web.conftest import PASSWORD, Web, key

from dbfixtures import Db
from huiqi.accounts import service as accounts
from huiqi.applications.models import Application
from huiqi.rules.loader import load_pack


def test_a_selection_above_the_amount_waits_for_a_second_officer(web: Web, db: Db) -> None:
    call_id = ready_call(db, load_pack("shanghai"))
    with db.session() as s:
        app: Any = s.scalars(
            select(Application).where(Application.call_id == call_id, Application.state == "under_review")
        ).first()
        accounts.create_user(
            session=s,
            username="hq_member",
            password=PASSWORD,
            role="firm_member",
            firm_uscc=app.firm_uscc,
            actor="test",
        )
        s.commit()
    maker, checker = web.client("officer"), web.client("probe")
    api_maker, api_checker = web.bearer("officer"), web.bearer("probe")

    # the API: 202 with the held move; the same key answers the same move; nothing is designated
    k = key()
    r = api_maker.post(f"/api/v1/calls/{call_id}/selection", headers=k)
    assert r.status_code == 202, r.text
    held = r.json()
    assert (held["operation"], held["status"], held["amount"]) == ("selection.run", "awaiting", "20000000.00")
    assert held["summary"]["call_id"] == call_id and held["requested_by"] == "web:officer"
    again = api_maker.post(f"/api/v1/calls/{call_id}/selection", headers=k)
    assert again.status_code == 202 and again.json()["id"] == held["id"] and again.json()["replayed"]
    assert api_maker.get(f"/api/v1/calls/{call_id}/selection").status_code == 409  # not selected yet
    listed = api_maker.get("/api/v1/approvals", params={"application_id": app.id}).json()["items"]
    assert [h["id"] for h in listed] == [held["id"]]
    r = api_checker.post(f"/api/v1/approvals/{held['id']}/reject", json={"reason": "use the page"})
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text

    # the pages: the summary says it will be held; confirming sends the maker to the queue
    confirm = maker.post(f"/officer/selection/{call_id}/confirm")
    assert confirm.status_code == 200, confirm.text[-400:]
    assert "20,000,000.00" in confirm.text and "金额超过1,000,000.00元" in unescape(confirm.text)
    ran = maker.post(f"/officer/selection/{call_id}/run", data={"idempotency_key": "page-select"})
    assert ran.status_code == 303 and ran.headers["location"].startswith("/officer/approvals?held="), ran.text
    held_id = ran.headers["location"].split("=", 1)[1]
    queue = maker.get("/officer/approvals").text
    assert f'id="approval-{held_id}"' in queue and f'href="/officer/selection/{call_id}"' in queue
    assert f'action="/officer/approvals/{held_id}/confirm"' not in queue  # the maker cannot approve

    # the application's page shows the move held for it: officers with who and the link, the firm without
    page = maker.get(f"/applications/{app.id}", headers={"Accept-Language": "zh-CN"}).text
    assert f'id="held-{held_id}"' in page and "待复核" in page and "web:officer" in page
    assert f'href="/officer/approvals?held={held_id}#approval-{held_id}"' in page
    firm_page = web.client("hq_member").get(f"/applications/{app.id}").text
    assert f'id="held-{held_id}"' in firm_page and "web:officer" not in firm_page
    assert "/officer/approvals" not in firm_page

    # the maker cannot approve it; a second officer does, and the grants appear
    refused = maker.post(f"/officer/approvals/{held_id}/approve", data={"idempotency_key": "x"})
    assert refused.status_code in (403, 409), refused.status_code
    approved = checker.post(f"/officer/approvals/{held_id}/approve", data={"idempotency_key": "approve-1"})
    assert approved.status_code == 303 and "status=approved" in approved.headers["location"]
    view = api_maker.get(f"/api/v1/calls/{call_id}/selection").json()
    assert len(view["designations"]) == 4
    assert sum(Decimal(d["amount"]) for d in view["designations"]) == Decimal("20000000.00")
    page = maker.get(f"/applications/{app.id}").text
    assert f'id="held-{held_id}"' not in page  # no longer awaiting
    assert not re.search(r"held-[0-9a-f]{32}", page)

    # ending a designation on the page returns 5,000,000 and promotes the reserve's next: held too
    leaving = view["designations"][0]["application_id"]
    form = {"reason": "moved its HQ away", "call_id": call_id}
    confirm = maker.post(f"/officer/designations/{leaving}/confirm-end", data=form)
    assert confirm.status_code == 200, confirm.text[-600:]
    assert "金额超过1,000,000.00元" in unescape(confirm.text)
    ended = maker.post(f"/officer/designations/{leaving}/end", data={**form, "idempotency_key": "page-end"})
    assert ended.status_code == 303 and ended.headers["location"].startswith("/officer/approvals?held=")
    end_id = ended.headers["location"].split("=", 1)[1]
    assert f'id="held-{end_id}"' in maker.get(f"/applications/{leaving}").text
    r = api_checker.post(f"/api/v1/approvals/{end_id}/approve", headers=key())
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    after = api_maker.get(f"/api/v1/calls/{call_id}/selection").json()["designations"]
    assert {d["application_id"]: d["status"] for d in after}[leaving] != "active"
