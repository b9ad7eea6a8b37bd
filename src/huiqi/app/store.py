"""The unit of work every use case runs in: one database, opened complete and at the schema it needs.

``Store.write`` is one transaction, retried from the start on a conflict with a concurrent writer (the
services below only flush); ``Store.read`` a session that writes nothing. Opening a store registers every
domain's tables (``huiqi.app.models``) and checks the schema: the embedded SQLite file is the user's own and
is migrated on the spot; any other database is never migrated implicitly, and a one-line
``DatabaseNotReady`` says what to run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from huiqi.app.models import all_tables
from huiqi.db import make_engine, make_session_factory, run_in_transaction
from huiqi.db.engine import reading
from huiqi.db.errors import DatabaseNotReady
from huiqi.db.migrate import current_head, current_revision, upgrade

T = TypeVar("T")

_MIGRATE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Store:
    """A database handle for use cases: the engine, its sessions, and where it is (for messages)."""

    engine: Engine
    factory: sessionmaker[Session]
    url: str

    @classmethod
    def open(cls, url: str | None = None, *, pool_size: int = 10, check_schema: bool = True) -> Store:
        """The database at ``url`` (default: HUIQI_DATABASE_URL), complete and at the current schema."""
        if url is None:
            from huiqi.config import get_settings

            url = get_settings().database_url
        all_tables()
        engine = make_engine(url, pool_size=pool_size)
        store = cls(engine=engine, factory=make_session_factory(engine), url=url)
        if check_schema:
            try:
                store.ensure_schema()
            except BaseException:
                engine.dispose()
                raise
        return store

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``: some use cases pick a bulk path by it."""
        return self.engine.dialect.name

    @property
    def where(self) -> str:
        """The database's address without its password, for messages and the demo's instructions."""
        return make_url(self.url).render_as_string(hide_password=True)

    def ensure_schema(self) -> None:
        """Migrate the embedded database to this version's schema, or refuse any other that is behind."""
        head = current_head()
        try:
            revision = current_revision(self.engine)
        except DBAPIError as exc:
            raise DatabaseNotReady(
                f"cannot open the database at {self.where}: {str(exc.orig).splitlines()[0]}"
            ) from None
        if revision == head:
            return
        if self.backend == "sqlite":
            with _MIGRATE_LOCK:
                upgrade(self.url, "head", all_tables())
            return
        state = f"at revision {revision}" if revision else "empty (never migrated)"
        raise DatabaseNotReady(
            f"the database at {self.where} is {state}; this version of huiqi needs revision {head}: "
            f"run `HUIQI_DATABASE_URL=... huiqi db upgrade` first"
        )

    def write(self, work: Callable[[Session], T]) -> T:
        """One transaction, retried on a conflict with a concurrent writer; a domain error rolls it back."""
        return run_in_transaction(self.factory, work)

    def read(self, work: Callable[[Session], T]) -> T:
        """A session for reading; nothing it does is committed, and on SQLite it waits for no writer."""
        with self.factory(bind=reading(self.engine)) as session:
            return work(session)

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()


def migrate(url: str | None = None, revision: str = "head") -> str:
    """Apply the migrations up to ``revision`` (the explicit ``huiqi db upgrade``, any database)."""
    all_tables()
    upgrade(url, revision, all_tables())
    return revision
