"""The policy sandbox and the city comparison, once for the CLI, the API and the pages: simulate a reform
(a reform file and/or ``--set`` overrides, combined and applied in one place) over a register, with cost,
gainers and losers, breakdowns, pool sufficiency, charts and a self-contained HTML report; compare a firm's
plan across the five cities.

A simulation started from the web runs as a background job (``start_simulation``, through
``app.jobs.start_job``; followed, read and its report downloaded with ``app.jobs``): the reform is checked
at once, so a refusal is answered with its positions, not by a failed job.

Issue 15 will have a programme's versions coexist by date: a reform then applies to the versions in force on
the simulated date, which the ``ProgrammeSource`` will choose; nothing here picks a version itself.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huiqi.accounts import service as accounts
from huiqi.app.jobs import JobOutcome, JobProgress, start_job
from huiqi.app.programmes import today
from huiqi.app.register import DB, nonempty_register
from huiqi.app.registry import ProgrammeSource
from huiqi.app.store import Store
from huiqi.firms import Firm
from huiqi.firms.register import RegisterError, read_register
from huiqi.matching.errors import EmptyRegister
from huiqi.rules.errors import Location, Problem
from huiqi.simulation.reform import (
    AppliedReform,
    ReformError,
    apply_reform,
    load_reform,
    parse_reform,
    parse_sets,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from huiqi.simulation.baseline import StoredBaseline
    from huiqi.simulation.run import Simulation

#: where the register is stored when it is not a directory
IN_DATABASE = DB
#: the steps of a simulation as its job reports them, and their messages (in English; pages translate)
SIMULATION_STEPS = ("reform", "simulate", "charts")
STEP_MESSAGES = {
    "reform": "reading the register",
    "simulate": "computing the baseline and the reform",
    "charts": "drawing the charts and the report",
}

#: ``progress(done, total, message)``, called as a simulation goes
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SimulationView:
    """A simulation's outcome: the result as the API answers it (cost and change, gainers and losers,
    breakdowns, pool sufficiency), the terminal's table, and the files written when asked for them."""

    result: dict[str, Any]
    text: str
    notes: tuple[str, ...]
    files: tuple[Path, ...]


@dataclass(frozen=True)
class CityComparisonView:
    """A firm's plan in five cities: the comparison as the API answers it (in one language), the profile
    compared (JSON), the terminal's table with and without the explanations (when asked for), the chart's
    SVG (when asked for), the files written."""

    comparison: dict[str, Any]
    profile: dict[str, Any]
    table: str
    text: str
    svg: str
    files: tuple[Path, ...]


# --- reforms -----------------------------------------------------------------------------------------------


def _prepare_reform(
    programmes: ProgrammeSource,
    *,
    file: Path | None = None,
    text: str = "",
    source: str = "reform.yaml",
    sets: Sequence[str] = (),
    on: dt.date | None = None,
) -> AppliedReform:
    """A reform (a file, or its text, and/or overrides, in that order) validated with positions and applied
    to the versions in force on the date (default today): quick, so that a refusal comes at once
    (``ReformError``)."""
    parts = []
    if file is not None:
        parts.append(load_reform(file))
    elif text.strip():
        parts.append(parse_reform(text, source=source))
    if sets:
        parts.append(parse_sets(list(sets)))
    if not parts:
        raise ReformError(
            [
                Problem(
                    Location("reform"),
                    "give a reform file or at least one override (programme.id.parameter=value)",
                )
            ]
        )
    combined = parts[0]
    for p in parts[1:]:
        combined = combined.combine(p)
    return apply_reform(programmes.programmes().on(on or today()), combined)


def _register_tables(store: Store | None, register: str) -> dict[str, pa.Table]:
    """The register's Arrow tables: a register directory, or (``db``) the register in the database."""
    if register == IN_DATABASE:
        if store is None:
            raise RegisterError("the register in the database needs a database", why="needs_database")
        return nonempty_register(store, register=DB)
    tables = read_register(register)
    if tables["firms"].num_rows == 0:
        raise EmptyRegister()
    return tables


def _stored_baseline(
    applied: AppliedReform,
    tables: dict[str, pa.Table],
    day: dt.date,
    baseline_file: Path,
    notes: list[str],
) -> StoredBaseline | None:
    """The baseline in a results file if it passes every check (and the spot check); else None and a note
    why."""
    from huiqi.simulation.baseline import BaselineRefused, from_parquet, spot_check
    from huiqi.simulation.run import joint_programmes

    _, _, mates = joint_programmes(applied)
    try:
        found = from_parquet(baseline_file, applied.baseline, tables, day, sorted(applied.affected), mates)
        spot_check(found, applied.baseline, tables, day)
    except BaselineRefused as exc:
        notes.append(f"stored baseline not used: {exc}; computing baseline and reform")
        return None
    notes.append(f"baseline read from {found.source}; only the reform is computed")
    return found


def _report_names(applied: AppliedReform, lang: str) -> dict[str, str]:
    """Programme and pool names by id in ``lang``, for the report (a simulation keeps them in English)."""
    names: dict[str, str] = {}
    for p in applied.programmes.values():
        names[p.id] = p.spec.name.get(lang)
        if p.spec.pool is not None:
            names[p.spec.pool.id] = p.spec.pool.name.get(lang)
    return names


def _write_report(sim: Simulation, out: Path, lang: str, names: Mapping[str, str]) -> tuple[Path, ...]:
    """Charts (PNG, SVG), report.html and simulation.json in ``out``; charts and report in ``lang``."""
    from huiqi.reports.charts import simulation_charts
    from huiqi.reports.html import simulation_html

    charts = simulation_charts(sim, out, lang, names)
    (out / "report.html").write_text(simulation_html(sim, charts, lang=lang, names=names), encoding="utf-8")
    (out / "simulation.json").write_text(
        json.dumps(sim.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return (out / "report.html", out / "simulation.json")


def simulate_reform(
    store: Store | None,
    *,
    programmes: ProgrammeSource,
    register: str,
    reform_file: Path | None = None,
    reform: str = "",
    source: str = "reform.yaml",
    sets: Sequence[str] = (),
    on: dt.date | None = None,
    baseline_file: Path | None = None,
    out: Path | None = None,
    lang: str = "en",
) -> SimulationView:
    """Baseline and reform over a register (a directory, or ``db`` with the store), so an officer knows
    what a change would cost and whom it moves before proposing it. The baseline of the affected
    programmes is read from ``baseline_file`` (``huiqi match --out`` of this register and date) when
    given and it fits (``notes`` says which). The text report, the charts and report.html are in ``lang``."""
    from huiqi.reports.text import render_simulation
    from huiqi.simulation.run import simulate

    applied = _prepare_reform(programmes, file=reform_file, text=reform, source=source, sets=sets, on=on)
    day = on or today()
    tables = _register_tables(store, register)
    notes: list[str] = []
    found = _stored_baseline(applied, tables, day, baseline_file, notes) if baseline_file else None
    sim = simulate(applied, tables, day, baseline=found)
    files = _write_report(sim, out, lang, _report_names(applied, lang)) if out is not None else ()
    return SimulationView(sim.to_json(), render_simulation(sim, lang=lang), tuple(notes), files)


def _simulate_job(
    store: Store,
    applied: AppliedReform,
    register: str,
    on: dt.date | None,
    lang: str,
    progress: JobProgress,
) -> JobOutcome:
    """Baseline and reform over the register, the charts and the self-contained HTML report in ``lang``
    (the officer's); the result keeps the charts' SVG for the page."""
    from huiqi.reports.charts import simulation_charts
    from huiqi.reports.html import simulation_html
    from huiqi.simulation.run import simulate

    steps = SIMULATION_STEPS
    progress(0, len(steps), STEP_MESSAGES["reform"])
    tables = _register_tables(store, register)
    progress(1, len(steps), STEP_MESSAGES["simulate"])
    sim = simulate(applied, tables, on or today())
    progress(2, len(steps), STEP_MESSAGES["charts"])
    with tempfile.TemporaryDirectory(prefix="huiqi-sandbox-") as tmp:
        names = _report_names(applied, lang)
        charts = simulation_charts(sim, Path(tmp), lang, names)
        html = simulation_html(sim, charts, lang=lang, names=names)
        svgs = [{"title": c.title, "svg": c.svg_text()} for c in charts]
    progress(3, len(steps), STEP_MESSAGES["charts"])
    result = {"id": progress.job_id, **sim.to_json(), "charts": svgs}
    return JobOutcome(result, result_id=progress.job_id, report=html)


def start_simulation(
    store: Store,
    *,
    programmes: ProgrammeSource,
    register: str,
    reform: str = "",
    sets: Sequence[str] = (),
    on: dt.date | None = None,
    source: str = "reform.yaml",
    actor: str,
    lang: str = "en",
) -> str:
    """Check the reform now and simulate it in the background, so the officer's page stays responsive
    while a large register is computed; the job's id (also the simulation's). The downloadable report is
    written in ``lang`` (en or zh), the language of the officer who started it."""
    applied = _prepare_reform(programmes, text=reform, source=source, sets=sets, on=on)
    params = {
        "reform": reform,
        "sets": list(sets),
        "on": on.isoformat() if on else None,
        "source": source,
        "lang": lang,
    }
    return start_job(
        store,
        kind="simulation",
        created_by=actor,
        work=lambda progress: _simulate_job(store, applied, register, on, lang, progress),
        params=params,
        total=len(SIMULATION_STEPS),
    )


# --- the five cities ---------------------------------------------------------------------------------------


def compare_cities(
    store: Store | None,
    *,
    programmes: ProgrammeSource,
    firm: Firm | None = None,
    uscc: str | None = None,
    on: dt.date | None = None,
    lang: str = "en",
    out: Path | None = None,
    chart: bool = False,
    text: bool = True,
) -> CityComparisonView:
    """Subsidies, net cost and explanations of a firm's plan (its contracts and offices) in Shanghai,
    Beijing, Shenzhen, Hangzhou and Chengdu side by side, so a firm can weigh where to settle. The firm is
    a profile, or the stored profile of ``uscc`` (with the store); ``out`` writes the chart and a page,
    ``chart`` keeps the chart's SVG, ``text`` renders the terminal's tables."""
    from huiqi.reports.charts import city_chart
    from huiqi.reports.html import cities_html
    from huiqi.simulation.cities import compare_cities as run
    from huiqi.simulation.cities import render_comparison

    if firm is None:
        if store is None or uscc is None:
            raise ValueError("compare_cities: give a firm profile or the uscc of a stored one")
        wanted = uscc
        firm = store.read(lambda s: accounts.get_firm_profile(session=s, uscc=wanted))
    day = on or today()
    comp = run(firm, day, programmes.programmes().on(day))
    files: tuple[Path, ...] = ()
    svg = ""
    if out is not None:
        drawn = city_chart(comp, out, lang)
        (out / "cities.html").write_text(cities_html(comp, drawn, lang=lang), encoding="utf-8")
        files = (out / "cities.png", out / "cities.svg", out / "cities.html")
        svg = drawn.svg_text() if chart else ""
    elif chart:
        with tempfile.TemporaryDirectory(prefix="huiqi-cities-") as tmp:
            svg = city_chart(comp, Path(tmp), lang).svg_text()
    return CityComparisonView(
        comparison=comp.to_json(lang),
        profile=firm.model_dump(mode="json"),
        table=render_comparison(comp, lang=lang, explanations=False) if text else "",
        text=render_comparison(comp, lang=lang, explanations=True) if text else "",
        svg=svg,
        files=files,
    )
