"""Commands of the rules engine: programmes, check, schema."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version() -> None:
        """Print huiqi's version."""
        from huiqi import __version__

        typer.echo(__version__)
