"""Settings, read from the environment (prefix ``STOREMON_``) and a ``.env`` file.

Build them with :func:`get_settings`; nothing is read at import time. Every field
is documented in the README's configuration table (a test holds them together).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storemon.schema import Interpolation

DEFAULT_DB_URL = "duckdb:///storemon.duckdb"


class Settings(BaseSettings):
    """storemon's settings. Each can be set as ``STOREMON_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="STOREMON_", env_file=".env", extra="ignore", frozen=True
    )

    db: str = Field(
        DEFAULT_DB_URL,
        description="Database URL: duckdb:///path/file.duckdb (relative to the working "
        "directory; four slashes for an absolute path) or postgresql://user@host:port/dbname.",
    )
    host: str = Field("127.0.0.1", description="Address `storemon serve` listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port `storemon serve` listens on.")
    api_token: str | None = Field(
        None,
        description="If set, every API endpoint but /healthz needs "
        "`Authorization: Bearer <token>`.",
    )
    max_body_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="Largest request body the API accepts, in bytes."
    )
    report_workers: int = Field(
        2, ge=1, le=64, description="How many reports may be computed at the same time."
    )
    report_queue_max: int = Field(
        32,
        ge=1,
        le=100_000,
        description="How many reports a server queues beyond those being computed; a "
        "trigger beyond it is refused (HTTP 429 with Retry-After), and a restart re-runs "
        "no more than this many of the jobs left unfinished (the rest are failed, saying so).",
    )
    report_retention_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 366,
        description="How long a finished report's CSV is kept; after it the report "
        "answers 410 (expired) and an identical trigger computes it again.",
    )
    report_lease_seconds: float = Field(
        30.0,
        ge=1.0,
        le=3600.0,
        description="How long a server's hold on a report job lasts unless renewed (every "
        "third of it); a server that dies gives its jobs up to the others after this long.",
    )
    interpolation: Interpolation = Field(
        "nearest", description="Default interpolation when a request does not name one."
    )
    inbox_dir: Path = Field(
        Path("inbox"), description="Directory watched for new CSV files to ingest."
    )
    inbox_interval_seconds: float = Field(
        3600.0, ge=1.0, description="How often the inbox is scanned, in seconds."
    )
    inbox_enabled: bool = Field(
        True, description="Whether `storemon serve` also watches the inbox."
    )


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit ``overrides`` (e.g. CLI flags) on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)  # type: ignore[arg-type]
