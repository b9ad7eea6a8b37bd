"""One Spark session and one PostgreSQL database for the whole test session (both are slow to start)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from tests.dbfixtures import fresh_pg_database, sqlite_db

__all__ = ["sqlite_db"]


def engine_missing(what: str) -> None:
    message = f"{what} is not installed"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must run every backend (python3 dev.py test installs them)")
    pytest.skip(message + "; `python3 dev.py test` installs it (set CI=1 to make this a failure)")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        engine_missing("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        engine_missing("Java (needed by Spark)")
    from huiqi.rules.backends import spark_session

    session = spark_session(master="local[2]", shuffle_partitions=2, app="huiqi-tests")
    # adaptive query execution plans each stage again once the one before has run: on tables of 300-10,000
    # rows that re-planning was a third of the queries' time (the equality test's two queries, cold JVM, load
    # 7: 66 and 45 s with it, 50 and 28 s without); what a query returns does not depend on it
    session.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def pg_register_url() -> Iterator[str]:
    """A fresh database (no migrations: only the layout tables the compiled programmes read)."""
    with fresh_pg_database("huiqi_backends", migrate=False) as url:
        yield url
