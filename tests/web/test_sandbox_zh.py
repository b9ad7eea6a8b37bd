"""Names in the page's language, never ids or English where Chinese exists: the sandbox's result page (the
firms that gain or lose most by name with their credit code under it, programme and pool names) and a
firm's "you qualify" messages (the programme's name, its id secondary)."""

from __future__ import annotations

import re

from sqlalchemy import select

from dbfixtures import Db
from huiqi.firms.synth import synth_register
from huiqi.matching.models import Notification

from .conftest import Web
from .test_analysis import ON, REFORM, register_web
from .test_jobs import follow

__all__ = ["register_web"]


#: compute rentals paid more, self-built compute less: firms gain and lose
SETS = "shanghai.ai.compute-voucher.rental_rate=50%\nshanghai.ai.compute-voucher.selfbuild_rate=1%"


def test_the_sandbox_names_firms_programmes_and_pools_in_chinese(register_web: Web) -> None:
    officer = register_web.client("officer")
    r = officer.post("/officer/sandbox", data={"on": ON, "sets": SETS, "reform": REFORM})
    assert r.status_code == 303, r.text
    job = follow(register_web.bearer("officer"), r)
    sim = job["result"]
    tops = sim["top_gainers"] + sim["top_losers"]
    assert sim["top_gainers"] and sim["top_losers"] and all(g["name"] for g in tops)
    names = {f["uscc"]: f["name_zh"] for f in synth_register(400, 11)["firms"].to_pylist()}
    assert all(names[g["uscc"]] == g["name"] for g in tops)  # the register's own names
    page = officer.get(f"/officer/sandbox/{job['id']}?lang=zh").text
    table = page[page.index("受益与受损最大的企业") :]
    for first in (sim["top_gainers"][0], sim["top_losers"][0]):
        assert re.search(
            rf"<td>{re.escape(first['name'])}<br><span class=\"muted\">{first['uscc']}</span></td>", table
        )
    assert "模型券" in page and "Model vouchers</td>" not in page and "AI model voucher fund" not in page
    assert "模型券资金" in page  # the pool, by its Chinese name


def test_the_firms_messages_name_the_programme_in_chinese(register_web: Web, db: Db) -> None:
    officer = register_web.bearer("officer")
    follow(officer, officer.post("/api/v1/matching/runs", json={"on": ON}))
    with db.session() as s:
        first = s.execute(
            select(Notification.uscc, Notification.programme).order_by(Notification.uscc)
        ).first()
        assert first is not None
        uscc, programme = first._tuple()
    name = officer.get(f"/api/v1/programmes/{programme}").json()["name_zh"]
    page = register_web.client("officer").get(f"/firms/{uscc}?lang=zh").text
    inbox = page[page.index("免申即享") : page.index('id="profile-heading"')]
    assert f"<strong>{name}</strong>" in inbox and f"<strong>{programme}</strong>" not in inbox
