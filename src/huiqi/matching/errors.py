"""Refusals of matching a user can act on."""

from __future__ import annotations


class MatchingError(ValueError):
    """A match that cannot run as asked."""


class EmptyRegister(MatchingError):
    """There is no firm to match."""

    def __init__(self) -> None:
        super().__init__(
            "the register is empty: import one (`huiqi register import ... --register db`) or set "
            "HUIQI_REGISTER_DIR to a register directory (`huiqi register synth`)"
        )


class NoRun(MatchingError):
    """No match has been stored (for that date)."""


class UnknownBackend(MatchingError):
    """A backend that is not one of duckdb, postgres, spark, or that cannot reach its database."""


class RegisterNotEmpty(MatchingError):
    """A synthetic register is written only into an empty stored register."""

    def __init__(self) -> None:
        super().__init__(
            "the stored register is not empty: synthesise into a new database or a register directory (--out)"
        )
