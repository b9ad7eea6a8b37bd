"""A firm's page asks only which run is current (``latest_run_key``), not for the run's row with its report:
the answer is the id and date of the run ``latest_run`` gives, whatever runs are stored."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from dbfixtures import Db
from huiqi.matching.models import MatchRun
from huiqi.matching.run import latest_run, latest_run_key

DAYS = [dt.date(2025, 1, 1), dt.date(2025, 7, 1)]
START = dt.datetime(2025, 8, 1, tzinfo=dt.UTC)

runs = st.lists(
    st.tuples(
        st.sampled_from(DAYS),
        st.none() | st.integers(0, 5),  # finished so many minutes after START (None: not finished)
        st.booleans(),  # its results file is kept
    ),
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs)
def test_the_key_is_the_latest_run_s(sqlite_db: Db, stored: list[tuple[dt.date, int | None, bool]]) -> None:
    with sqlite_db.session() as s:
        s.execute(delete(MatchRun))
        for on, minutes, kept in stored:
            s.add(
                MatchRun(
                    on=on,
                    register="db",
                    backend="duckdb",
                    programmes="p",
                    finished_at=None if minutes is None else START + dt.timedelta(minutes=minutes),
                    results_file="results.parquet" if kept else "",
                )
            )
        s.commit()
        for on in [None, *DAYS]:
            run = latest_run(s, on)
            assert latest_run_key(s, on) == (None if run is None else (run.id, run.on)), on
