"""Every page each demo role can reach, rendered in Chinese, shows labels, never a raw stored key
(``artificial_intelligence``, ``under_review``, ``fcfs``, ``model_use``...): the demo is prepared
(``huiqi demo --no-serve``), each of its users logs in, and the test follows every same-site link from the
user's home page and the navigation, as a person clicking around would."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import typing
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from huiqi.accounts.models import Role
from huiqi.applications.models import AllocationMode, ApplicationEvent, State
from huiqi.config import Settings
from huiqi.firms.profile import ContractKind, Sector
from huiqi.ledger.plan import AwardStatus, ReservationStatus, TrancheStatus
from huiqi.review.models import AssignmentStatus
from huiqi.selection.models import Outcome
from huiqi.web.app import create_app

DEMO = [sys.executable, "-m", "huiqi.cli.main", "demo"]
ROLES = ("officer", "reviewer", "auditor", "admin", "firm")
#: Pages per role at most (the crawl is breadth-first from the home page, so the main pages come first).
LIMIT = 60
LINK = re.compile(r'href="(/[^"#]*)"')
SKIP = ("/static/", "/lang/", "/api/", "/docs", "/openapi", "/redoc")
#: Downloads, not pages.
FILES = re.compile(r"\.(csv|pdf|json|xlsx|svg|png|html)$|/evidence/|/download")


def raw_keys() -> set[str]:
    """The stored keys a page must translate: sectors, allocation modes, application, award, tranche,
    reservation and assignment states, selection outcomes, contract kinds, the firm member's role."""
    keys: set[str] = {s.value for s in Sector}
    keys |= {m.value for m in AllocationMode} | {s.value for s in State}
    keys |= {r.value for r in Role if "_" in r.value}  # the demo's user names are the other role names
    keys |= set(typing.get_args(ContractKind))
    for enum in (AwardStatus, ReservationStatus, TrancheStatus, AssignmentStatus, Outcome):
        keys |= {e.value for e in enum}
    return {k for k in keys if len(k) > 2}


def text_nodes(page: str) -> list[str]:
    """What a reader sees, node by node: no tags, attributes, scripts, styles or raw documents (pre,
    textarea, code)."""
    page = re.sub(r"<(script|style|pre|textarea|code)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return [" ".join(html.unescape(n).split()) for n in re.split(r"<[^>]+>", page)]


#: A rule's expression as a read figure's label: ``any(c.kind == "model_use" for c in firm.contracts)``.
FORMULA = re.compile(r"==|\bfor \w+ in\b")


def word(key: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.\-/]){re.escape(key)}(?![\w.\-/])")


def find_raw(page: str, keys: set[str]) -> list[str]:
    """The keys ``page`` shows raw, each with the text around it: a key with an underscore anywhere in the
    text; a one-word key (``approved``, ``fcfs``) where it is all of a text node or of a list of keys
    (English prose, such as a programme's untranslated note, may say "approved")."""
    found: dict[str, str] = {}
    for node in text_nodes(page):
        if FORMULA.search(node):
            continue  # a rule's formula (another part of issue 14: firms should see labels, never formulas)
        items = [i for i in re.split(r"\s*[,，、·]\s*", node.strip(" :：()（）")) if i]
        if items and all(i in keys for i in items):
            found.update((i, node) for i in items if i not in found)
        for k in keys:
            if "_" in k and k not in found and (m := word(k).search(node)):
                found[k] = node[max(m.start() - 30, 0) : m.end() + 30]
    return [f"{k} [{around}]" for k, around in sorted(found.items())]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("zh-demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIQI_")}
    out = subprocess.run(
        [*DEMO, "--no-serve", "--dir", str(directory), "--firms", "300", "--applications", "6"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=directory,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    passwords = dict(re.findall(r"^  (officer|auditor|reviewer|admin|firm)\s+(\S+)", out.stdout, re.M))
    assert set(passwords) == set(ROLES), out.stdout
    register = directory / "register"
    yield (
        Settings(
            database_url=f"sqlite:///{directory / 'huiqi.db'}",
            evidence_dir=directory / "evidence",
            programmes_dir=directory / "programmes",
            register_dir=register if register.is_dir() else None,
        ),
        passwords,
    )


def crawl(client: TestClient, start: str) -> dict[str, str]:
    """Every same-site page reachable by links from ``start`` (up to LIMIT), by address: its zh HTML."""
    seen: dict[str, str] = {}
    queue = [start]
    while queue and len(seen) < LIMIT:
        url = queue.pop(0)
        if url in seen or url.startswith(SKIP) or FILES.search(url.split("?")[0]):
            continue
        r = client.get(url, follow_redirects=True)
        if "text/html" not in r.headers.get("content-type", ""):
            continue
        assert r.status_code < 500, (url, r.text[:500])
        seen[url] = r.text
        queue += [html.unescape(h) for h in LINK.findall(r.text)]
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_a_raw_key_in_chinese(demo: tuple[Settings, dict[str, str]], role: str) -> None:
    settings, passwords = demo
    app = create_app(settings, pool_size=2)
    keys = raw_keys()
    try:
        with TestClient(app) as client:
            client.cookies.set("huiqi_lang", "zh")
            r = client.post("/api/v1/auth/login", json={"username": role, "password": passwords[role]})
            assert r.status_code == 200, r.text
            pages = crawl(client, "/home")
            assert len(pages) >= 3, list(pages)
            found = {url: raw for url, page in pages.items() if (raw := find_raw(page, keys))}
            assert not found, "\n".join(f"{url}: {', '.join(raw)}" for url, raw in found.items())
    finally:
        app.state.huiqi.store.close()


#: Three or more English words in a row (letters only): a sentence that has a Chinese text in the catalogue
#: or the programme file but was shown in English.
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'’-]+[A-Za-z]{2,}){3,}\b")
#: Not prose: the user's own name, code and data cells a person typed (history reasons, comments, file
#: names). Clause citations are checked: programme files give each clause in Chinese too.
NOT_PROSE = re.compile(
    r'<(span|div|td|p)\b[^>]*class="[^"]*\b(user|data|reason|comment)\b[^"]*"[^>]*>.*?</\1>', re.S
)


def find_english(page: str) -> list[str]:
    """English sentences a reader of a zh page sees (three English words or more in a row)."""
    page = NOT_PROSE.sub(" ", page)
    found = []
    for node in text_nodes(page):
        if FORMULA.search(node):
            continue
        found += [m.group(0) for m in ENGLISH.finditer(node)]
    return sorted(set(found))


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_an_english_sentence_in_chinese(
    demo: tuple[Settings, dict[str, str]], role: str
) -> None:
    """Every page a demo role reaches, in Chinese, shows no English sentence where a Chinese text exists
    (user data and code aside; clause citations included)."""
    settings, passwords = demo
    app = create_app(settings, pool_size=2)
    try:
        with TestClient(app) as client:
            client.cookies.set("huiqi_lang", "zh")
            r = client.post("/api/v1/auth/login", json={"username": role, "password": passwords[role]})
            assert r.status_code == 200, r.text
            pages = crawl(client, "/home") | crawl(client, "/calculator?example=small-ai-firm")
            found = {url: english for url, page in pages.items() if (english := find_english(page))}
            assert not found, "\n".join(f"{url}: {' | '.join(e[:4])}" for url, e in found.items())
    finally:
        app.state.huiqi.store.close()


def test_find_english_finds_sentences_and_english_clauses_but_not_names_or_formulas() -> None:
    assert find_english("<p>The profile was not saved</p>") == ["The profile was not saved"]
    assert find_english('<span class="clause">〔Scope: firms registered in Shanghai〕</span>') == [
        "firms registered in Shanghai"
    ]
    zh_clause = '<span class="clause">〔沪经信智〔2025〕489号 适用范围：在本市注册的企业〕</span>'
    assert find_english(zh_clause) == []
    assert find_english("<p>上海青图 · Shanghai AI</p><code>not shown at all here</code>") == []
    assert find_english('<li>any(c.kind == "model_use" for c in firm.contracts)</li>') == []


def test_find_raw_finds_keys_as_cells_lists_and_underscored_words() -> None:
    keys = {"under_review", "fcfs", "paid", "approved"}
    assert find_raw("<td>under_review</td><td>先到先得</td>", keys) == ["under_review [under_review]"]
    assert find_raw("<td>fcfs, paid</td>", keys) == ["fcfs [fcfs, paid]", "paid [fcfs, paid]"]
    assert find_raw("<p>状态：approved</p>", keys) == []  # a key inside a sentence is not a cell
    assert find_raw("<p>审核 (approved)</p><p>x</p>", keys) == []
    assert find_raw('<a href="/x?state=paid">已支付</a> shanghai.ai.fcfs-x approved suppliers', keys) == []
    assert find_raw("<span>状态 under_review 中</span><pre>fcfs</pre>", keys) == [
        "under_review [状态 under_review 中]"
    ]


#: What the system writes into a history in English (web/reasons.py shows it in the page's language).
SYSTEM_REASONS = re.compile(
    r"submitted by the firm|eligible under|sent to review|yuan reserved|cannot cover|tranche \d+ paid|"
    r"all tranches paid|designated: |start-up grant|selected: rank|reserve list"
)


@pytest.mark.slow
def test_an_application_history_reads_in_chinese(demo: tuple[Settings, dict[str, str]]) -> None:
    """The demo application with the longest history: every reason the system wrote reads in Chinese on
    the zh page, and as written on the en page."""
    settings, passwords = demo
    engine = create_engine(settings.database_url)
    with engine.connect() as db:
        app_id, events = db.execute(
            select(ApplicationEvent.application_id, func.count())
            .group_by(ApplicationEvent.application_id)
            .order_by(func.count().desc(), ApplicationEvent.application_id)
            .limit(1)
        ).one()
        stored = db.scalars(select(ApplicationEvent.reason).where(ApplicationEvent.application_id == app_id))
        stored_reasons = [r for r in stored if r]
    engine.dispose()
    assert events >= 3 and any(SYSTEM_REASONS.search(r) for r in stored_reasons), stored_reasons
    app = create_app(settings, pool_size=2)
    try:
        with TestClient(app) as client:
            login = {"username": "officer", "password": passwords["officer"]}
            r = client.post("/api/v1/auth/login", json=login)
            assert r.status_code == 200, r.text
            client.cookies.set("huiqi_lang", "zh")
            zh = " ".join(text_nodes(client.get(f"/applications/{app_id}").text))
            client.cookies.set("huiqi_lang", "en")
            en = " ".join(text_nodes(client.get(f"/applications/{app_id}").text))
    finally:
        app.state.huiqi.store.close()
    assert "企业已提交" in zh, zh[-1500:]
    assert not SYSTEM_REASONS.search(zh), SYSTEM_REASONS.findall(zh)
    assert "submitted by the firm" in en
    assert any(r in en for r in stored_reasons if r not in ("created", "grant"))
