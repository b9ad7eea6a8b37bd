"""History reasons the system writes in English are shown in Chinese on zh pages (figures and ids kept), in
English on en pages, and a reason an officer typed is shown exactly as typed."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbfixtures import FIRM_A
from huiqi.app import reasons as rendering
from huiqi.applications.reasons import NO_GRANT_IN_CALL, NOT_ELIGIBLE, TEXT, Reason
from huiqi.web import i18n, reasons
from web.conftest import Web, firm_json

USCC = "91310115MA1K4XYZ12"
PROMOTED = (
    "promoted from position 1 of the artificial_intelligence reserve list "
    "(rank 4 in the sector, score 81.50) "
    f"to replace 上海青图智能科技有限公司 ({USCC}), whose designation ended: withdrew: moved to Suzhou"
)
SELECTED = "selected: rank 2 in artificial_intelligence (rank 5 overall), score 88.25"
SECTOR_CUTOFF = (
    "the biomedicine quota of 3 was full; the cut-off score in biomedicine was 90.00, "
    "this application scored 85.00"
)

#: Every shape the system writes (applications, workflows, designation, selection), as it writes it, with
#: the Chinese it must read as and the figures it must keep.
CASES = [
    ("created", "创建申请", []),
    ("submitted by the firm", "企业已提交", []),
    ("not eligible: see the verdict's explanation", "不符合条件：详见审核结论的说明", []),
    ("eligible; sent to review", "符合条件，已送评审", []),
    ("eligible under zjcx v3: 500000.00 yuan", "符合政策", ["zjcx", "3", "500000.00"]),
    ("not eligible under zjcx v3: 0 yuan", "不符合政策", ["zjcx", "3", "0"]),
    ("approved at the panel; 1000.00 yuan reserved", "已预留", ["approved at the panel", "1000.00"]),
    ("approved by review; 150000.00 yuan reserved", "评审通过；已预留 150,000.00 元", []),
    ("ranked 3; 80000.00 yuan reserved", "排名第 3 位；已预留", ["80000.00"]),
    ("pro rata at 0.750000; 37500.00 yuan reserved", "按比例分配（系数 0.750000）", ["37500.00"]),
    ("pool pool-2026-ai cannot cover 250000.00 yuan now", "目前不足以支付", ["pool-2026-ai", "250000.00"]),
    ("grant", "已授予资助", []),
    ("award 01JD8ZKQ4 of 250000.00 yuan", "资助", ["01JD8ZKQ4", "250000.00"]),
    ("tranche 2 paid", "第 2 期已支付", []),
    ("tranche 2 paid; all tranches paid", "第 2 期已支付；各期均已支付", []),
    ("milestone 2 missed: no prototype by June", "里程碑未达成", ["2", "no prototype by June"]),
    (
        f"designated: {SELECTED}; start-up grant of 50000.00 yuan reserved",
        "已预留开办奖励",
        ["50000.00", "88.25"],
    ),
    (f"designated: {SELECTED}; no start-up grant (the call has no grant)", "本批次未设开办奖励", ["88.25"]),
    (f"designated: {SELECTED}; no start-up grant (capital_min)", "无开办奖励", ["capital_min"]),
    (SELECTED, "入选", ["2", "5", "88.25"]),
    (
        f"{SECTOR_CUTOFF}; on the biomedicine reserve list, position 2",
        "候补名单第 2 位",
        ["3", "90.00", "85.00"],
    ),
    ("the call has no quota for sector trade", "领域名额", []),
    ("score 40.00 is below the call's minimum 60", "低于本次最低分", ["40.00", "60"]),
    (SECTOR_CUTOFF, "该领域入选最低分", ["3", "90.00", "85.00"]),
    (
        "the total quota of 10 was full; the overall cut-off score was 77.5, this application scored 70",
        "总名额",
        ["10", "77.5", "70"],
    ),
    ("the quota of 2 for district pudong was full", "名额", ["2"]),
    (
        "the budget ran out: its grant of 50000.00 yuan did not fit the 20000.00 yuan left",
        "预算不足",
        ["50000.00", "20000.00"],
    ),
    (
        "not in the highest-scoring combination that fits the quotas and the budget "
        "(taking it would lower the total score)",
        "最高总分组合",
        [],
    ),
    ("not eligible: see the verdict", "见审核结论", []),
    ("not eligible: Registered in Shanghai 〔Art. 2〕", "不符合认定条件", ["Registered in Shanghai"]),
    (PROMOTED, "递补", ["1", "4", "81.50", "上海青图智能科技有限公司", USCC, "moved to Suzhou"]),
    (f"designated: {PROMOTED}; start-up grant of 50000.00 yuan reserved", "企业退出", [USCC, "50000.00"]),
    ("withdrew: moved to Suzhou", "企业退出", ["moved to Suzhou"]),
    ("lost a condition: no longer registered in Shanghai", "不再符合条件", []),
]

#: English the system writes that must not be left on a zh page (the officer's own words aside).
SYSTEM_ENGLISH = re.compile(
    r"submitted by|eligible|sent to review|yuan|reserved|cannot cover|tranche|paid|milestone|missed|"
    r"designated|start-up|\bgrant\b|\baward\b|selected|\brank\b|score|quota|budget|reserve list|promoted|"
    r"withdrew|lost a condition|cut-off|combination|approved by|ranked \d|pro rata"
)


#: An amount the system wrote (``150000.00 yuan``): pages show it grouped to the fen, as they show money.
AMOUNT = re.compile(r"(\d+(?:\.\d+)?) yuan")


def grouped(stored: str) -> str:
    """``stored`` with its amounts as a page shows them (``150,000.00 yuan``)."""
    return AMOUNT.sub(lambda m: f"{Decimal(m.group(1)):,.2f} yuan", stored)


def amounts_grouped(stored: str, shown: str) -> None:
    for amount in AMOUNT.findall(stored):
        assert f"{Decimal(amount):,.2f}" in shown, (amount, shown)


@pytest.fixture
def zh() -> Iterator[None]:
    i18n.set_language("zh")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


@pytest.mark.parametrize(("stored", "chinese", "kept"), CASES, ids=[c[0][:40] for c in CASES])
def test_every_system_reason_reads_in_chinese_with_its_figures(
    zh: None, stored: str, chinese: str, kept: list[str]
) -> None:
    shown = reasons.reason_shown(stored)
    assert chinese in shown, shown
    figures = shown.replace(",", "")  # amounts are grouped (below)
    for figure in kept:
        assert figure in figures, (figure, shown)
    for figure in re.findall(r"\d+(?:\.\d+)?", stored):
        assert figure in figures, (figure, shown)
    amounts_grouped(stored, shown)
    residue = shown
    for typed in kept:
        residue = residue.replace(typed, "")
    assert not SYSTEM_ENGLISH.search(residue), shown


def test_every_shape_of_the_table_is_exercised(monkeypatch: pytest.MonkeyPatch) -> None:
    used: set[str] = set()

    def recording(msgid: str) -> str:
        used.add(msgid)
        return msgid

    monkeypatch.setattr(reasons, "gettext", recording)
    monkeypatch.setattr(reasons, "language", lambda: "coverage")  # a cache key of its own
    for stored, _, _ in CASES:
        reasons.reason_shown(stored)
    assert {msgid for _, msgid, _ in reasons.SHAPES} <= used


def test_sector_keys_are_shown_with_their_labels(zh: None) -> None:
    shown = reasons.reason_shown(SELECTED)
    assert "artificial_intelligence" not in shown
    assert i18n.gettext("artificial_intelligence") in shown


@pytest.mark.parametrize(
    "typed",
    [
        "The firm asked to withdraw; letter of 3 May",
        "duplicate application",
        "资料不全，退回补充",
        "grant denied",
        "tranche paid",
        "",
    ],
)
def test_what_an_officer_typed_is_kept_verbatim(zh: None, typed: str) -> None:
    assert reasons.reason_shown(typed) == typed


@given(st.text(max_size=80))
def test_unknown_text_is_never_changed_and_never_fails(text: str) -> None:
    i18n.set_language("zh")
    try:
        shown = reasons.reason_shown(text)
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)
    if not any(p.fullmatch(text) for p, _, _ in reasons.SHAPES) and "; " not in text:
        assert shown == text


@pytest.mark.parametrize(("stored", "chinese", "kept"), CASES[:12])
def test_english_pages_keep_the_english(stored: str, chinese: str, kept: list[str]) -> None:
    i18n.set_language("en")
    try:
        shown = reasons.reason_shown(stored)
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)
    assert chinese not in shown
    renamed = {"created": "application created", "grant": "grant awarded"}
    assert shown == grouped(renamed.get(stored, stored))


def test_a_paid_application_history_reads_in_chinese_on_its_page(sqlite_web: Web) -> None:
    """Checked, approved, granted and paid through the API: every reason the workflows wrote is a known
    shape, and the zh page shows them in Chinese (the en page as stored)."""
    app_id = sqlite_web.ids["app_own"]
    history = sqlite_web.bearer("officer").get(f"/api/v1/applications/{app_id}").json()["history"]
    stored = [h["reason"] for h in history]
    assert len(stored) >= 6 and "tranche 1 paid; all tranches paid" in stored, stored
    assert all(h["reason_code"] and h["reason_code"] != TEXT for h in history), history
    officer = sqlite_web.client("officer")
    officer.cookies.set("huiqi_lang", "zh")
    zh = html.unescape(officer.get(f"/applications/{app_id}").text)
    i18n.set_language("zh")
    try:
        for reason in stored:
            shown = reasons.reason_shown(reason)
            assert shown != reason and not SYSTEM_ENGLISH.search(shown), (reason, shown)
            assert shown in zh, shown
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)
    assert "第 1 期已支付；各期均已支付" in zh
    officer.cookies.set("huiqi_lang", "en")
    en = html.unescape(officer.get(f"/applications/{app_id}").text)
    assert "tranche 1 paid; all tranches paid" in en and "submitted by the firm" in en


# --- reasons stored as codes with their data (migration 0012) ---------------------------------------------

#: One reason of every code the system writes, with the figures and typed words its page must keep.
SELECTED_R = Reason.of(
    "selected", sector="artificial_intelligence", sector_rank=2, rank=5, score="88.25", amount="50000.00"
)
CUTOFF_R = Reason.of("sector_cutoff", sector="biomedicine", quota=3, cutoff="90.00", score="85.00")
WITHDREW_R = Reason.of("withdrew", reason="moved to Suzhou")
FAILED = [
    {
        "id": "registered",
        "label": {"en": "registered in Shanghai", "zh": "在本市注册"},
        "gap": {"en": ["registration city: Suzhou, needs Shanghai"], "zh": ["注册地：苏州，应为上海"]},
    },
    {
        "id": "has-claimable-contract",
        "label": {"en": "a model-use contract", "zh": "有模型应用合同"},
        "gap": {},
    },
]
CODED: list[tuple[Reason, list[str]]] = [
    (Reason.of("created"), []),
    (Reason.of("submitted"), []),
    (Reason.of("eligible_under", programme="zjcx", version="3", amount="500000.00"), ["zjcx", "500000.00"]),
    (Reason.of("not_eligible_under", programme="zjcx", version="3", amount="0"), ["zjcx"]),
    (Reason.of(NOT_ELIGIBLE, programme="zjcx", version="3", failed=FAILED), []),
    (Reason.of("sent_to_review"), []),
    (Reason.of("pool_short", pool="pool-2026-ai", amount="250000.00"), ["pool-2026-ai", "250000.00"]),
    (Reason.of("grant"), []),
    (Reason.of("awarded", award="01JD8ZKQ4", amount="250000.00"), ["01JD8ZKQ4", "250000.00"]),
    (Reason.of("tranche_paid", seq=2), []),
    (Reason.of("all_paid"), []),
    (Reason.of("milestone_missed", seq=2, reason="no prototype by June"), ["no prototype by June"]),
    (Reason.of("designated_grant", why=SELECTED_R, amount="50000.00"), ["50000.00", "88.25"]),
    (Reason.of("designated_no_grant", why=SELECTED_R, unmet=Reason.of(NO_GRANT_IN_CALL)), ["88.25"]),
    (Reason.of("designated_no_grant", why=SELECTED_R, unmet=["capital_min"]), ["capital_min"]),
    (Reason.of(NO_GRANT_IN_CALL), []),
    (Reason.of("approved_by_review"), []),
    (Reason.of("ranked", rank=3), []),
    (Reason.of("pro_rata", ratio="0.750000"), []),
    (Reason.of("money_released"), []),
    (Reason.of("reserved", reason=Reason.of("ranked", rank=3), amount="80000.00"), ["80000.00"]),
    (
        Reason.of("reserved", reason=Reason.typed("approved at the panel"), amount="1000.00"),
        ["approved at the panel"],
    ),
    (Reason.joined(CUTOFF_R, Reason.of("on_reserve_list", sector="biomedicine", seq=2)), ["90.00", "85.00"]),
    (Reason.of("on_reserve_list", sector="biomedicine", seq=2), []),
    (SELECTED_R, ["88.25"]),
    (Reason.of("no_quota", sector="trade"), []),
    (Reason.of("below_min_score", score="40.00", minimum="60"), ["40.00", "60"]),
    (CUTOFF_R, ["90.00", "85.00"]),
    (Reason.of("total_cutoff", quota=10, cutoff="77.5", score="70"), ["77.5", "70"]),
    (Reason.of("district_quota", quota=2, district="Yangpu"), ["2"]),
    (Reason.of("budget", amount="50000.00", remaining="20000.00"), ["50000.00", "20000.00"]),
    (Reason.of("combination", score="70"), []),
    (
        Reason.of(
            "promoted",
            seq=1,
            sector="artificial_intelligence",
            sector_rank=4,
            score="81.50",
            name="上海青图智能科技有限公司",
            uscc=USCC,
            why=WITHDREW_R,
        ),
        ["81.50", USCC, "上海青图智能科技有限公司", "moved to Suzhou"],
    ),
    (WITHDREW_R, ["moved to Suzhou"]),
    (
        Reason.of("lost_condition", reason="no longer registered in Shanghai"),
        ["no longer registered in Shanghai"],
    ),
    (
        Reason.typed("The firm asked to withdraw; letter of 3 May"),
        ["The firm asked to withdraw; letter of 3 May"],
    ),
    (Reason.joined(Reason.of("tranche_paid", seq=2), Reason.of("all_paid")), []),
]


def _render(reason: Reason, lang: str) -> str:
    i18n.set_language(lang)
    try:
        return reasons.reason_shown(Event(reason.text, reason.code, reason.to_json()["args"]))
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)


@dataclass(frozen=True)
class Event:
    """A history event as the pages get it (``app.calls.EventView``'s reason fields)."""

    reason: str
    reason_code: str | None
    reason_args: dict[str, Any] | None


def test_the_table_has_every_code() -> None:
    def codes_in(r: Reason) -> set[str]:
        found = {r.code}
        for value in r.args.values():
            if isinstance(value, dict) and "code" in value:
                found |= codes_in(Reason.from_json(value))
        for part in r.args.get("parts", []):
            found |= codes_in(Reason.from_json(part))
        return found

    assert set().union(*(codes_in(r) for r, _ in CODED)) == set(rendering.CODES)


@pytest.mark.parametrize(("reason", "kept"), CODED, ids=[f"{i}-{r.code}" for i, (r, _) in enumerate(CODED)])
def test_every_code_renders_in_chinese_and_english(reason: Reason, kept: list[str]) -> None:
    zh, en = _render(reason, "zh"), _render(reason, "en")
    for figure in [*kept, *re.findall(r"\d+(?:\.\d+)?", reason.text)]:
        assert figure in zh.replace(",", "") and figure in en.replace(",", ""), (figure, zh, en)
    amounts_grouped(reason.text, zh)
    amounts_grouped(reason.text, en)
    residue = zh
    for typed in kept:
        residue = residue.replace(typed, "")
    assert not SYSTEM_ENGLISH.search(residue) and not re.search(r"[a-z]{4,}", residue.replace(USCC, "")), zh
    if reason.code != TEXT:
        assert zh != en


@pytest.mark.parametrize(("reason", "kept"), CODED, ids=[f"{i}-{r.code}" for i, (r, _) in enumerate(CODED)])
def test_the_cli_english_is_the_words_the_system_wrote(reason: Reason, kept: list[str]) -> None:
    """The CLI shows the same renderer's English with no catalogue: the stored words, keys as stored, but
    a failed condition by its label and gap (and two shapes reworded for pages)."""
    del kept
    cli = rendering.render(reason.code, reason.args)
    if reason.code == NOT_ELIGIBLE:
        assert cli.startswith("not eligible: registered in Shanghai (gap: registration city: Suzhou"), cli
    elif reason.code in ("created", "grant"):
        assert cli == rendering.MSGIDS[reason.code]
    else:
        assert cli == reason.text


@pytest.mark.parametrize("msgid", sorted(set(rendering.MSGIDS.values()) | {rendering.CONDITION_WITH_GAP}))
def test_every_message_of_the_renderer_has_its_chinese(msgid: str) -> None:
    assert i18n.catalogue("zh").gettext(msgid) != msgid


@pytest.mark.parametrize(("reason", "kept"), CODED, ids=[f"{i}-{r.code}" for i, (r, _) in enumerate(CODED)])
def test_a_coded_reason_reads_as_its_words_did(reason: Reason, kept: list[str]) -> None:
    """Rows stored before the codes are read from their words: both ways give the same Chinese, so a
    history mixing old and new rows reads alike (the failed conditions aside: their words never had them)."""
    del kept
    if reason.code in (NOT_ELIGIBLE, "money_released"):
        return
    assert _render(Reason.typed(reason.text), "zh") == reason.text  # typed words are never translated
    i18n.set_language("zh")
    try:
        from_words = reasons.reason_shown(reason.text)
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)
    if reason.code == TEXT:
        assert from_words == reason.text
    else:
        assert from_words == _render(reason, "zh")


def test_every_shape_the_system_wrote_has_its_code() -> None:
    """Each shape of words the system wrote before codes is a code now (with the same msgid), except the
    selection's own reason for an ineligible firm, which is not an application history's, and the "not
    eligible" words, which a code now shows with the failed conditions."""
    before = {msgid for _, msgid, _ in reasons.SHAPES}
    assert before - set(rendering.MSGIDS.values()) == {
        "not eligible: %(failed)s",
        "not eligible: see the verdict",
        "not eligible: see the verdict's explanation",
    }
    assert rendering.render(NOT_ELIGIBLE, {}) == "not eligible: see the verdict's explanation"


def test_the_failed_conditions_show_their_plain_labels_and_gaps() -> None:
    reason = Reason.of(NOT_ELIGIBLE, programme="p", version="1", failed=FAILED)
    zh, en = _render(reason, "zh"), _render(reason, "en")
    assert zh == "不符合条件：在本市注册（差距：注册地：苏州，应为上海）；有模型应用合同"
    assert en == (
        "not eligible: registered in Shanghai (gap: registration city: Suzhou, needs Shanghai); "
        "a model-use contract"
    )
    assert reason.text == "not eligible: see the verdict's explanation"
    none_failed = Reason.of(NOT_ELIGIBLE, programme="p", version="1", failed=[])
    assert _render(none_failed, "zh") == "不符合条件：详见审核结论的说明"


def test_a_formula_gap_is_shown_in_words() -> None:
    formula = 'any(c.kind == "model_use" for c in firm.contracts): does not hold'
    failed = [{"id": "x", "label": {"en": "a contract"}, "gap": {"en": [formula]}}]
    en = _render(Reason.of(NOT_ELIGIBLE, programme="p", version="1", failed=failed), "en")
    assert "firm.contracts" not in en and "no contract in the profile meets this condition" in en


def test_a_firm_sees_its_failed_condition_in_chinese_on_its_page(sqlite_web: Web) -> None:
    """A firm registered outside Shanghai applies and is checked: the rejection in its history names the
    condition by its Chinese label on a zh page (its English label on an en page), never the system's
    English, and the stored words and the audit chain are as before codes."""
    officer = sqlite_web.bearer("officer")
    data = firm_json(FIRM_A)
    data["registration_city"] = "Suzhou"
    assert officer.put(f"/api/v1/firms/{FIRM_A}", json=data).status_code == 200
    r = officer.post(
        "/api/v1/applications",
        json={
            "call_id": "call",
            "firm_uscc": FIRM_A,
            "claims": [{"contract_id": "HT-2025-0902", "amount": "1.00"}],
        },
    )
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    r = officer.post(f"/api/v1/applications/{app_id}/check")
    assert r.status_code == 200 and r.json()["state"] == "rejected", r.text
    last = officer.get(f"/api/v1/applications/{app_id}").json()["history"][-1]
    assert last["reason"] == "not eligible: see the verdict's explanation"
    assert last["reason_code"] == NOT_ELIGIBLE
    assert [f["id"] for f in last["reason_args"]["failed"]] == ["registered"]
    firm = sqlite_web.client("firm_member")
    firm.cookies.set("huiqi_lang", "zh")
    zh = html.unescape(firm.get(f"/applications/{app_id}").text)
    rows = re.findall(r"<tr><td>\d+</td>.*?</tr>", zh)
    rejected = next(row for row in rows if "不符合条件：" in row and "在本市注册" in row)
    assert not SYSTEM_ENGLISH.search(rejected) and "registered" not in rejected, rejected
    firm.cookies.set("huiqi_lang", "en")
    en = html.unescape(firm.get(f"/applications/{app_id}").text)
    assert "not eligible: registered in Shanghai" in en
    assert "firm.registration_city" not in zh + en
    from huiqi.app import audit

    store = sqlite_web.app.state.huiqi.store
    links = audit.audit_log(store, entity=f"application:{app_id}").items
    assert next(x for x in links if x.action == "to_rejected").payload["reason"] == last["reason"]
    assert audit.verify_chain(store).ok


def test_a_selection_decision_is_shown_from_its_code() -> None:
    """The selection page's reserve and left-out lists: the decision's history reason through the renderer
    (the sector by its label, not its key), a decision kept without one in the page's language as written."""
    run = CUTOFF_R.to_json()
    decision = {
        "code": "sector_cutoff",
        "en": CUTOFF_R.text,
        "zh": "biomedicine领域名额3个已满",
        "history": run,
    }
    i18n.set_language("zh")
    try:
        zh = reasons.reason_shown(decision)
        assert zh == _render(CUTOFF_R, "zh") and "biomedicine" not in zh and "90.00" in zh
        assert (
            reasons.reason_shown({"en": "not eligible: x", "zh": "不符合认定条件：甲"})
            == "不符合认定条件：甲"
        )
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)
    assert reasons.reason_shown(decision) == _render(CUTOFF_R, i18n.DEFAULT_LANGUAGE)
