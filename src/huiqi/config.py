"""Settings from the environment (HUIQI_*), with defaults that work on a fresh machine."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-only-not-secret"  # nosec B105  # the known development value, refused in production
#: The variables of the ranged import's settings (``Settings.import_partition_firms``, ``import_whole_firms``)
PARTITION_FIRMS_ENV = "HUIQI_IMPORT_PARTITION_FIRMS"
WHOLE_FIRMS_ENV = "HUIQI_IMPORT_WHOLE_FIRMS"
#: What each expects, said when its value is not a number of firms
_FIRMS_EXPECTED = {
    "import_partition_firms": "an integer number of firms a range, such as 2000000 (0 or less: never split)",
    "import_whole_firms": "an integer number of firms, such as 4000000 (a firms file estimated at more is "
    "imported a credit-code range at a time)",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUIQI_", extra="ignore")

    #: SQLite file by default; ``postgresql+psycopg://user@host/db`` in production.
    database_url: str = "sqlite:///var/huiqi.db"
    #: Where evidence files are stored, content-addressed.
    evidence_dir: Path = Path("var/evidence")
    #: Development mode allows the built-in secret key; production refuses it.
    environment: str = "development"
    secret_key: str = DEFAULT_SECRET
    #: Programme files loaded through the web (new versions), read after the bundled packs.
    programmes_dir: Path = Path("var/programmes")
    #: A register directory (``huiqi register synth``) the officer dashboard compares with pool sizes.
    register_dir: Path | None = None
    #: Money-moving writes (the requests that take an Idempotency-Key: decide, grant, pay, claw back,
    #: reverse, ...) one user may make within ``money_rate_window`` seconds; more answer 429 with
    #: Retry-After and move nothing. 0 turns the limit off (load benchmarks set it high instead).
    money_rate_limit: int = Field(120, ge=0)
    #: The sliding window of ``money_rate_limit``, in seconds.
    money_rate_window: int = Field(60, ge=1)
    #: Where each match run's results file goes (default: beside the embedded database).
    match_results_dir: Path | None = None
    #: Match runs that keep their results file and eligible pairs (the latest of every date always does).
    match_keep_runs: int = Field(5, ge=1)
    #: The largest request body in bytes (JSON, forms); an upload (multipart) may be the evidence limit plus
    #: 1 MiB. Larger bodies answer 413 before they are read (web/limits.py).
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    #: Seconds a request body may pause (and, for one within max_body_bytes, 3 times that in all) before
    #: the request is answered 408 and its connection closed: a body shorter than its Content-Length holds
    #: nothing.
    body_timeout: float = Field(10.0, gt=0)
    #: Maker-checker: a money move of more than this many yuan (grant, pay, claw back, ...) made by one
    #: officer is held until a different officer approves it (app/money.py). Exact: a Decimal, never a float.
    second_approval_above: Decimal = Field(Decimal("1000000.00"), ge=0, decimal_places=2)
    #: The bulk import of a CSV register whose firms file is estimated at more than ``import_whole_firms``
    #: firms runs a credit-code range of ``import_partition_firms`` firms at a time (firms/partition.py); a
    #: range of 0 or less: never split. 3 M firms in ranges of 1.5 M peaked at 2.2 GiB against 3.9 GiB
    #: whole but took about 20 % more CPU seconds (the split, the staged files): 3 M stays whole; 2 M a
    #: range keeps a range under 3 GiB (30 M: 15 ranges). An empty value is the default.
    import_partition_firms: int = 2_000_000
    import_whole_firms: int = 4_000_000

    @field_validator("import_partition_firms", "import_whole_firms", mode="before")
    @classmethod
    def _firms(cls, value: object, info: ValidationInfo) -> object:
        """A count of firms as ``int()`` reads it (an empty value: the default), else refused naming the
        variable, its value and what it takes: a mistyped "1e6" must not silently mean the default."""
        if not isinstance(value, str):
            return value
        name = info.field_name or ""
        if not value.strip():
            return cls.model_fields[name].default
        try:
            return int(value)
        except ValueError:
            variable = f"{cls.model_config.get('env_prefix', '')}{name}".upper()
            raise ValueError(f"{variable}={value!r}: expected {_FIRMS_EXPECTED[name]}") from None

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        """Outside development a forgeable secret is worse than not starting."""
        if self.environment != "development" and (
            self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                f"HUIQI_SECRET_KEY must be set to a random value of at least 32 characters when "
                f"HUIQI_ENVIRONMENT={self.environment!r} (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def import_ranges() -> tuple[int, int]:
    """The ranged import's settings as the environment says at this import (read each time, not cached:
    a long-lived process or a test may change them): firms per range, the most firms imported whole."""
    settings = Settings()
    return settings.import_partition_firms, settings.import_whole_firms
