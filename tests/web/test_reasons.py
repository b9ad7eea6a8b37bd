"""History reasons the system writes in English are shown in Chinese on zh pages (figures and ids kept), in
English on en pages, and a reason an officer typed is shown exactly as typed."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiqi.web import i18n, reasons
from web.conftest import Web

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
    ("approved by review; 150000.00 yuan reserved", "评审通过；已预留 150000.00 元", []),
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
    for figure in kept:
        assert figure in shown, (figure, shown)
    for figure in re.findall(r"\d+(?:\.\d+)?", stored):
        assert figure in shown, (figure, shown)
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
    assert shown == renamed.get(stored, stored)


def test_a_paid_application_history_reads_in_chinese_on_its_page(sqlite_web: Web) -> None:
    """Checked, approved, granted and paid through the API: every reason the workflows wrote is a known
    shape, and the zh page shows them in Chinese (the en page as stored)."""
    app_id = sqlite_web.ids["app_own"]
    history = sqlite_web.bearer("officer").get(f"/api/v1/applications/{app_id}").json()["history"]
    stored = [h["reason"] for h in history]
    assert len(stored) >= 6 and "tranche 1 paid; all tranches paid" in stored, stored
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
