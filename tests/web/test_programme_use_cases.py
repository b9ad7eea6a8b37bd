"""The programme use cases from the CLI and the API alike: a new version loaded with ``huiqi programmes
load`` is what the site serves and is in the audit chain; the same version again is refused and changes
nothing; what the CLI lists and shows is what the API answers; validation refuses with file:line:column."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from huiqi.app.audit import audit_log
from huiqi.app.store import Store
from huiqi.cli.main import app
from huiqi.config import Settings, get_settings
from huiqi.rules.loader import bundled_pack_dir
from huiqi.web.app import create_app

from .conftest import Web

RUNNER = CliRunner()
GRANT = bundled_pack_dir("shanghai") / "hq-startup-grant.programme.yaml"


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    url = f"sqlite:///{tmp_path / 'huiqi.db'}"
    monkeypatch.setenv("HUIQI_DATABASE_URL", url)
    monkeypatch.setenv("HUIQI_PROGRAMMES_DIR", str(tmp_path / "programmes"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def new_version(tmp_path: Path, version: str) -> Path:
    text = GRANT.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("version:"))
    path = tmp_path / f"grant-{version}.programme.yaml"
    path.write_text(text.replace(old, f'version: "{version}"', 1), encoding="utf-8")
    return path


def test_a_version_loaded_from_the_cli_is_served_and_audited(site: Settings, tmp_path: Path) -> None:
    path = new_version(tmp_path, "2099.1")
    first = RUNNER.invoke(app, ["programmes", "load", str(path)])
    assert first.exit_code == 0, first.output
    assert "shanghai.hq.startup-grant version 2099.1 is now in force, replacing version" in first.stdout
    again = RUNNER.invoke(app, ["programmes", "load", str(path)])
    assert again.exit_code == 2 and "already in force" in again.stderr
    files = sorted(p.name for p in site.programmes_dir.iterdir())
    assert files == ["shanghai.hq.startup-grant.programme.yaml"]

    web = TestClient(create_app(site))
    shown = web.get("/api/v1/programmes/shanghai.hq.startup-grant").json()
    assert shown["version"] == "2099.1"
    store = Store.open(site.database_url)
    try:
        records = [r for r in audit_log(store, entity="programme:shanghai.hq.startup-grant").items]
    finally:
        store.close()
    assert len(records) == 1 and records[0].payload["version"] == "2099.1"


def test_the_cli_lists_and_shows_what_the_api_answers(sqlite_web: Web) -> None:
    web = sqlite_web.bearer("officer")
    for lang in ("en", "zh"):
        listed = json.loads(
            RUNNER.invoke(app, ["programmes", "list", "--format", "json", "--lang", lang]).stdout
        )
        assert listed == web.get(f"/api/v1/programmes?lang={lang}").json()
        pid = listed[0]["id"]
        cli_doc = RUNNER.invoke(app, ["programmes", "show", pid, "--format", "json", "--lang", lang])
        assert json.loads(cli_doc.stdout) == web.get(f"/api/v1/programmes/{pid}?lang={lang}").json()
    tests = web.get("/api/v1/programme-tests").json()
    cli = RUNNER.invoke(app, ["programmes", "test"])
    assert cli.exit_code == 0 and f"{tests['passed']} passed, {tests['failed']} failed" in cli.stdout


def test_validation_refuses_alike_from_the_cli_and_the_api(sqlite_web: Web, tmp_path: Path) -> None:
    bad = tmp_path / "bad.programme.yaml"
    bad.write_text(GRANT.read_text(encoding="utf-8").replace("firm.paid_in_capital", "firm.paid_capital", 1))
    cli = RUNNER.invoke(app, ["programmes", "validate", str(bad)])
    assert cli.exit_code == 2 and "no field 'paid_capital'" in cli.stderr
    web = sqlite_web.bearer("officer")
    api = web.post("/api/v1/programmes/validate", json={"filename": bad.name, "text": bad.read_text()})
    assert api.status_code == 422 and "no field 'paid_capital'" in api.text
    line = next(ln for ln in cli.stderr.splitlines() if "paid_capital" in ln)
    assert ":" in line.split(str(bad), 1)[1][:8]  # file:line:column
