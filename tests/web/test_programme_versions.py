"""Versions by date through the API and the CLI (issue 15). The regression: uploading next year's model
voucher (2026.1 from 2027-01-01) made 2025.1 vanish from today's calculator and the open call on 2025.1
refuse to check its applications (409 "version 2026.1 is in force here"). Now both versions are served, the
calculator answers with the one in force on the date asked, and the call keeps its version."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.rules.loader import bundled_pack_dir

from .conftest import EXAMPLE, Web

RUNNER = CliRunner()
MODEL = "shanghai.ai.model-voucher"
MODEL_FILE = bundled_pack_dir("shanghai") / "ai-model-voucher.programme.yaml"
BOUNDARY = dt.date(2027, 1, 1)


def next_year(*, version: str = "2026.1", effective: str = "{from: 2027-01-01}") -> str:
    """The bundled model voucher as another version: the rate is 30%, not 50%."""
    text = MODEL_FILE.read_text(encoding="utf-8")
    assert 'version: "2025.1"' in text and "effective: {from: 2025-07-28}" in text
    return (
        text.replace('version: "2025.1"', f'version: "{version}"', 1)
        .replace("effective: {from: 2025-07-28}", f"effective: {effective}", 1)
        .replace("value: 50%}", "value: 30%}", 1)
    )


def firm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def model_result(answer: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in answer["results"] if r["programme"] == MODEL)


def calculator(web: Web, on: dt.date | None) -> dict[str, Any]:
    body: dict[str, Any] = {"firm": firm(), "lang": "en"}
    if on is not None:
        body["on"] = on.isoformat()
    r = web.client().post("/api/v1/calculator", json=body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def test_uploading_next_years_version_keeps_today_and_the_open_call(sqlite_web: Web) -> None:
    officer = sqlite_web.bearer("officer")
    admin = sqlite_web.bearer("admin")
    before = calculator(sqlite_web, None)
    assert model_result(before)["version"] == "2025.1"

    up = admin.post("/api/v1/programmes", json={"filename": "model-2026.yaml", "text": next_year()})
    assert up.status_code == 201, up.text
    assert up.json()["version"] == "2026.1" and up.json()["previous_version"] == "2025.1"

    today = calculator(sqlite_web, None)
    assert today["scope"] == before["scope"]  # no programme disappeared ("1 of 6 programmes")
    assert [(r["programme"], r["version"]) for r in today["results"]] == [
        (r["programme"], r["version"]) for r in before["results"]
    ]
    assert model_result(today)["amount"] == model_result(before)["amount"]

    checked = officer.post(f"/api/v1/applications/{sqlite_web.ids['open_own']}/check")
    assert checked.status_code == 200, checked.text
    app_view = officer.get(f"/api/v1/applications/{sqlite_web.ids['open_own']}").json()
    assert app_view["verdict"]["programme_version"] == "2025.1"


def test_the_calculator_on_each_side_of_the_boundary(sqlite_web: Web, tmp_path: Path) -> None:
    admin = sqlite_web.bearer("admin")
    assert (
        admin.post("/api/v1/programmes", json={"filename": "m.yaml", "text": next_year()}).status_code == 201
    )
    last_day = model_result(calculator(sqlite_web, BOUNDARY - dt.timedelta(days=1)))
    first_day = model_result(calculator(sqlite_web, BOUNDARY))
    assert (last_day["version"], first_day["version"]) == ("2025.1", "2026.1")
    assert last_day["eligible"] and first_day["eligible"]
    # 30% instead of 50% of the same contracts
    assert float(first_day["amount"]) * 5 == float(last_day["amount"]) * 3

    # the CLI's calculator, on a pack folder holding both versions
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "model-2025.programme.yaml").write_text(MODEL_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    (pack / "model-2026.programme.yaml").write_text(next_year(), encoding="utf-8")
    for day, version, amount in (
        (BOUNDARY - dt.timedelta(days=1), "2025.1", last_day["amount"]),
        (BOUNDARY, "2026.1", first_day["amount"]),
    ):
        out = RUNNER.invoke(
            app,
            ["check", str(EXAMPLE), "--pack", str(pack), "--on", day.isoformat(), "--format", "json"],
        )
        assert out.exit_code == 0, out.output
        (result,) = json.loads(out.stdout)["results"]
        assert (result["version"], result["amount"]) == (version, amount)


def test_every_version_is_listed_with_its_period_and_shown_by_choice(sqlite_web: Web, tmp_path: Path) -> None:
    officer = sqlite_web.bearer("officer")
    admin = sqlite_web.bearer("admin")
    assert (
        admin.post("/api/v1/programmes", json={"filename": "m.yaml", "text": next_year()}).status_code == 201
    )
    listed = [p for p in officer.get("/api/v1/programmes").json() if p["id"] == MODEL]
    assert [(p["version"], p["effective_from"], p["effective_to"], p["status"]) for p in listed] == [
        ("2025.1", "2025-07-28", "2026-12-31", "in-force"),
        ("2026.1", "2027-01-01", None, "upcoming"),
    ]
    shown = officer.get(f"/api/v1/programmes/{MODEL}").json()
    assert shown["version"] == "2025.1"
    assert [v["version"] for v in shown["versions"]] == ["2025.1", "2026.1"]
    assert officer.get(f"/api/v1/programmes/{MODEL}?version=2026.1").json()["version"] == "2026.1"
    assert officer.get(f"/api/v1/programmes/{MODEL}?on=2027-03-01").json()["version"] == "2026.1"
    assert officer.get(f"/api/v1/programmes/{MODEL}?version=2099.1").status_code == 404
    page = sqlite_web.client().get(f"/programmes/{MODEL}?version=2026.1")
    assert page.status_code == 200 and "2026.1" in page.text and "2025-07-28" in page.text

    # the CLI lists and shows the same versions of a pack folder
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "a.programme.yaml").write_text(MODEL_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    (pack / "b.programme.yaml").write_text(next_year(), encoding="utf-8")
    out = RUNNER.invoke(app, ["programmes", "list", "--pack", str(pack), "--format", "json"])
    assert out.exit_code == 0, out.output
    cli_rows = json.loads(out.stdout)
    assert [(r["version"], r["effective_to"]) for r in cli_rows] == [
        ("2025.1", "2026-12-31"),
        ("2026.1", None),
    ]
    text = RUNNER.invoke(app, ["programmes", "list", "--pack", str(pack)]).stdout
    assert "2025-07-28 – 2026-12-31" in text and "upcoming" in text
    shown_cli = RUNNER.invoke(app, ["programmes", "show", MODEL, "--pack", str(pack), "--version", "2026.1"])
    assert shown_cli.exit_code == 0 and "[shanghai.ai.model-voucher 2026.1]" in shown_cli.stdout
    assert "versions: 2025.1 2025-07-28 – 2026-12-31; 2026.1 2027-01-01 – …" in shown_cli.stdout


def test_an_overlapping_version_is_refused_with_its_position(sqlite_web: Web) -> None:
    officer = sqlite_web.bearer("officer")
    admin = sqlite_web.bearer("admin")
    ok = next_year(effective="{from: 2027-01-01, to: 2027-12-31}")
    assert admin.post("/api/v1/programmes", json={"filename": "a.yaml", "text": ok}).status_code == 201
    clash = next_year(version="2027.1", effective="{from: 2027-06-01}")
    line = next(i for i, ln in enumerate(clash.splitlines(), 1) if ln.startswith("effective:"))
    checked = officer.post("/api/v1/programmes/validate", json={"filename": "clash.yaml", "text": clash})
    assert checked.status_code == 422 and f"clash.yaml:{line}:" in checked.text, checked.text
    refused = admin.post("/api/v1/programmes", json={"filename": "clash.programme.yaml", "text": clash})
    assert refused.status_code == 422, refused.text
    assert f"clash.programme.yaml:{line}:" in refused.text and "overlaps version 2026.1" in refused.text
    # nothing changed: the two versions loaded before are still the only ones
    versions = [p["version"] for p in officer.get("/api/v1/programmes").json() if p["id"] == MODEL]
    assert versions == ["2025.1", "2026.1"]
    files = sorted(p.name for p in sqlite_web.settings.programmes_dir.iterdir())
    assert files == ["shanghai.ai.model-voucher.programme.yaml"]


def test_the_officers_page_and_the_cli_load_next_years_version_beside_this_years(sqlite_web: Web) -> None:
    page = sqlite_web.client("admin").post(
        "/officer/programmes/load",
        files={"file": ("model-2026.programme.yaml", next_year().encode("utf-8"), "application/x-yaml")},
    )
    assert page.status_code == 200, page.text
    listing = sqlite_web.client("officer").get("/officer/programmes").text
    assert "2025.1" in listing and "2026.1" in listing and "2027-01-01" in listing
    assert model_result(calculator(sqlite_web, None))["version"] == "2025.1"


def test_the_cli_loads_an_upcoming_version_and_lists_it_beside_the_current_one(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from huiqi.config import get_settings

    monkeypatch.setenv("HUIQI_DATABASE_URL", f"sqlite:///{tmp_path / 'huiqi.db'}")
    monkeypatch.setenv("HUIQI_PROGRAMMES_DIR", str(tmp_path / "programmes"))
    get_settings.cache_clear()
    try:
        path = tmp_path / "model-2026.programme.yaml"
        path.write_text(next_year(), encoding="utf-8")
        loaded = RUNNER.invoke(app, ["programmes", "load", str(path)])
        assert loaded.exit_code == 0, loaded.output
        assert f"{MODEL} version 2026.1 is loaded, in force from 2027-01-01, following version 2025.1" in (
            loaded.stdout
        )
        rows = json.loads(RUNNER.invoke(app, ["programmes", "list", "--format", "json"]).stdout)
        assert [(r["version"], r["status"]) for r in rows if r["id"] == MODEL] == [
            ("2025.1", "in-force"),
            ("2026.1", "upcoming"),
        ]
        shown = RUNNER.invoke(app, ["programmes", "show", MODEL, "--on", "2027-02-01", "--format", "json"])
        assert json.loads(shown.stdout)["version"] == "2026.1"
    finally:
        get_settings.cache_clear()


def test_an_officer_alone_cannot_put_a_file_in_force(sqlite_web: Web) -> None:
    """Two people publish (issue 15): the direct load is the admin's bootstrap, an officer writes a draft."""
    officer = sqlite_web.bearer("officer")
    refused = officer.post("/api/v1/programmes", json={"filename": "m.yaml", "text": next_year()})
    assert refused.status_code == 403, refused.text
    page = sqlite_web.client("officer").post(
        "/officer/programmes/load",
        files={"file": ("m.programme.yaml", next_year().encode("utf-8"), "application/x-yaml")},
    )
    assert page.status_code == 403
    versions = [p["version"] for p in officer.get("/api/v1/programmes").json() if p["id"] == MODEL]
    assert versions == ["2025.1"]
    offered = sqlite_web.client("officer").get("/officer/programmes").text
    assert "/officer/programmes/load" not in offered and "/officer/programmes/drafts/new" in offered
    assert "/officer/programmes/load" in sqlite_web.client("admin").get("/officer/programmes").text
