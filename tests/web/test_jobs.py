"""Background jobs (huiqi.jobs) and the web's use of them: progress and failures recorded in the database, a
job left behind by a process that died shown as failed (interrupted), a match and a simulation started on
one app (worker) and followed, with their results, on another, and who may see a job."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from dbfixtures import Db
from huiqi.db.types import utcnow
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.jobs import service as jobs
from huiqi.jobs.models import FAILED, RUNNING, SUCCEEDED, Job
from huiqi.rules.errors import UnknownProgramme
from huiqi.web.app import create_app
from web.conftest import Web, build

ON = "2025-09-01"
SRC = Path(__file__).resolve().parents[2] / "src"


def follow(client: TestClient, started: httpx.Response, timeout: float = 60) -> dict[str, Any]:
    """Poll the job that ``started`` points to (API ``Location`` or the page's redirect) until it ends."""
    job_id = started.headers["location"].rstrip("/").rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["state"] in (SUCCEEDED, FAILED):
            assert job["state"] == SUCCEEDED, job["error"]
            return job
        assert time.monotonic() < deadline, f"job still {job['state']} after {timeout} s: {job}"
        time.sleep(0.05)


def wait_for(db: Db, job_id: str, check: Any, timeout: float = 15) -> Job:
    """Read the job (as another worker would, through its own session) until ``check(job)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.get(db.factory, job_id)
        assert job is not None
        if check(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id}: {job.state} {job.done}/{job.total} {job.message}"
        time.sleep(0.02)


# --- the service --------------------------------------------------------------------------------------------


def test_progress_and_result_are_recorded_while_the_work_runs(sqlite_db: Db) -> None:
    release = threading.Event()

    def work(progress: jobs.Progress) -> jobs.Outcome:
        progress(1, 3, "first step")
        assert release.wait(10)
        progress(2, 3, "second step")
        return jobs.Outcome({"answer": "42", "job": progress.job_id}, result_id="r-1", report="<p>r</p>")

    job_id = jobs.start(sqlite_db.factory, kind="test", created_by="t", work=work, params={"n": 1})
    midway = wait_for(sqlite_db, job_id, lambda j: j.done == 1)
    assert (midway.state, midway.total, midway.message) == (RUNNING, 3, "first step")
    assert midway.started_at is not None and midway.finished_at is None and midway.result is None
    release.set()
    done = wait_for(sqlite_db, job_id, lambda j: j.state != RUNNING)
    assert done.state == SUCCEEDED and (done.done, done.total) == (3, 3) and done.error is None
    assert jobs.result_of(done) == {"answer": "42", "job": job_id}
    assert (done.result_id, done.report, jobs.params_of(done)) == ("r-1", "<p>r</p>", {"n": 1})
    assert done.finished_at is not None and done.finished_at >= done.started_at  # type: ignore[operator]


def test_a_failure_is_recorded_with_its_message_and_progress(sqlite_db: Db) -> None:
    def domain(progress: jobs.Progress) -> jobs.Outcome:
        progress(2, 5, "halfway")
        raise UnknownProgramme("shanghai.nope")

    def bug(progress: jobs.Progress) -> jobs.Outcome:
        raise ValueError("boom")

    a = jobs.start(sqlite_db.factory, kind="test", created_by="t", work=domain)
    b = jobs.start(sqlite_db.factory, kind="test", created_by="t", work=bug)
    failed = wait_for(sqlite_db, a, lambda j: j.state == FAILED)
    assert failed.error == str(UnknownProgramme("shanghai.nope")) and "shanghai.nope" in failed.error
    assert (failed.done, failed.total, failed.message) == (2, 5, "halfway") and failed.result is None
    assert wait_for(sqlite_db, b, lambda j: j.state == FAILED).error == "ValueError: boom"


CRASH = """
import os, sys, time
from huiqi.db import make_engine, make_session_factory
from huiqi.jobs import service as jobs

factory = make_session_factory(make_engine(sys.argv[1], pool_size=2))

def work(progress):
    progress(1, 4, "before the crash")
    while True:
        time.sleep(0.05)

job_id = jobs.start(factory, kind="matching", created_by="t", work=work)
while True:  # the progress is in the database: now the process dies without a word
    job = jobs.get(factory, job_id)
    if job.done == 1:
        print(job_id, flush=True)
        os._exit(3)
    time.sleep(0.02)
"""


def test_a_job_left_running_by_a_dead_process_is_failed_after_restart(sqlite_db: Db, tmp_path: Path) -> None:
    crash = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASH), sqlite_db.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert crash.returncode == 3, crash.stderr
    job_id = crash.stdout.strip()
    with sqlite_db.session() as s:  # as the dead process left it
        left = s.get(Job, job_id)
        assert left is not None and left.state == RUNNING and left.done == 1
    # the restarted server reads it: failed, interrupted, the progress it had kept
    web = build(sqlite_db, tmp_path)
    try:
        r = web.bearer("officer").get(f"/api/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["state"] == FAILED and job["error"] == jobs.INTERRUPTED, job
        assert (job["done"], job["total"], job["message"]) == (1, 4, "before the crash")
        page = web.client("officer").get(f"/officer/jobs/{job_id}?lang=en")
        assert page.status_code == 200 and "The job failed" in page.text and "interrupted" in page.text
        assert "hx-trigger" not in page.text  # nothing left to follow
        listed = web.client("officer").get("/officer/matching?lang=en").text  # the page's recent runs
        assert f'href="/officer/jobs/{job_id}"' in listed and "interrupted" in listed
    finally:
        web.app.state.huiqi.store.close()
    with sqlite_db.session() as s:  # recorded, not only shown
        stored = s.get(Job, job_id)
        assert stored is not None and stored.state == FAILED and stored.finished_at is not None


def test_a_job_of_another_host_is_failed_when_its_heartbeat_is_stale(sqlite_db: Db) -> None:
    now = utcnow()
    with sqlite_db.session() as s:
        old = now - jobs.STALE - dt.timedelta(seconds=1)
        for job_id, beat, worker in (
            ("fresh", now, "another-host:12:345"),
            ("stale", old, "another-host:12:345"),
            ("here", old, jobs.this_worker()),  # alive here: trusted, though its heartbeat waits
        ):
            s.add(
                Job(
                    id=job_id,
                    kind="matching",
                    state=RUNNING,
                    created_by="t",
                    worker=worker,
                    created_at=beat,
                    heartbeat_at=beat,
                )
            )
        s.commit()
    fresh, stale = jobs.get(sqlite_db.factory, "fresh"), jobs.get(sqlite_db.factory, "stale")
    assert fresh is not None and fresh.state == RUNNING
    assert stale is not None and stale.state == FAILED and stale.error == jobs.INTERRUPTED
    here = jobs.get(sqlite_db.factory, "here")
    assert here is not None and here.state == RUNNING
    assert jobs.worker_alive(jobs.this_worker()) is True


# --- through the web ----------------------------------------------------------------------------------------


@pytest.fixture
def two_workers(sqlite_db: Db, tmp_path: Path) -> Iterator[tuple[Web, Web]]:
    """Two apps on one database and register, as two server workers are (PostgreSQL: test_analysis.py)."""
    first = build(sqlite_db, tmp_path)
    register = write_register(synth_register(200, 5), tmp_path / "register")
    first.settings.register_dir = register
    second = Web(create_app(first.settings, pool_size=2), first.settings)
    yield first, second
    for w in (first, second):
        w.app.state.huiqi.store.close()


def test_match_and_simulation_run_in_the_background_and_any_worker_shows_them(
    two_workers: tuple[Web, Web],
) -> None:
    one, two = two_workers
    officer_one, officer_two = one.bearer("officer"), two.bearer("officer")

    voucher = "shanghai.ai.model-voucher"  # one programme: quicker, and the pool pressure still shows
    r = officer_one.post("/api/v1/matching/runs", json={"on": ON, "programmes": [voucher]})
    assert r.status_code == 202 and r.headers["location"] == f"/api/v1/jobs/{r.json()['id']}", r.text
    assert r.json()["kind"] == "matching" and r.json()["state"] in ("queued", "running", SUCCEEDED)
    job = follow(officer_two, r)
    report = job["result"]
    assert report["run"]["firms"] == 200 and job["result_id"] == report["run"]["id"]
    assert job["done"] == job["total"] > 0 and job["params"] == {
        "on": ON,
        "programmes": [voucher],
        "notify": True,
    }
    assert [p["programme"] for p in report["by_programme"]] == [voucher] and report["pools"]

    # the pages: the POST answers at once with the job's page, which polls and goes to the result
    browser = one.client("officer")
    page = browser.post("/officer/matching", data={"on": ON, "programme": voucher})
    assert page.status_code == 303 and page.headers["location"].startswith("/officer/jobs/"), page.text
    job_url = page.headers["location"]
    shown = browser.get(job_url + "?lang=en")
    assert shown.status_code == 200 and "<progress" in shown.text and 'hx-trigger="every 1s"' in shown.text
    job = follow(officer_one, page)
    browser_two = two.client("officer")
    fragment = browser_two.get(job_url, headers={"HX-Request": "true"})
    result_url = f"/officer/matching/{job['id']}"
    assert fragment.headers.get("hx-redirect") == result_url and "<html" not in fragment.text
    result = browser_two.get(result_url + "?lang=en")
    assert (
        result.status_code == 200
        and "Pool pressure" in result.text
        and report["pools"][0]["pool"] in result.text
    )

    # a simulation started on one worker: its result page and report from the other
    r = officer_one.post("/api/v1/simulations", json={"sets": [f"{voucher}.rate=60%"], "on": ON})
    assert r.status_code == 202, r.text
    sim = follow(officer_two, r)
    assert sim["result"]["id"] == sim["id"] and "charts" not in sim["result"]
    assert sim["links"]["report"] == f"/api/v1/simulations/{sim['id']}/report"
    report_html = officer_two.get(sim["links"]["report"])
    assert report_html.status_code == 200 and "<svg" in report_html.text
    page = browser_two.get(f"/officer/sandbox/{sim['id']}?lang=en")
    assert page.status_code == 200 and "Pool sufficiency" in page.text and "<svg" in page.text
    assert browser_two.get("/officer/sandbox/nosuch").status_code == 404
    assert officer_two.get("/api/v1/jobs/nosuch").status_code == 404

    # who may see a job: officers; not auditors, reviewers, firms, nor anyone without a session
    for role in ("auditor", "reviewer", "firm_member"):
        assert one.bearer(role).get(f"/api/v1/jobs/{sim['id']}").status_code == 403, role
        assert one.client(role).get(f"/officer/jobs/{sim['id']}").status_code == 403, role
    assert one.client(None).get(f"/api/v1/jobs/{sim['id']}").status_code == 401


def test_a_failed_match_is_shown_with_its_error(two_workers: tuple[Web, Web], tmp_path: Path) -> None:
    one, _two = two_workers
    empty = write_register(synth_register(0, 1), tmp_path / "empty")
    one.settings.register_dir = empty
    officer = one.bearer("officer")
    r = officer.post("/api/v1/matching/runs", json={"on": ON})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while (job := officer.get(r.headers["location"]).json())["state"] not in (SUCCEEDED, FAILED):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["state"] == FAILED and "the register is empty" in job["error"] and job["result"] is None
    page = one.client("officer").get(f"/officer/jobs/{job['id']}?lang=en")
    assert "the register is empty" in page.text and "hx-trigger" not in page.text
