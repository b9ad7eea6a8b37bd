"""Alembic environment: the target is huiqi's own metadata; the engine gets huiqi's SQLite pragmas."""

from __future__ import annotations

from alembic import context

from huiqi.db.base import Base
from huiqi.db.engine import make_engine

config = context.config
# what autogenerate compares with: every table, passed by huiqi.app.store (the db layer imports no domain)
target_metadata = config.attributes.get("target_metadata", Base.metadata)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: no sqlalchemy.url; run migrations through huiqi.db.migrate")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # Batch migrations rebuild tables (copy, drop, rename); with foreign keys enforced, dropping a
                # referenced table fails. The pragma only works outside a transaction, hence the raw
                # connection before SQLAlchemy begins one; the check below replaces the enforcement.
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
