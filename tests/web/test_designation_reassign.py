"""A designation call that stalls and is finished through the API alone (issue 14): one reviewer of a
sector has no account, and a declared conflict leaves nobody of the field who can log in. The conflict is
never passed to the reviewer without an account; the officer sees which reviews are stalled, is refused a
reassignment to a reviewer without an account, with a conflict, or of a review already taken over, and
reassigns with a reason that lands in the audit chain; then the review completes, the scores are
normalised and the call is selected, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.web.test_designation import CALL, CALL_FILE, CRITERIA, ON, SECTORS, key, setup_call

from dbfixtures import Db
from huiqi.accounts import service as accounts
from huiqi.audit.models import AuditEntry
from web.conftest import PASSWORD


def waiting(officer: Any) -> list[dict[str, Any]]:
    r = officer.get(f"/api/v1/calls/{CALL}/review")
    assert r.status_code == 200, r.text
    return list(r.json()["waiting"])


def test_a_stalled_review_is_reassigned_and_the_call_finished_through_the_api(db: Db, tmp_path: Path) -> None:
    web, firms = setup_call(db, tmp_path)
    with db.session() as s:  # a reviewer of another field, with an account, tied to the first applicant
        accounts.create_user(session=s, username="r-tied", password=PASSWORD, role="reviewer", actor="test")
        s.commit()
    officer = web.bearer("officer")
    assert officer.put(f"/api/v1/calls/{CALL}/call-file", json={"text": CALL_FILE}).status_code == 200
    assert officer.post(f"/api/v1/calls/{CALL}/selection/check", json={"on": ON}).status_code == 200
    # integrated circuits: two reviewers with accounts and expert-li, who has none; the others: three each
    panel = {SECTORS[0]: ["r00", "r01", "expert-li"]} | {
        sector: [f"r{i}{j}" for j in range(3)] for i, sector in enumerate(SECTORS) if i
    }
    for sector, ids in panel.items():
        for rid in ids:
            r = officer.post("/api/v1/reviewers", json={"id": rid, "name": rid, "fields": [sector]})
            assert r.status_code == 201, r.text
    tied = {"id": "r-tied", "name": "tied", "fields": [SECTORS[3]], "affiliations": [firms[0].uscc]}
    assert officer.post("/api/v1/reviewers", json=tied).status_code == 201
    listed = {r["id"]: r["has_account"] for r in officer.get("/api/v1/reviewers").json()}
    assert listed["expert-li"] is False and listed["r00"] is True
    assert officer.post(f"/api/v1/calls/{CALL}/review/assign", json={"on": ON}).status_code == 200

    everyone = officer.get("/api/v1/reviews", params={"call_id": CALL}).json()
    on_app: dict[str, set[str]] = {}
    for a in everyone:
        on_app.setdefault(a["application_id"], set()).add(a["reviewer_id"])
    li_apps = sorted(app for app, who in on_app.items() if "expert-li" in who)
    assert li_apps, on_app  # the balanced assignment gave expert-li some of the sector's applications
    # expert-li cannot log in: every one of its reviews is stalled, and can go to someone who can
    stalled = {(w["application_id"], w["reviewer_id"]) for w in waiting(officer) if w["stalled"]}
    assert {(app, "expert-li") for app in li_apps} <= stalled

    # r00 declares a conflict where r01 is the other reviewer: nobody of the field with an account is left;
    # the application is NOT passed to expert-li (who could never review it)
    x = next(app for app, who in sorted(on_app.items()) if {"r00", "r01"} <= who)
    r = web.client("r00").post(
        f"/api/v1/reviews/{x}/declaration", json={"conflict": "advised its CFO", "on": ON}
    )
    assert r.status_code == 200, r.text
    assert r.json()["reassigned_to"] is None and r.json()["assignment"]["status"] == "conflicted"
    row = next(w for w in waiting(officer) if w["application_id"] == x and w["reviewer_id"] == "r00")
    assert row["stalled"] and row["status"] == "conflicted"
    assert "expert-li" not in row["candidates"] and "r00" not in row["candidates"] and row["candidates"]

    # normalising now is refused with words a person can act on (no command line)
    r = officer.post(f"/api/v1/calls/{CALL}/review/normalise")
    assert r.status_code == 409 and "huiqi " not in r.json()["detail"], r.text
    r = officer.post(f"/api/v1/calls/{CALL}/selection", headers=key())
    assert r.status_code == 409 and "normalise" in r.json()["detail"] and "huiqi " not in r.json()["detail"]

    # the officer's override: refused without an account, with a known conflict, without a reason
    body = {"from_reviewer": "r00", "to_reviewer": "expert-li", "reason": "nobody else", "on": ON}
    r = officer.post(f"/api/v1/reviews/{x}/reassign", json=body)
    assert r.status_code == 409 and "no active reviewer account" in r.json()["detail"], r.text
    progress = waiting(officer)
    first = next(w for w in progress if w["firm_uscc"] == firms[0].uscc)  # r-tied is tied to this firm
    assert "r-tied" not in first["candidates"]
    body = {"from_reviewer": first["reviewer_id"], "to_reviewer": "r-tied", "reason": "cover", "on": ON}
    r = officer.post(f"/api/v1/reviews/{first['application_id']}/reassign", json=body)
    assert r.status_code == 409 and firms[0].uscc in r.json()["detail"], r.text
    body = {"from_reviewer": "r00", "to_reviewer": "r10", "reason": " "}
    assert officer.post(f"/api/v1/reviews/{x}/reassign", json=body).status_code == 422
    assert web.client("r00").post(f"/api/v1/reviews/{x}/reassign", json=body).status_code == 403

    why = "no integrated-circuits reviewer without a conflict is left; r10 reviewed IC firms before"
    body = {"from_reviewer": "r00", "to_reviewer": "r10", "reason": why, "on": ON}
    r = officer.post(f"/api/v1/reviews/{x}/reassign", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["assignment"]["reviewer_id"] == "r10" and r.json()["assignment"]["status"] == "assigned"
    assert (
        officer.post(f"/api/v1/reviews/{x}/reassign", json=body | {"to_reviewer": "r11"}).status_code == 409
    )
    for app in li_apps:
        row = next(
            w for w in waiting(officer) if w["application_id"] == app and w["reviewer_id"] == "expert-li"
        )
        r = officer.post(
            f"/api/v1/reviews/{app}/reassign",
            json={
                "from_reviewer": "expert-li",
                "to_reviewer": row["candidates"][0],
                "reason": "has no account",
            },
        )
        assert r.status_code == 200, r.text
    assert not [w for w in waiting(officer) if w["stalled"]]
    # an officer may also move a review from a reviewer who can log in (unavailable, say): that reviewer
    # then neither sees nor scores the application, even without having declared
    slow = next(
        w for w in waiting(officer) if w["status"] == "assigned" and w["has_account"] and w["candidates"]
    )
    body = {"from_reviewer": slow["reviewer_id"], "to_reviewer": slow["candidates"][0], "reason": "on leave"}
    assert officer.post(f"/api/v1/reviews/{slow['application_id']}/reassign", json=body).status_code == 200
    gone = web.client(slow["reviewer_id"])
    assert gone.get(f"/api/v1/reviews/{slow['application_id']}/material").status_code == 404
    sheet = {"scores": {k: "5" for k in CRITERIA}}
    assert gone.post(f"/api/v1/reviews/{slow['application_id']}/scores", json=sheet).status_code == 404
    r = gone.post(f"/api/v1/reviews/{slow['application_id']}/declaration", json={"conflict": None})
    assert r.status_code == 409, r.text

    # every reviewer in place now declares and scores through the API, and the call is finished
    rng = random.Random(8)
    for _ in range(3):
        todo = [w for w in waiting(officer) if w["status"] in ("assigned", "cleared")]
        if not todo:
            break
        for w in todo:
            c = web.client(w["reviewer_id"])
            if w["status"] == "assigned":
                r = c.post(
                    f"/api/v1/reviews/{w['application_id']}/declaration", json={"conflict": None, "on": ON}
                )
                assert r.status_code == 200, r.text
            sheet = {k: str(rng.randint(3, 10)) for k in CRITERIA}
            r = c.post(f"/api/v1/reviews/{w['application_id']}/scores", json={"scores": sheet})
            assert r.status_code == 200, r.text
    assert waiting(officer) == []
    r = officer.post(f"/api/v1/calls/{CALL}/review/normalise")
    assert r.status_code == 200 and len(r.json()["scores"]) == 11, r.text
    # the preview shows what would be designated and awarded, and writes nothing
    preview = officer.post(f"/api/v1/calls/{CALL}/selection/preview")
    assert preview.status_code == 200 and len(preview.json()["designated"]) == 4, preview.text
    assert officer.get(f"/api/v1/calls/{CALL}/review").json()["selected"] is False
    assert officer.get(f"/api/v1/calls/{CALL}/selection").status_code == 409
    r = officer.post(f"/api/v1/calls/{CALL}/selection", headers=key())
    assert r.status_code == 200 and len(r.json()["designated"]) == 4, r.text
    same = [{k: v for k, v in d.items() if k != "award_id"} for d in r.json()["designated"]]
    assert same == [{k: v for k, v in d.items() if k != "award_id"} for d in preview.json()["designated"]]
    assert officer.get(f"/api/v1/calls/{CALL}/review").json()["selected"] is True

    # the override is in the audit chain: who, instead of whom, why
    with db.session() as s:
        entries = [
            json.loads(e.payload)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "reviewer_reassigned"))
        ]
    assert {"from": "r00", "to": "r10", "reason": why, "out_of_field": True} in entries
    assert len(entries) == 2 + len(li_apps)
    assert web.bearer("auditor").get("/api/v1/audit/verify").json()["ok"] is True
