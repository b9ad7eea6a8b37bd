"""Shared test settings: hypothesis profiles (CI runs more examples, with no deadline)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: Tests of more than a few seconds, left out of the fast lane (`python3 dev.py test --fast`); CI runs all.
#: Node id prefixes, so a whole module or directory can be named.
SLOW = (
    "tests/web/browser/",
    "tests/programmes/test_lifecycle_cli.py",
    "tests/backends/test_backend_equality.py::test_spark",
    "tests/backends/test_match_backends.py::test_match_on_spark",
    "tests/rules/test_agreement.py::test_evaluators_agree_on_random_firms",
    "tests/selection/test_end_to_end.py",
    "tests/web/test_serving.py",
    "tests/fuzz/test_fuzz.py::test_atheris",
    "tests/simulation/test_sharing.py",
    "tests/rules/test_necessary.py::test_the_candidates_hold_every_firm_eligible_for_a_bundled_programme",
    "tests/reliability/test_crash.py",
    "tests/reliability/test_stateful.py",
    "tests/reliability/test_backup_restore.py",
    "tests/web/test_designation.py::test_designation_call_end_to_end",
    "tests/web/test_jobs.py",
    "tests/web/test_api_fuzz.py",
    "tests/benchmarks/",
    "tests/simulation/test_run.py::test_the_joint_query_equals_separate_runs",
    "tests/test_architecture.py::test_a_planted_import_is_caught",
    "tests/firms/test_register_hostile.py::test_atheris_on_the_readers",
    "tests/firms/test_register_hostile.py::test_a_refused_import_racing_two_good_ones_into_a_new_directory",
    "tests/firms/test_register_hostile.py::test_two_concurrent_imports_into_one_directory_lose_nothing",
    "tests/matching/test_match_columnar.py::test_incremental_runs_equal_full_runs_and_the_previous_design",
    "tests/applications/test_calls_cli_fresh.py",
    "tests/hostile/test_readers.py::test_atheris_finds_nothing_in_a_short_run",
    "tests/hostile/test_cli.py",
    "tests/hostile/test_serve.py",
    "tests/fuzz/",
    "tests/web/test_demo.py",
    "tests/web/test_pages_zh.py",
    "tests/web/test_sandbox_zh.py",
    "tests/web/test_authoring.py::test_an_officer_authors_a_version_and_a_second_officer_publishes_it",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests named in SLOW (besides those marked in their own module), and run the modules holding a
    slow test first, each module's tests together and in their order: pytest-xdist hands out tests in this
    order, and a long test among the last left one worker running alone (the web tests, slowest, are
    collected last)."""
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
    slow_modules = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_modules)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite database and evidence folder for the real `huiqi` command (tests/cli_helpers.py), put
    in the environment, so that one setup serves the command run in this process and as a process."""
    from cli_helpers import cli_environment, sqlite_url
    from huiqi.config import get_settings

    for name, value in cli_environment(sqlite_url(tmp_path), tmp_path).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller: tell each worker how the run is distributed (``--dist``), so that a
    module's summary test knows whether every item of its module runs in its worker
    (tests/web/test_api_fuzz.py)."""
    node.workerinput["dist"] = node.config.getoption("dist")
