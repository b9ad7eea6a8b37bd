"""A real refusal, one per domain, shown on the zh page where the person acted: in Chinese, with its figures,
none of the domain's English (issue 14); the API keeps the English (its contract)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from web.conftest import PASSWORD, Web, key

#: The domain's English for the refusals below: never on a zh page.
ENGLISH = re.compile(
    r"already exists|choose another|has already been|cannot be|not pending|a different officer|two-person|"
    r"awaits a second|too many|try again|not scored|call file|no selection|was refused|nothing was"
)


def shown(page: str) -> str:
    """What a reader sees of a page: its text, without tags, scripts or styles."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def chinese(page: str, *words: str) -> str:
    """The page's text, checked: the Chinese words are there and none of the domain's English."""
    text = shown(page)
    for w in words:
        assert w in text, (w, text[-800:])
    assert not ENGLISH.search(text), ENGLISH.search(text)
    return text


def form_key() -> str:
    return uuid.uuid4().hex


def test_a_pool_id_taken_reads_in_chinese(sqlite_web: Web) -> None:
    officer = sqlite_web.client("officer")
    r = officer.post(
        "/officer/pools",
        data={
            "pool_id": "pool",
            "name": "又一个",
            "size": "1000.00",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "idempotency_key": form_key(),
        },
    )
    assert r.status_code == 409, r.text[-400:]
    chinese(r.text, "资金池 pool 已存在，请换一个编号。")
    api = sqlite_web.bearer("officer")
    again = {"id": "pool", "name": "x", "size": "1.00", "period_start": "2026-01-01"}
    again["period_end"] = "2026-12-31"
    problem = api.post("/api/v1/pools", headers=key(), json=again).json()
    assert problem["detail"] == "pool 'pool' already exists; choose another id"  # the API: English


def test_a_tranche_paid_twice_reads_in_chinese_with_its_award(sqlite_web: Web) -> None:
    officer = sqlite_web.client("officer")
    app_id, award = sqlite_web.ids["app_own"], sqlite_web.ids["award_own"]
    r = officer.post(f"/applications/{app_id}/pay", data={"seq": "1", "idempotency_key": form_key()})
    assert r.status_code == 409, r.text[-400:]
    text = chinese(r.text, award)
    assert "第 1 期" in text, text[-600:]


def test_a_move_the_application_cannot_make_reads_in_chinese_with_its_states(sqlite_web: Web) -> None:
    officer = sqlite_web.client("officer")
    app_id = sqlite_web.ids["open_own"]  # submitted: it can be checked or withdrawn, not rejected
    r = officer.post(f"/applications/{app_id}/move", data={"to": "rejected", "reason": "材料不全"})
    assert r.status_code == 409, r.text[-400:]
    text = chinese(r.text, app_id, "当前为“已提交”，不能改为“已驳回”", "已撤回")
    assert "submitted" not in text and "withdrawn" not in text, text[-600:]  # states by their labels
    money = officer.post(f"/applications/{app_id}/move", data={"to": "approved", "reason": "材料齐全"})
    assert money.status_code == 422, money.text[-400:]
    chinese(money.text, "将申请改为“已同意”涉及资金")


def test_a_login_lockout_reads_in_chinese_beside_the_form(sqlite_web: Web) -> None:
    anon = sqlite_web.client()
    seen = []
    for _ in range(12):
        r = anon.post("/login", data={"username": "officer", "password": "wrong" + PASSWORD})
        seen.append(r.status_code)
        if r.status_code == 429:
            break
    assert seen[-1] == 429, seen
    text = chinese(r.text, "登录失败次数过多", "秒后重试")
    seconds = r.headers["Retry-After"]
    assert f"{seconds} 秒" in text and 'name="username"' in r.text


def test_an_officer_approving_their_own_money_move_reads_in_chinese(sqlite_web: Web) -> None:
    web = sqlite_web
    maker, checker = web.client("officer"), web.client("probe")
    app_id = web.ids["open_own"]
    assert maker.post(f"/applications/{app_id}/check").status_code == 303
    web.app.state.huiqi.settings.second_approval_above = Decimal("1000.00")
    held = maker.post(f"/applications/{app_id}/decide", data={"idempotency_key": form_key()})
    assert held.status_code == 303, held.text[-400:]
    approvals = web.bearer("probe").get("/api/v1/approvals").json()["items"]
    approval_id = approvals[0]["id"]
    again = maker.post(f"/applications/{app_id}/decide", data={"idempotency_key": form_key()})
    assert again.status_code == 409, again.text[-400:]
    chinese(again.text, approval_id, "待复核")
    own = maker.post(f"/officer/approvals/{approval_id}/approve", data={"idempotency_key": form_key()})
    assert own.status_code == 403, own.text[-400:]
    chinese(own.text, approval_id, "由 web:officer 发起", "双人复核")
    done = checker.post(f"/officer/approvals/{approval_id}/approve", data={"idempotency_key": form_key()})
    assert done.status_code == 303, done.text[-400:]
    twice = checker.post(f"/officer/approvals/{approval_id}/approve", data={"idempotency_key": form_key()})
    assert twice.status_code == 409, twice.text[-400:]
    chinese(twice.text, approval_id, "已同意")


def test_selecting_a_call_without_its_call_file_reads_in_chinese(sqlite_web: Web) -> None:
    officer = sqlite_web.client("officer")
    r = officer.post("/officer/selection/call/run", data={"idempotency_key": form_key()})
    assert r.status_code in (409, 422), r.text[-400:]
    chinese(r.text, "批次 call 尚无批次文件")


def test_reversing_the_payment_of_a_completed_award_reads_in_chinese(sqlite_web: Web) -> None:
    officer = sqlite_web.client("officer")
    app_id, txn, award = sqlite_web.ids["app_own"], sqlite_web.ids["txn_own"], sqlite_web.ids["award_own"]
    data = {"transaction_id": txn, "reason": "银行退回", "idempotency_key": form_key()}
    r = officer.post(f"/applications/{app_id}/reverse", data=data)
    assert r.status_code == 409, r.text[-400:]
    chinese(r.text, f"交易 {txn} 不能冲正：资助 {award} 已是“已完成”。")
