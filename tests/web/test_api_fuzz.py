"""Every operation of the REST API fuzzed from the app's own OpenAPI with schemathesis (issue 8).

Each operation runs schemathesis-generated cases (valid and invalid data, the coverage phase's boundary
values and its explicit examples) as a role the authorization matrix allows, against a database with a pool,
an open call, applications in several states, paid awards and evidence. Path parameters are steered to the
real ids most of the time (a generated value stays among the choices), so the handlers run past
their 404s. Every schemathesis check runs on every answer
(the few exclusions are per route, with the reason). After any answer >= 400 the digest of every table (and
of the evidence and programme directories) must equal the one taken before the request: a refused request
writes nothing.

The budget: ``HUIQI_FUZZ_EXAMPLES`` generated cases per operation on SQLite (plus the coverage phase's),
``HUIQI_FUZZ_PG_EXAMPLES`` on PostgreSQL; deterministic under ``HYPOTHESIS_PROFILE=ci``."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.specs.openapi import checks as oa

from dbfixtures import FIRM_A, FIRM_B, Db, fresh_pg_database
from huiqi.accounts import service as accounts
from huiqi.accounts.models import Role
from huiqi.app.models import all_tables as load_all_models
from huiqi.config import Settings
from huiqi.db import make_engine, make_session_factory
from huiqi.db.migrate import upgrade
from huiqi.web.app import create_app
from huiqi.web.authz import MATRIX, Access
from web.conftest import SIGNING_SEED, Web, build, carry_to_payment

CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci" or bool(os.environ.get("CI"))
#: Generated cases per operation (the fuzzing phase); the coverage and examples phases add their own.
FUZZ_EXAMPLES = int(os.environ.get("HUIQI_FUZZ_EXAMPLES", "20"))


def _openapi_app() -> Any:
    """An app only for its OpenAPI document (no database is opened); cases go to the fixture's app."""
    tmp = Path(tempfile.gettempdir()) / "huiqi-fuzz-openapi-unused"
    return create_app(
        Settings(database_url=f"sqlite:///{tmp}/never.db", evidence_dir=tmp, programmes_dir=tmp)
    )


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "deterministic": CI, "max-examples": FUZZ_EXAMPLES},
        "phases": {"stateful": {"enabled": False}},
        # a money write without its Idempotency-Key is refused with 428 Precondition Required
        "checks": {
            "missing_required_header": {"expected-statuses": [400, 401, 403, 406, 415, 422, 428]},
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _openapi_app(), config=CONFIG).include(
    path_regex="^/api/v1/"
)

#: The PostgreSQL run is smaller: generated cases only (no coverage phase), a few per operation; the
#: SQLite run above is the thorough one, this one catches what only the other backend does differently.
PG_EXAMPLES = int(os.environ.get("HUIQI_FUZZ_PG_EXAMPLES", "6"))
PG_CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "deterministic": CI, "max-examples": PG_EXAMPLES},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": False}},
        "checks": {
            "missing_required_header": {"expected-statuses": [400, 401, 403, 406, 415, 422, 428]},
        },
    }
)
pg_schema = schemathesis.openapi.from_asgi("/openapi.json", _openapi_app(), config=PG_CONFIG).include(
    path_regex="^/api/v1/"
)

# --- the data, the roles -----------------------------------------------------------------------------------


@dataclass
class Fuzz:
    web: Web
    db: Db
    tokens: dict[str, str]
    #: path parameter -> real values the handlers can find
    real: dict[str, list[Any]] = field(default_factory=dict)
    last_digest: dict[str, str] | None = None

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}


def session_token(db: Db, username: str) -> str:
    """A session made directly (no password hash), for the bearer header."""
    with db.session() as s:
        user = accounts.get_user(session=s, username=username)
        login = accounts.start_session(session=s, user=user, previous_token=None)
        s.commit()
        return login.token


def role_for(access: Access) -> str | None:
    """Who fuzzes an operation: anonymous on public ones, the firm member where a firm member may act for
    their own firm, otherwise the first role the matrix allows in the order officer, admin, reviewer,
    auditor."""
    if access.public:
        return None
    if Role.FIRM_MEMBER in access.own:
        return "firm_member"
    for role, name in (
        (Role.OFFICER, "officer"),
        (Role.ADMIN, "admin"),
        (Role.REVIEWER, "reviewer"),
        (Role.AUDITOR, "auditor"),
    ):
        if role in access.roles:
            return name
    raise AssertionError(f"no role may use {access}")


def _real_ids(web: Web) -> dict[str, list[Any]]:
    i = web.ids
    return {
        # the applications with evidence at even positions, each paired with its evidence below
        "application_id": [i["app_own"], i["open_own"], i["app_other"], i["open_other"]],
        "uscc": [FIRM_A, FIRM_B],
        "call_id": ["call"],
        "pool_id": ["pool"],
        "award_id": [i["award_own"], i["award_other"]],
        "transaction_id": [i["txn_own"], i["txn_other"]],
        "sha256": [i["sha_own"], i["sha_other"]],  # of app_own and app_other
        "seq": [1],
        # a sacrificial user: setting a fuzz role's password would end its session
        "username": ["probe"],
        "programme_id": ["shanghai.ai.model-voucher", "beijing.ai.compute-voucher"],
        "kind": ["firm", "programme"],
    }


def _make(db: Db, tmp: Path) -> Fuzz:
    web = build(db, tmp)
    carry_to_payment(web)
    tokens = {r: session_token(db, r) for r in ("officer", "admin", "reviewer", "auditor", "firm_member")}
    return Fuzz(web, db, tokens, _real_ids(web))


@contextmanager
def fuzz_settings() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUIQI_CERTIFICATE_SIGNING_KEY", SIGNING_SEED)
        # the money rate limit stays on (its counting is part of what is checked) but far above the fuzzing
        mp.setenv("HUIQI_MONEY_RATE_LIMIT", "1000000")
        yield


def _served(url: str, tmp: Path) -> Iterator[Fuzz]:
    upgrade(url)
    engine = make_engine(url)
    try:
        f = _make(Db("fuzz", url, engine, make_session_factory(engine)), tmp)
        yield f
        settle()
        f.web.app.state.huiqi.store.close()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with fuzz_settings():
        yield from _served(f"sqlite:///{tmp / 'huiqi.db'}", tmp)


@pytest.fixture(scope="module")
def pg_fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    with fresh_pg_database("huiqi_fuzz", migrate=False) as url, fuzz_settings():
        yield from _served(url, tmp_path_factory.mktemp("pgfuzz"))


# --- steering path parameters to real ids ------------------------------------------------------------------

_REAL: dict[str, list[Any]] = {}


def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A real id for each parameter we have some for, or the generated value (a string stays a string, an
    integer an integer, so a valid case stays valid and an invalid one keeps what made it invalid)."""
    if not path_parameters:
        return st.just(path_parameters)
    choices: dict[str, st.SearchStrategy[Any]] = {}
    for name, value in path_parameters.items():
        real = [v for v in _REAL.get(name, []) if type(v) is type(value)]
        choices[name] = st.sampled_from([value, *real]) if real else st.just(value)
    independent = st.fixed_dictionaries(choices)
    if set(path_parameters) == {"application_id", "sha256"}:
        # evidence is found only under its own application: drawn apart, the two ids rarely meet
        apps, shas = _REAL.get("application_id", []), _REAL.get("sha256", [])
        pairs = [{"application_id": a, "sha256": h} for a, h in zip(apps[::2], shas, strict=False)]
        return st.one_of(independent, st.sampled_from(pairs)) if pairs else independent
    return independent


# a certificate is sent as the PDF itself: its bytes go as they are
schemathesis.serializer.alias("application/pdf", "application/octet-stream")


def settle(timeout: float = 60.0) -> None:
    """Wait for the background jobs (matches, simulations) earlier cases started: they write to the database
    from their own threads, which is not what the request being checked did."""
    for thread in threading.enumerate():
        if thread.name.startswith("huiqi-job"):
            thread.join(timeout)
            assert not thread.is_alive(), f"background job {thread.name} still running after {timeout} s"


schema.hook(flatmap_path_parameters)
pg_schema.hook(flatmap_path_parameters)

# --- the database digest -----------------------------------------------------------------------------------


@functools.cache
def digest_queries(dialect: sa.Dialect) -> tuple[tuple[str, str], ...]:
    """Each table's name and the SQL that reads its rows in primary-key order, written once a dialect."""
    queries = []
    for table in load_all_models().sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        queries.append((table.name, str(sa.select(table).order_by(*order).compile(dialect=dialect))))
    return tuple(queries)


def digest(db: Db, files: list[Path]) -> dict[str, str]:
    """Every table's rows in primary-key order, hashed (and the file stores' names and sizes). The rows are
    read through the driver as stored, without SQLAlchemy's statement building and type conversions: run
    before and after most cases, the digest was two thirds of the fuzzing's time."""
    out: dict[str, str] = {}
    with db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for name, sql in digest_queries(db.engine.dialect):
                cursor.execute(sql)
                out[name] = hashlib.sha256(repr(cursor.fetchall()).encode()).hexdigest()
        finally:
            cursor.close()
    for root in files:
        listing = (
            sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())
            if root.exists()
            else []
        )
        out[f"files:{root.name}"] = hashlib.sha256(repr(listing).encode()).hexdigest()
    return out


#: Tables a refused request may write, on purpose: a failed login is recorded (the login rate limit counts
#: failures), and every money write is counted before it is judged (the money rate limit counts attempts,
#: refused or not, so that hammering a money route is slowed down whatever it sends).
LOGIN_ATTEMPTS = frozenset({"login_attempts"})
RATE_EVENTS = frozenset({"rate_events"})


def writes_on_refusal(case: Case) -> frozenset[str]:
    op = case.operation
    if (op.method.upper(), op.path) == ("POST", "/api/v1/auth/login"):
        return LOGIN_ATTEMPTS
    headers = [p for p in op.definition.raw.get("parameters", []) if p.get("in") == "header"]
    if any(p["name"].lower() == "idempotency-key" for p in headers):
        return RATE_EVENTS
    return frozenset()


# --- checks ------------------------------------------------------------------------------------------------

Check = Callable[..., Any]
ALL_CHECKS: list[Check] = [
    oa.status_code_conformance,
    oa.content_type_conformance,
    oa.response_headers_conformance,
    oa.response_schema_conformance,
    oa.negative_data_rejection,
    oa.positive_data_acceptance,
    oa.missing_required_header,
    oa.unsupported_method,
]

API = "/api/v1"
_POSITIVE = [oa.positive_data_acceptance]

#: Checks left out for one operation, each with the reason. ``positive_data_acceptance`` expects every
#: schema-valid request to succeed (or 401/403/404/409); these routes take input whose validity no JSON
#: Schema can state, and answer 422 naming the field when the domain refuses it.
EXCLUDED: dict[tuple[str, str], list[Check]] = {
    # a firm member needs a firm's USCC and staff none; the password must not be a common one
    ("POST", f"{API}/users"): _POSITIVE,
    ("POST", f"{API}/users/{{username}}/password"): _POSITIVE,
    # a firm member needs a firm's USCC and staff none; the last active administrator keeps the role
    ("PUT", f"{API}/users/{{username}}/role"): _POSITIVE,
    # the text is a programme file (YAML), checked by the rules loader with file:line:column problems
    ("POST", f"{API}/programmes/validate"): _POSITIVE,
    ("POST", f"{API}/programmes"): _POSITIVE,
    ("POST", f"{API}/programme-drafts"): _POSITIVE,
    ("PUT", f"{API}/programme-drafts/{{draft_id}}"): _POSITIVE,
    # a firm profile: its schema is GET /api/v1/schema/firm, with check digits and cross-field rules
    ("POST", f"{API}/calculator"): _POSITIVE,
    ("PUT", f"{API}/firms/{{uscc}}"): _POSITIVE,
    ("POST", f"{API}/compare-cities"): _POSITIVE,
    # the window must close after it opens; the programme version must exist
    ("POST", f"{API}/calls"): _POSITIVE,
    # claims must name the firm's contracts; amounts are decimal text within the programme's cap
    ("POST", f"{API}/applications"): _POSITIVE,
    # the file's name and content must be an accepted kind (PDF, image, Office document)
    ("POST", f"{API}/applications/{{application_id}}/evidence"): _POSITIVE,
    # decimal text: a score, amounts, a tranche plan that must add up to the award
    ("POST", f"{API}/applications/{{application_id}}/score"): _POSITIVE,
    ("POST", f"{API}/applications/{{application_id}}/grant"): _POSITIVE,
    ("POST", f"{API}/applications/{{application_id}}/recoveries"): _POSITIVE,
    ("POST", f"{API}/applications/{{application_id}}/grant/preview"): _POSITIVE,
    ("POST", f"{API}/applications/{{application_id}}/recoveries/preview"): _POSITIVE,
    ("POST", f"{API}/pools"): _POSITIVE,
    # the target must be a state reachable without moving money
    ("POST", f"{API}/applications/{{application_id}}/transition"): _POSITIVE,
    # a reform file (YAML) or overrides in the programme.parameter=value language
    ("POST", f"{API}/simulations"): _POSITIVE,
    # a call file (YAML): rubric, quotas and budget, checked with line:column problems
    ("PUT", f"{API}/calls/{{call_id}}/call-file"): _POSITIVE,
    # a reviewer needs an id and a name that are not blank; fields must be known sectors
    ("POST", f"{API}/reviewers"): _POSITIVE,
    # scores must be on each rubric criterion's scale and step
    ("POST", f"{API}/reviews/{{application_id}}/scores"): _POSITIVE,
    # any bytes are a valid body, and any bytes are answered 200 with the verdict (not a certificate of
    # this site, altered, revoked or valid): schemathesis's "invalid" bodies are bytes all the same
    ("POST", f"{API}/certificates/verify"): [oa.positive_data_acceptance, oa.negative_data_rejection],
}


def checks_for(method: str, path: str) -> list[Check]:
    from schemathesis.checks import not_a_server_error

    excluded = EXCLUDED.get((method, path), [])
    return [not_a_server_error, *(c for c in ALL_CHECKS if c not in excluded)]


# --- the test ----------------------------------------------------------------------------------------------


@dataclass
class OpStats:
    cases: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)


#: Per operation ("METHOD /path"): cases run, time spent, statuses answered.
STATS: dict[str, OpStats] = {}
PG_STATS: dict[str, OpStats] = {}


def run_case(case: Case, fuzz: Fuzz, stats_of: dict[str, OpStats]) -> None:
    """One generated request as the operation's role; every check; a refusal must have written nothing."""
    _REAL.clear()
    _REAL.update(fuzz.real)
    # the operation's own method: the coverage phase also sends methods the path does not allow
    method, path = case.operation.method.upper(), case.operation.path
    role = role_for(MATRIX[(method, path)])
    if method == "POST" and path == "/api/v1/auth/logout":
        # logging out ends the session used: give this case a session of its own
        headers = {"Authorization": f"Bearer {session_token(fuzz.db, 'auditor')}"}
        fuzz.last_digest = None  # that session is a write of ours
    else:
        headers = fuzz.headers(role)
    files = [fuzz.web.settings.evidence_dir, fuzz.web.settings.programmes_dir]
    skip = writes_on_refusal(case)
    started = time.perf_counter()
    settle()
    # the digest after the previous case, when that case was refused and so checked to have written
    # nothing (only the app writes here, and its background jobs have settled); otherwise a fresh one
    before = fuzz.last_digest if fuzz.last_digest is not None else digest(fuzz.db, files)
    fuzz.last_digest = None
    response = case.call(headers=headers, app=fuzz.web.app)
    stats = stats_of.setdefault(f"{method} {path}", OpStats())
    stats.cases += 1
    stats.statuses[response.status_code] += 1
    case.validate_response(
        response, checks=checks_for(method, path), headers=headers, transport_kwargs={"app": fuzz.web.app}
    )
    if response.status_code >= 400:
        settle()
        after = digest(fuzz.db, files)
        changed = sorted(k for k in before if before[k] != after.get(k) and k not in skip)
        assert not changed, (
            f"{method} {case.formatted_path} answered {response.status_code} but changed {changed}: "
            f"{response.text[:300]}"
        )
        fuzz.last_digest = after if not any(before[k] != after.get(k) for k in skip) else None
    stats.seconds += time.perf_counter() - started


_FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=CI,
    database=None,
    suppress_health_check=list(HealthCheck),
)


#: Each fuzzing test's database fixture and the backend that names its items.
BACKENDS = {"test_api_fuzz": ("fuzz", "sqlite"), "test_api_fuzz_postgres": ("pg_fuzz", "postgresql")}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give every operation's item its own node id: ``test_api_fuzz[GET /api/v1/...][sqlite]``.

    schemathesis names an item by its operation (``test_api_fuzz[GET /api/v1/...]``), but pytest 9 builds
    the node id from the function's name and the parameters only, so all 91 items of a test had one id and
    pytest-xdist's loadfile and loadgroup schedulers, which key items by node id, kept one of them. A
    parametrized item's id is built from its full name: naming the backend (the database fixture, one value)
    is that parameter."""
    for test, (fixture, backend) in BACKENDS.items():
        if metafunc.definition.name == test and fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, [backend], indirect=True, ids=[backend])


@schema.parametrize()
@_FUZZ_SETTINGS
def test_api_fuzz(case: Case, fuzz: Fuzz) -> None:
    run_case(case, fuzz, STATS)


@pytest.mark.postgres
@pg_schema.parametrize()
@settings(_FUZZ_SETTINGS, max_examples=PG_EXAMPLES)
def test_api_fuzz_postgres(case: Case, pg_fuzz: Fuzz) -> None:
    run_case(case, pg_fuzz, PG_STATS)


def test_fuzz_summary(request: pytest.FixtureRequest) -> None:
    """Runs after the fuzzing (same module, later): every operation ran, and the steering to real ids got
    the handlers past their 404s (a run of 404s would prove nothing). Prints the figures."""
    module = request.node.nodeid.split("::")[0]
    fuzz_items = [i for i in request.session.items if i.nodeid.startswith(f"{module}::test_api_fuzz[")]
    operations = Counter(getattr(i, "operation_label", None) for i in fuzz_items)
    everything = {f"{method} {path}" for method, path in MATRIX_API}
    chosen = request.config.getoption("keyword") or request.config.getoption("markexpr")
    if not fuzz_items or (chosen and set(operations) < everything):
        pytest.skip("only part of the API was fuzzed in this run (-k, -m or node ids)")
    # every operation collected once, each under its own node id (pytest-xdist schedules by node id)
    assert set(operations) == everything, sorted(everything ^ set(operations))
    assert set(operations.values()) == {1}, [op for op, n in operations.items() if n > 1]
    assert len({i.nodeid for i in fuzz_items}) == len(fuzz_items), "two fuzzing items share a node id"
    # over several pytest-xdist workers under --dist load, each runs some operations (all cases of one
    # operation in one item, so in one worker) and those run here are checked here; under --dist loadfile
    # or loadscope this module's items all run in this worker, so every operation must have run here
    worker = getattr(request.config, "workerinput", None)  # set by tests/conftest.py's pytest_configure_node
    shared = worker is not None and worker.get("dist") not in ("loadfile", "loadscope")
    assert shared or set(STATS) == everything, f"not run: {sorted(everything - set(STATS))}"
    lines: list[str] = []
    for backend, stats_of in (("SQLite", STATS), ("PostgreSQL", PG_STATS)):
        if not stats_of:
            continue
        lines.append(f"{backend + ': operation':70} cases  seconds  statuses")
        for label, s in sorted(stats_of.items()):
            statuses = " ".join(f"{k}x{v}" for k, v in sorted(s.statuses.items()))
            lines.append(f"{label:70} {s.cases:5}  {s.seconds:7.2f}  {statuses}")
        total, spent = sum(s.cases for s in stats_of.values()), sum(s.seconds for s in stats_of.values())
        lines.append(f"{backend}: {len(stats_of)} operations, {total} cases, {spent:.1f} s")
    print("\n".join(lines))
    out = Path(str(request.config.rootpath)) / "test-output"
    out.mkdir(exist_ok=True)
    (out / "api-fuzz.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    succeeded = {label for label, s in STATS.items() if any(200 <= k < 300 for k in s.statuses)}
    missing = sorted((REACHED & set(STATS) if shared else REACHED) - succeeded)
    assert not missing, f"never answered 2xx (steering to real ids broken?): {missing}"


MATRIX_API = {k for k in MATRIX if k[1].startswith("/api/v1/")}

#: Operations on real ids that must have succeeded at least once during the fuzzing.
REACHED = {
    "GET /api/v1/applications/{application_id}",
    "GET /api/v1/awards/{award_id}",
    "GET /api/v1/firms/{uscc}",
    "GET /api/v1/calls/{call_id}",
    "GET /api/v1/pools/{pool_id}/statement",
    "GET /api/v1/applications/{application_id}/evidence/{sha256}",
    "GET /api/v1/programmes/{programme_id}",
}


def test_route_tables_name_real_routes() -> None:
    """The error and media tables of web/errors.py name routes of the app (a renamed route leaves no stale
    entry behind), and the document carries them."""
    from huiqi.web.errors import ROUTE_ERRORS, ROUTE_MEDIA

    stale = sorted((set(ROUTE_ERRORS) | set(ROUTE_MEDIA)) - MATRIX_API)
    assert not stale, f"not routes of the app: {stale}"
    paths = schema.raw_schema["paths"]
    for (method, path), statuses in ROUTE_ERRORS.items():
        documented = paths[path][method.lower()]["responses"]
        assert {str(s) for s in statuses} <= set(documented), (method, path)
        for s in statuses:
            assert "application/problem+json" in documented[str(s)]["content"], (method, path, s)


def test_the_digest_sees_a_row_written_or_changed_and_only_in_its_table(tmp_path: Path) -> None:
    """What a refusal is checked with: the digest changes with a row added or changed in any one table, and
    that table's entry only; the files' entries with a file written."""
    url = f"sqlite:///{tmp_path / 'huiqi.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        db = Db("digest", url, engine, make_session_factory(engine))
        files = [tmp_path / "evidence"]
        first = digest(db, files)
        assert digest(db, files) == first
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO login_attempts (id, key, at) VALUES ('a', 'officer', '2025-01-01 00:00:00')"
            )
        added = digest(db, files)
        assert [k for k in first if first[k] != added[k]] == ["login_attempts"]
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE login_attempts SET key = 'admin'")
        changed = digest(db, files)
        assert [k for k in first if added[k] != changed[k]] == ["login_attempts"]
        (tmp_path / "evidence").mkdir()
        (tmp_path / "evidence" / "a.pdf").write_bytes(b"%PDF-")
        assert [k for k in first if changed[k] != digest(db, files)[k]] == ["files:evidence"]
    finally:
        engine.dispose()
