"""Settings from the environment (HUIQI_*), with defaults that work on a fresh machine."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUIQI_", extra="ignore")

    #: SQLite file by default; ``postgresql+psycopg://user@host/db`` in production.
    database_url: str = "sqlite:///var/huiqi.db"
    #: Where evidence files are stored, content-addressed.
    evidence_dir: Path = Path("var/evidence")
    #: Development mode allows the built-in secret key; production refuses it.
    environment: str = "development"
    secret_key: str = "dev-only-not-secret"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
