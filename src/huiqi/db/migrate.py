"""Alembic, driven from the package: the migration scripts ship inside it, so `huiqi db upgrade` works
from an installed wheel with no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None, metadata: MetaData | None = None) -> Config:
    """Alembic's configuration for ``url``; ``metadata`` (every table) is what autogenerate compares with."""
    if url is None:
        from huiqi.config import get_settings

        url = get_settings().database_url
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat a '%' in a password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if metadata is not None:
        config.attributes["target_metadata"] = metadata
    return config


def upgrade(url: str | None = None, revision: str = "head", metadata: MetaData | None = None) -> None:
    """Apply every migration up to ``revision``."""
    command.upgrade(alembic_config(url, metadata), revision)


def current_head() -> str | None:
    """The newest revision shipped with this version: what a database must be at to be used."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at (None: never migrated), read without changing anything."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
