"""``huiqi db``: create or upgrade the database schema."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    sub = typer.Typer(
        help="Database schema (Alembic migrations shipped in the package).", no_args_is_help=True
    )

    @sub.command("upgrade")
    def upgrade(
        url: Annotated[str | None, typer.Option(help="database URL (default: HUIQI_DATABASE_URL)")] = None,
        revision: Annotated[str, typer.Option(help="target revision")] = "head",
    ) -> None:
        """Apply every migration up to REVISION (creates the SQLite file and its directory if needed)."""
        from huiqi.app.store import migrate

        migrate(url, revision)
        typer.echo(f"database at revision {revision}")

    app.add_typer(sub, name="db")
