"""A real server and a real browser: ``huiqi demo --no-serve`` prepares a migrated SQLite database (the
Shanghai pack, a matched synthetic register, a pool, an open call with synthetic applications, demo users),
uvicorn serves it on a free loopback port, and Playwright drives Debian's Chromium (/usr/bin/chromium, never a
downloaded browser) through it. Every journey saves screenshots to ``test-output/screenshots``.

Chromium missing: the tests skip with the reason, or fail when CI is set (CI must run them)."""

from __future__ import annotations

import gettext
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = Path(os.environ.get("HUIQI_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO = [sys.executable, "-m", "huiqi.cli.main", "demo"]
UVICORN = [sys.executable, "-m", "uvicorn", "huiqi.web.asgi:app"]
EXAMPLE = ROOT / "src/huiqi/firms/examples/small-ai-firm.json"
#: The firm the journeys act for: the small AI firm example (eligible for the model voucher) under this code.
FIRM = "91310115MA1K3BTP2B"
FIRM_USER, FIRM_PASSWORD = "firm_a", "firm-a journey password"
#: The browser's language for each page language a journey runs in (its Accept-Language picks the page's).
LOCALES = {"zh": "zh-CN", "en": "en-GB"}
CATALOGUE = ROOT / "src/huiqi/web/translations"
HAN = re.compile(r"[\u4e00-\u9fff]")


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must run the browser tests (python3 dev.py test installs chromium)")
    pytest.skip(message + "; set CI=1 to make this a failure")


@dataclass
class Server:
    url: str
    directory: Path
    passwords: dict[str, str]
    firm_uscc: str
    call_id: str
    log: Path
    ids: dict[str, str] = field(default_factory=dict)

    @contextmanager
    def api(self, user: str) -> Iterator[httpx.Client]:
        """An API client logged in as ``user`` (bearer token: no cookie, no CSRF)."""
        with httpx.Client(base_url=self.url, timeout=30) as c:
            r = c.post("/api/v1/auth/login", json={"username": user, "password": self.passwords[user]})
            assert r.status_code == 200, r.text
            c.cookies.clear()
            c.headers["Authorization"] = f"Bearer {r.json()['token']}"
            yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def firm_profile() -> dict[str, Any]:
    """The small AI firm example under FIRM, with two more unclaimed model-use contracts."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["uscc"] = FIRM
    base = next(c for c in data["contracts"] if c["kind"] == "model_use")
    for cid in ("HT-2025-0903", "HT-2025-0904"):
        data["contracts"].append({**base, "id": cid})
    return data


def wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url + "/api/v1/programmes", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not answer within 60 s:\n{log.read_text(errors='replace')}")


def demo_site(directory: Path, *, firms: int, applications: int) -> tuple[dict[str, str], str]:
    """Run ``huiqi demo --no-serve`` into ``directory`` as a person would: the accounts' passwords it
    prints, and the id of the call it opened."""
    demo = subprocess.run(
        [
            *DEMO,
            "--no-serve",
            "--dir",
            str(directory),
            "--firms",
            str(firms),
            "--applications",
            str(applications),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    passwords = dict(
        re.findall(r"^  (officer|checker|auditor|reviewer|admin|firm)\s+(\S+)", demo.stdout, re.M)
    )
    assert set(passwords) == {"officer", "checker", "auditor", "reviewer", "admin", "firm"}, demo.stdout
    call_id = re.search(r"call (\S+) open", demo.stdout)
    assert call_id, demo.stdout
    return passwords, call_id.group(1)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("browser-demo")
    passwords, call_id = demo_site(directory, firms=800, applications=10)
    with serve(directory) as url:
        srv = Server(url, directory, passwords, FIRM, call_id, directory / "server.log")
        with srv.api("officer") as officer:
            r = officer.put(f"/api/v1/firms/{FIRM}", json=firm_profile())
            assert r.status_code == 200, r.text
        with srv.api("admin") as admin:
            r = admin.post(
                "/api/v1/users",
                json={
                    "username": FIRM_USER,
                    "password": FIRM_PASSWORD,
                    "role": "firm_member",
                    "display_name": "Shanghai small AI firm",
                    "firm_uscc": FIRM,
                },
            )
            assert r.status_code == 201, r.text
        srv.passwords[FIRM_USER] = FIRM_PASSWORD
        yield srv


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """uvicorn serving the database ``directory/huiqi.db`` on a free loopback port; yields the base URL."""
    env = {
        **os.environ,
        "HUIQI_DATABASE_URL": f"sqlite:///{directory / 'huiqi.db'}",
        "HUIQI_EVIDENCE_DIR": str(directory / "evidence"),
        "HUIQI_PROGRAMMES_DIR": str(directory / "programmes"),
        "HUIQI_REGISTER_DIR": str(directory / "register"),
    }
    if not (directory / "register").is_dir():
        del env["HUIQI_REGISTER_DIR"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = directory / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*UVICORN, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=directory,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(proc, url, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e .[dev])")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Any, url: str, lang: str = "en") -> Any:
    """A page in a new browser context whose language is ``lang`` (zh-CN or en-GB), as a person's would be."""
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900}, locale=LOCALES[lang])
    context.set_default_timeout(15_000)
    return context.new_page()


def words(lang: str, msgid: str) -> str:
    """What a page in ``lang`` shows for the catalogue's ``msgid`` (up to its first placeholder), so that a
    journey asserts the language it runs in: on zh the compiled catalogue's Chinese, which must be Chinese."""
    if lang == "en":
        return msgid.split("%(")[0].strip()
    text = gettext.translation("messages", CATALOGUE, [lang]).gettext(msgid).split("%(")[0].strip()
    assert HAN.search(text), f"{msgid!r} has no Chinese in the zh catalogue"
    return text


@pytest.fixture
def page(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in en-GB, or in the language of the test's ``lang`` parameter; axe-core checks every page it
    visited when the test ends."""
    callspec = getattr(request.node, "callspec", None)
    pg = open_page(browser, server.url, callspec.params.get("lang", "en") if callspec else "en")
    context = pg.context
    errors: list[str] = []
    visited: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("load", lambda p: visited.append(p.url))
    violations: list[str] = []
    try:
        yield pg
        violations = accessibility_violations(pg, server.url, visited)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not violations, "axe-core: serious or critical violations\n" + "\n".join(violations)


@pytest.fixture(autouse=True)
def axe_on_contexts_a_test_opens(request: pytest.FixtureRequest) -> Iterator[None]:
    """A journey that opens its own browser contexts (several users at once) has their pages checked by
    axe-core too, as they are when the journey ends (the ``page`` fixture checks its own)."""
    if "browser" not in request.fixturenames:
        yield
        return
    b = request.getfixturevalue("browser")
    opened: list[tuple[Any, list[str]]] = []
    original = b.new_context

    def new_context(*args: Any, **kwargs: Any) -> Any:
        ctx = original(*args, **kwargs)
        visited: list[str] = []
        ctx.on("page", lambda p: p.on("load", lambda pg: visited.append(pg.url)))
        opened.append((ctx, visited))
        return ctx

    b.new_context = new_context
    try:
        yield
    finally:
        b.new_context = original
    violations = []
    for ctx, visited in opened:
        try:
            checker = ctx.new_page()
        except Exception:  # closed: the page fixture's own context, already checked
            continue
        violations += accessibility_violations(checker, "http://127.0.0.1:", visited)
    assert not violations, "axe-core: serious or critical violations\n" + "\n".join(violations)


#: Addresses that are files, not pages.
DOWNLOADS = re.compile(r"\.(csv|pdf|json|xlsx|svg|png)$|/evidence/|/static/|/api/")


def accessibility_violations(page: Any, base: str, visited: list[str]) -> list[str]:
    """axe-core (WCAG 2.1 AA rules) on every page a journey visited, each address once, seen again as the
    journey left it: the serious and critical violations, one line each."""
    found = []
    for url in dict.fromkeys(visited):
        if not url.startswith(base) or DOWNLOADS.search(url.split("?")[0]):
            continue
        page.goto(url)
        page.wait_for_load_state()
        found += [f"{url}: {v}" for v in axe_violations(page)]
    return found


def axe_violations(page: Any) -> list[str]:
    """The serious and critical WCAG 2.1 A/AA violations axe-core finds on the page as it is."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    result = Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]})
    return [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])}x) {v['help']}: "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def shot(page: Any, journey: str, step: str) -> Path:
    """Save the whole page as test-output/screenshots/<journey>-<step>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{journey}-{step}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page: Any, server: Server, user: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", server.passwords[user])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()
