"""Chinese and English: the committed .mo is the compiled .po, every string the templates and the web code
mark for translation has a Chinese translation, placeholders survive translation, and the language switch
(``/lang/zh``, the cookie, ``?lang=``, Accept-Language) renders the pages in the language chosen."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from web.conftest import Web

WEB = Path(__file__).resolve().parents[2] / "src/huiqi/web"
PO = WEB / "translations/zh/LC_MESSAGES/messages.po"
MO = WEB / "translations/zh/LC_MESSAGES/messages.mo"
METHODS = [
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
]
OPTIONS = {
    "**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
}


def _catalogue() -> dict[str, str]:
    with PO.open("rb") as f:
        po = read_po(f, locale="zh")
    return {str(m.id): str(m.string) for m in po if m.id and not m.fuzzy}


def test_the_committed_mo_is_the_compiled_po() -> None:
    with MO.open("rb") as f:
        mo = read_mo(f)
    compiled = {str(m.id): str(m.string) for m in mo if m.id}
    assert compiled == _catalogue(), (
        "run `pybabel compile -d src/huiqi/web/translations -l zh` and commit the .mo"
    )


def test_every_marked_string_is_translated_into_chinese() -> None:
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = {
        str(msg[2])
        for msg in extract_from_dir(str(WEB), METHODS, OPTIONS, keywords=keywords)
        if isinstance(msg[2], str)
    }
    assert len(found) > 300
    zh = _catalogue()
    missing = sorted(m for m in found if not zh.get(m))
    assert not missing, f"untranslated in zh (run the update described in src/huiqi/web/babel.cfg): {missing}"
    for msgid, text in zh.items():
        assert set(re.findall(r"%\(\w+\)s", msgid)) == set(re.findall(r"%\(\w+\)s", text)), msgid
        assert re.search(r"[\u4e00-\u9fff/]", text) or msgid in ("huiqi",), (msgid, text)


def test_the_language_switch_renders_the_chosen_language(sqlite_web: Web) -> None:
    anon = sqlite_web.client(None)
    assert "政策计算器" in anon.get("/calculator").text  # the default is Chinese
    r = anon.get("/lang/en?next=/compare")
    assert r.status_code in (302, 303, 307) and r.headers["location"] == "/compare"
    page = anon.get("/compare").text
    assert "Compare five cities" in page and "五城政策比较" not in page
    page = anon.get("/certificates/verify?lang=zh").text
    assert '<html lang="zh-CN">' in page and "证书核验" in page and "Verify a certificate" not in page
    fresh = sqlite_web.client(None)
    assert "Policy calculator" in fresh.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    officer = sqlite_web.client("officer")
    for path in ("/officer/matching", "/officer/sandbox", "/officer/selection", "/officer/selection/call"):
        zh = officer.get(path + "?lang=zh")
        assert zh.status_code == 200, (path, zh.text[:300])
        assert "资金池" in zh.text or "遴选" in zh.text or "政策" in zh.text, path
    reviewer = sqlite_web.client("reviewer")
    assert "我的评审任务" in reviewer.get("/review?lang=zh").text
    member = sqlite_web.client("firm_member")
    own = member.get("/home", follow_redirects=True)
    assert "“您符合条件”消息" in own.text


#: Text in templates not marked for translation on purpose: names, formats, identifiers ("v" of v2025.1,
#: the "award:" prefix of audit entities).
NOT_WORDS = {"huiqi", "English", "CSV", "JSON", "sha256", "B", "v", "award"}


def test_templates_have_no_unmarked_english() -> None:
    """Visible text outside ``{{ _(...) }}`` would stay English on a Chinese page."""
    found: list[str] = []
    for path in sorted((WEB / "templates").glob("*.html")):
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", path.read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
        visible = re.findall(r'(?:placeholder|title|aria-label|alt)="([^"]*)"', text)
        visible += re.sub(r"<[^>]*>", "\n", text).split("\n")
        for chunk in visible:
            words = set(re.findall(r"[A-Za-z_][A-Za-z_.=0-9-]*", chunk))
            words = {w for w in words if w not in NOT_WORDS and not re.search(r"[._=]", w)}
            if words:
                found.append(f"{path.name}: {chunk.strip()!r}")
    assert not found, found


EN_PO = WEB / "translations/en/LC_MESSAGES/messages.po"
EN_MO = WEB / "translations/en/LC_MESSAGES/messages.mo"


def test_stored_keys_have_a_label_in_both_languages() -> None:
    """Roles, sectors, statuses and kinds are msgids: Chinese in zh, an English label in en."""
    import typing

    from huiqi.accounts.models import Role
    from huiqi.firms.profile import ContractKind, Sector
    from huiqi.selection.service import COLUMNS
    from huiqi.web import labels
    from huiqi.web.i18n import ROLE_NAMES

    assert set(labels.SECTORS) == {s.value for s in Sector}
    assert set(labels.CONTRACT_KINDS) == set(typing.get_args(ContractKind))
    assert set(ROLE_NAMES) == {r.value for r in Role}
    assert tuple(labels.DESIGNATED_COLUMNS) == tuple(COLUMNS["en"])
    with EN_PO.open("rb") as f:
        po = [m for m in read_po(f, locale="en") if m.id]
    assert not [m.id for m in po if m.fuzzy], "clear the fuzzy guesses `pybabel update` made in en"
    en = {str(m.id): str(m.string) for m in po if m.string}
    with EN_MO.open("rb") as f:
        assert {str(m.id): str(m.string) for m in read_mo(f) if m.id} == en, "compile the en catalogue too"
    zh = _catalogue()
    keys = (*ROLE_NAMES, *labels.SECTORS, *labels.STATUSES, *labels.CONTRACT_KINDS, *labels.ALLOCATION_MODES)
    for key in (*keys, *labels.DESIGNATED_COLUMNS):
        assert en.get(key) and "_" not in en[key], key
        assert re.search(r"[\u4e00-\u9fff]", zh.get(key, "")), key


def test_pages_show_labels_not_keys(sqlite_web: Web) -> None:
    from dbfixtures import FIRM_A

    member = sqlite_web.client("firm_member")
    page = member.get(f"/firms/{FIRM_A}?lang=en").text
    head = page.split("<h2>", 1)[0]  # the header and the firm's line (the profile below is the raw JSON)
    assert "(firm member)</span>" in head and "(firm_member)" not in head  # the user is called firm_member
    assert "artificial intelligence" in head and "artificial_intelligence" not in head
    zh = member.get(f"/firms/{FIRM_A}?lang=zh").text.split("<h2>", 1)[0]
    assert "人工智能" in zh and "企业用户" in zh
    apply = member.get(f"/firms/{FIRM_A}/apply?lang=en").text
    assert "model use" in apply and ">model_use<" not in apply
    officer = sqlite_web.client("officer")
    award = officer.get(f"/applications/{sqlite_web.ids['app_own']}?lang=en").text
    assert re.search(r"paid [\d,.]+ yuan · (active|completed)</p>", award), award
    assert "<td>paid</td>" in award or "<td>to be paid</td>" in award
    calls = officer.get("/officer/calls?lang=en").text
    assert "first come, first served" in calls and "<td>fcfs</td>" not in calls
    assert "先到先得" in officer.get("/officer/calls?lang=zh").text
