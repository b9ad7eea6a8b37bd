"""A designation call through the web (issue 5), on SQLite and PostgreSQL: the call file uploaded and
refused with positions, eligibility check, reviewers and assignment, the declaration before any material
(API and page), a declared conflict that reassigns, score sheets refused with the criterion named, normalise,
selection with the grants through the ledger under an Idempotency-Key, every left-out firm's reason, the
published list in zh and en, certificate download (own firm only), public verification (valid, altered,
revoked) and the promotion from the reserve."""

from __future__ import annotations

import io
import random
import re
import uuid
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.selection import factory

from dbfixtures import Db
from huiqi.accounts import service as accounts
from huiqi.applications import service as apps
from huiqi.ledger.models import Award
from huiqi.money import format_yuan
from huiqi.review.models import Assignment
from web.conftest import PASSWORD, Web, build

CALL = "hq-2023-1"
ON = "2023-11-01"
SECTORS = factory.SECTORS
CALL_FILE = re.sub(
    r"review:\n.*?reserve: \{per_sector: 3\}\n",
    """review:
  reviewers_per_application: 2
  recent_employment_years: 3
quotas:
  total: 4
  sector: {integrated_circuits: 1, biomedicine: 1, artificial_intelligence: 1, digital_economy: 1}
budget:
  amount: 100000000.00
  rank_within: sector
  bands:
    - {from: 1, amount: 5000000.00}
tranches:
  - {share: 0.5, milestone: designation, due: 2023-12-31}
  - {share: 0.5, milestone: HQ functions confirmed a year on, due: 2023-12-31}
reserve: {per_sector: 2}
""",
    factory.CALL_FILE,
    flags=re.S,
)
CRITERIA = ["innovation", "rd-intensity", "growth", "hq-functions", "ip"]


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def setup_call(db: Db, tmp: Path) -> tuple[Web, list[Any]]:
    """Twelve applicants (three per sector; one fails the IP criterion), three reviewers per sector with
    accounts named by their reviewer ids, and a member account for the first firm."""
    web = build(db, tmp)
    # these journeys award 20,000,000 yuan on one officer; the second officer's approval of a selection above
    # HUIQI_SECOND_APPROVAL_ABOVE is tests/web/test_selection_approval.py's
    web.app.state.huiqi.settings.second_approval_above = Decimal("1000000000.00")
    firms = factory.firms(12)
    with db.session() as s:
        factory.open_hq_call(s, CALL, firms)
        for s_i in range(4):
            for j in range(3):
                accounts.create_user(
                    session=s, username=f"r{s_i}{j}", password=PASSWORD, role="reviewer", actor="test"
                )
        accounts.create_user(
            session=s,
            username="hq_member",
            password=PASSWORD,
            role="firm_member",
            firm_uscc=firms[0].uscc,
            actor="test",
        )
        s.commit()
    return web, firms


def test_designation_call_end_to_end(db: Db, tmp_path: Path) -> None:
    web, firms = setup_call(db, tmp_path)
    officer = web.bearer("officer")

    # the call file: refused with its position, then accepted
    r = officer.put(
        f"/api/v1/calls/{CALL}/call-file", json={"text": CALL_FILE.replace("weight: 30", "weight: -3")}
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert re.search(r"call file of hq-2023-1:\d+:\d+", r.json()["detail"]), r.json()
    r = officer.put("/api/v1/calls/nocall/call-file", json={"text": CALL_FILE})
    assert r.status_code == 422 and "not 'nocall'" in r.json()["detail"]
    r = officer.put(f"/api/v1/calls/{CALL}/call-file", json={"text": CALL_FILE})
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["rubric"]] == CRITERIA

    # eligibility: the firm without enough patents is rejected with the verdict, the rest go to review
    r = officer.post(f"/api/v1/calls/{CALL}/selection/check", json={"on": ON})
    assert r.status_code == 200, r.text
    states = {c["state"] for c in r.json()["checked"]}
    assert states == {"under_review", "rejected"}

    # reviewers and assignment
    for s_i, sector in enumerate(SECTORS):
        for j in range(3):
            r = officer.post(
                "/api/v1/reviewers", json={"id": f"r{s_i}{j}", "name": f"专家{s_i}{j}", "fields": [sector]}
            )
            assert r.status_code == 201, r.text
    assert (
        officer.post("/api/v1/reviewers", json={"id": "r00", "name": "x", "fields": ["x"]}).status_code == 409
    )
    r = officer.post(f"/api/v1/calls/{CALL}/review/assign", json={"on": ON})
    assert r.status_code == 200 and r.json()["assignments_made"] == 11 * 2, r.text
    # the selection cannot run before the review is finished
    assert officer.post(f"/api/v1/calls/{CALL}/review/normalise").status_code == 409

    with db.session() as s:
        assignments = [(a.application_id, a.reviewer_id) for a in s.scalars(select(Assignment))]
    first_app, first_reviewer = sorted(assignments)[0]
    rev = web.client(first_reviewer)
    mine = rev.get("/api/v1/reviews").json()
    assert mine and all(a["reviewer_id"] == first_reviewer for a in mine)

    # no material before the declaration: the API refuses, the page shows only the declaration form
    r = rev.get(f"/api/v1/reviews/{first_app}/material")
    assert r.status_code == 403 and "declare" in r.json()["detail"], r.text
    page = rev.get(f"/review/{first_app}")
    assert page.status_code == 200
    assert 'name="decision"' in page.text and "HQ-1" not in page.text and "score_innovation" not in page.text
    # another reviewer's assignment is not theirs
    other_app = next(
        a for a, rv in assignments if rv != first_reviewer and (a, first_reviewer) not in assignments
    )
    assert rev.get(f"/api/v1/reviews/{other_app}/material").status_code == 404

    # a declared conflict reassigns; the conflicted reviewer still sees nothing
    r = rev.post(
        f"/api/v1/reviews/{first_app}/declaration", json={"conflict": "advised the applicant last year"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["reassigned_to"] is not None and r.json()["reassigned_to"] != first_reviewer
    assert rev.get(f"/api/v1/reviews/{first_app}/material").status_code == 403
    assert rev.post(f"/api/v1/reviews/{first_app}/declaration", json={"conflict": None}).status_code == 409

    # everyone else declares no conflict (via the page for one of them) and scores
    rng = random.Random(3)
    quality = {f.uscc: rng.uniform(3, 9) for f in firms}
    refused_once = False
    while True:
        with db.session() as s:
            todo = [
                (
                    a.application_id,
                    a.reviewer_id,
                    apps.get_application(session=s, application_id=a.application_id),
                )
                for a in s.scalars(select(Assignment).where(Assignment.status == "assigned"))
            ]
            todo = [(aid, rid, app.firm_uscc) for aid, rid, app in todo]
        if not todo:
            break
        for aid, rid, uscc in todo:
            c = web.client(rid)
            if not refused_once:
                r = c.post(f"/review/{aid}/declare", data={"decision": "none"})
                assert r.status_code == 303 and r.headers["location"] == f"/review/{aid}"
                page = c.get(f"/review/{aid}")
                assert "HQ-1" in page.text and "score_innovation" in page.text
                # the scoring form refuses a missing and an out-of-range score, naming each
                r = c.post(f"/review/{aid}/score", data={"score_innovation": "11", "score_growth": "5"})
                assert r.status_code == 422
                assert "innovation: 11 is outside the scale 0..10" in r.text and "ip: missing score" in r.text
                r = c.post(f"/api/v1/reviews/{aid}/scores", json={"scores": {"innovation": "4.5"}})
                assert r.status_code == 422 and "rd-intensity: missing score" in r.json()["detail"]
                refused_once = True
            else:
                r = c.post(f"/api/v1/reviews/{aid}/declaration", json={"conflict": None, "on": ON})
                assert r.status_code == 200, r.text
            assert c.get(f"/api/v1/reviews/{aid}/material").json()["claims"][0]["contract_id"] == "HQ-1"
            q = quality[uscc]
            sheet = {k: str(max(0, min(10, round(q + rng.gauss(0, 0.5))))) for k in CRITERIA}
            r = c.post(f"/api/v1/reviews/{aid}/scores", json={"scores": sheet})
            assert r.status_code == 200 and r.json()["status"] == "scored", r.text
            assert c.post(f"/api/v1/reviews/{aid}/scores", json={"scores": sheet}).status_code == 409
    r = officer.post(f"/api/v1/calls/{CALL}/review/normalise")
    assert r.status_code == 200 and len(r.json()["scores"]) == 11, r.text

    # selection: money moves, so an Idempotency-Key is required; a replay does not award twice
    assert officer.post(f"/api/v1/calls/{CALL}/selection").status_code == 428
    k = key()
    r = officer.post(f"/api/v1/calls/{CALL}/selection", headers=k)
    assert r.status_code == 200, r.text
    designated = r.json()["designated"]
    assert len(designated) == 4 and {d["sector"] for d in designated} == set(SECTORS)
    with db.session() as s:
        awards = s.scalar(select(func.count()).select_from(Award))
    again = officer.post(f"/api/v1/calls/{CALL}/selection", headers=k)
    assert again.status_code == 200 and again.json()["replayed"] is True
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Award)) == awards
    assert officer.post(f"/api/v1/calls/{CALL}/selection", headers=key()).status_code == 409  # selected once

    view = officer.get(f"/api/v1/calls/{CALL}/selection").json()
    assert [d["sector_rank"] for d in view["designations"]] == [1, 1, 1, 1]
    assert all(d["score"] for d in view["designations"])
    assert len(view["left_out"]) + len(view["reserve"]) + 4 == 12
    for d in view["left_out"] + view["reserve"]:
        assert d["reason"]["en"] and d["reason"]["zh"], d
    assert any(d["outcome"] == "ineligible" for d in view["left_out"])
    assert web.bearer("auditor").get(f"/api/v1/calls/{CALL}/selection").status_code == 200
    page = web.client("officer").get(f"/officer/selection/{CALL}?lang=zh")
    assert (
        page.status_code == 200
        and "候补名单" in page.text
        and view["left_out"][0]["reason"]["zh"] in page.text
    )

    # the published list, zh and en, JSON, CSV and page; public
    anon = web.client(None)
    zh = anon.get(f"/api/v1/calls/{CALL}/designated?lang=zh").json()
    en = anon.get(f"/api/v1/calls/{CALL}/designated?lang=en").json()
    assert len(zh["rows"]) == len(en["rows"]) == 4 and zh["batch"] == "2023年第一批"
    csv = anon.get(f"/api/v1/calls/{CALL}/designated?lang=en&format=csv")
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.count("\n") == 5
    page_en = anon.get(f"/published/designated/{CALL}?lang=en").text
    assert "2023, first batch" in page_en and "Rank in sector" in page_en and "<th>sector_rank" not in page_en
    page_zh = anon.get(f"/published/designated/{CALL}?lang=zh").text
    assert "2023年第一批" in page_zh
    for row in zh["rows"]:  # amounts grouped in yuan, as everywhere else
        assert format_yuan(Decimal(row["开办奖励（元）"]), lang="zh") in page_zh

    # certificates: the firm downloads its own, not another's; anyone verifies
    winner = (
        next(d for d in designated if d["firm_uscc"] == firms[0].uscc)
        if any(d["firm_uscc"] == firms[0].uscc for d in designated)
        else designated[0]
    )
    member = _member_of(web, db, winner["firm_uscc"])
    serial = winner["certificate_serial"]
    listed = member.get(f"/api/v1/firms/{winner['firm_uscc']}/certificates").json()
    assert [c["serial"] for c in listed] == [serial]
    pdf = member.get(f"/api/v1/firms/{winner['firm_uscc']}/certificates/{serial}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    loser = next(d for d in designated if d["firm_uscc"] != winner["firm_uscc"])
    assert (
        member.get(
            f"/api/v1/firms/{loser['firm_uscc']}/certificates/{loser['certificate_serial']}"
        ).status_code
        == 403
    )
    assert "/certificates/" in member.get(f"/firms/{winner['firm_uscc']}").text

    r = anon.post(
        "/api/v1/certificates/verify", content=pdf.content, headers={"Content-Type": "application/pdf"}
    )
    assert r.status_code == 200 and r.json()["status"] == "valid", r.text
    qr = anon.get(f"/certificates/verify/{serial}?lang=zh")  # where the certificate's QR code points
    assert qr.status_code == 200 and "未被撤销" in qr.text
    assert anon.get("/certificates/verify/NOSUCH").status_code == 404
    altered = bytearray(pdf.content)
    altered[100] ^= 0x20
    r = anon.post(
        "/api/v1/certificates/verify", content=bytes(altered), headers={"Content-Type": "application/pdf"}
    )
    assert r.json()["status"] == "altered" and r.json()["findings"], r.text
    page = anon.post(
        "/certificates/verify?lang=zh", files={"file": ("c.pdf", pdf.content, "application/pdf")}
    )
    assert page.status_code == 200 and "有效" in page.text
    page = anon.post(
        "/certificates/verify?lang=en", files={"file": ("c.pdf", bytes(altered), "application/pdf")}
    )
    assert "Altered" in page.text and "offset 100" in page.text

    # the designated firm withdraws: certificate revoked, grant back, the sector's reserve promoted
    body = {"reason": "moved its headquarters to another city", "on": "2023-12-01"}
    assert officer.post(f"/api/v1/designations/{winner['application_id']}/end", json=body).status_code == 428
    r = officer.post(f"/api/v1/designations/{winner['application_id']}/end", json=body, headers=key())
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] == [serial]
    reserve_same_sector = [d for d in view["reserve"] if d["sector"] == winner["sector"]]
    assert reserve_same_sector, view["reserve"]
    assert r.json()["promoted"]["application_id"] == reserve_same_sector[0]["application_id"]
    assert r.json()["promoted"]["source"] == "promotion"
    r = anon.post(
        "/api/v1/certificates/verify", content=pdf.content, headers={"Content-Type": "application/pdf"}
    )
    assert r.json()["status"] == "revoked" and "moved its headquarters" in r.json()["findings"][0]
    qr = anon.get(f"/certificates/verify/{serial}?lang=en")
    assert qr.status_code == 200 and "Revoked" in qr.text and "moved its headquarters" in qr.text
    assert len(anon.get(f"/api/v1/calls/{CALL}/designated").json()["rows"]) == 4
    promoted_view = officer.get(f"/api/v1/calls/{CALL}/selection").json()
    assert next(d["promoted"] for d in promoted_view["reserve"] if d["sector"] == winner["sector"]) is True
    assert officer.put(f"/api/v1/calls/{CALL}/call-file", json={"text": CALL_FILE}).status_code == 409
    # every certificate of the call, the revoked one and the promoted firm's too
    with zipfile.ZipFile(
        io.BytesIO(web.bearer("auditor").get(f"/api/v1/calls/{CALL}/certificates").content)
    ) as z:
        names = sorted(z.namelist())
        assert len(names) == 5 and f"{serial}.pdf" in names and z.read(f"{serial}.pdf") == pdf.content
    assert web.bearer("auditor").get("/api/v1/ledger/verify").json()["ok"] is True


def _member_of(web: Web, db: Db, uscc: str) -> Any:
    name = f"m{uscc[-6:].lower()}"
    with db.session() as s:
        accounts.create_user(
            session=s, username=name, password=PASSWORD, role="firm_member", firm_uscc=uscc, actor="test"
        )
        s.commit()
    return web.client(name)


def test_selection_pages_drive_the_call(sqlite_db: Db, tmp_path: Path) -> None:
    """The officer's page: upload the call file (positioned refusal shown), check, assign; the reviewer's
    list; no call file means a clear refusal."""
    web, _firms = setup_call(sqlite_db, tmp_path)
    officer = web.client("officer")
    r = officer.post(f"/officer/selection/{CALL}/check")
    assert r.status_code == 409 and "尚无批次文件" in r.text  # the zh page words the refusal
    r = officer.post(f"/officer/selection/{CALL}/call-file", data={"text": "call: hq-2023-1\nrubric: 3\n"})
    assert r.status_code == 422 and "call file of hq-2023-1:" in r.text
    r = officer.post(
        f"/officer/selection/{CALL}/call-file",
        files={"file": ("hq.call.yaml", CALL_FILE.encode(), "application/yaml")},
    )
    assert r.status_code == 303, r.text
    page = officer.get(f"/officer/selection/{CALL}?lang=en")
    assert "Innovation" in page.text and "1. Check eligibility" in page.text
    assert officer.post(f"/officer/selection/{CALL}/check", data={"on": ON}).status_code == 303
    for s_i, sector in enumerate(SECTORS):
        for j in range(3):
            r = officer.post(
                "/officer/reviewers",
                data={"reviewer_id": f"r{s_i}{j}", "name": f"专家{s_i}{j}", "fields": sector},
            )
            assert r.status_code == 303, r.text
    assert f"r{len(SECTORS) - 1}2" in officer.get("/officer/selection").text
    assert officer.post(f"/officer/selection/{CALL}/assign", data={"on": "2023-13-01"}).status_code == 422
    assert officer.post(f"/officer/selection/{CALL}/assign", data={"on": ON}).status_code == 303
    reviewer = web.client("r00")
    listing = reviewer.get("/review?lang=zh")
    assert listing.status_code == 200 and "需申报利益冲突" in listing.text
    app_id = next(a["application_id"] for a in reviewer.get("/api/v1/reviews").json())
    r = reviewer.post(f"/review/{app_id}/declare?lang=en", data={"decision": "conflict", "conflict": " "})
    assert r.status_code == 422 and "Describe the conflict in words." in r.text and "HQ-1" not in r.text
    r = reviewer.post(
        f"/review/{app_id}/declare", data={"decision": "conflict", "conflict": "my brother's firm"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/review?declared=conflict"
    assert "改派其他评审专家" in reviewer.get("/review?declared=conflict&lang=zh").text
    assert reviewer.get(f"/review/{app_id}").status_code == 200  # the status, never the material
    assert "HQ-1" not in reviewer.get(f"/review/{app_id}").text
