"""Settings, read from the environment (prefix ``STOREMON_``) and a ``.env`` file.

Build them with :func:`get_settings`; nothing is read at import time. Every field
is documented in the README's configuration table (a test holds them together).
A bad value is a :class:`~storemon.errors.ConfigError` of one line naming the
variable and what it accepts; a command that does not use a setting is not
stopped by a bad value of it (``get_settings(uses=...)``).
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Final, Literal

import annotated_types
from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from storemon.display import printable
from storemon.errors import ConfigError
from storemon.schema import Interpolation

DEFAULT_DB_URL = "duckdb:///storemon.duckdb"
ENV_PREFIX: Final = "STOREMON_"
_SHOWN_CHARS: Final = 200  # a bad value longer than this is cut in the message


class Settings(BaseSettings):
    """storemon's settings. Each can be set as ``STOREMON_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
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
    http_header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Time a client has to send a request's line and headers, from its "
        "connection (or its first byte on a kept-alive connection); then 408 and closed.",
    )
    http_body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Longest pause between two pieces of a request body; then the "
        "connection is closed.",
    )
    http_keep_alive_seconds: int = Field(
        5, ge=1, le=3600, description="An idle kept-alive connection is closed after this."
    )
    http_max_connections: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Open connections at most; a connection beyond them is answered 503 "
        "and closed at once.",
    )
    http_max_concurrent_requests: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Requests answered at once at most (/healthz and /metrics aside); "
        "beyond, 503 with Retry-After.",
    )
    max_body_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="Largest request body the API accepts, in bytes."
    )
    max_decompressed_bytes: int = Field(
        8 << 30,
        ge=1024,
        description="Most bytes of CSV text one ingested file may hold once unpacked (a gzip "
        "file's text; a plain file's size); a larger file is refused (API: 413).",
    )
    csv_memory_bytes: int = Field(
        256 << 20,
        ge=0,
        description="Most Arrow bytes of valid polls a report from CSV files (--status) "
        "holds in memory (about 5 million polls of 36-character ids); beyond it the "
        "polls wait on disk (TMPDIR) and the output is computed in ranges of stores, one "
        "at a time, so memory stays bounded.",
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
    cluster: str | None = Field(
        None,
        pattern=r"^(local(:[1-9][0-9]{0,3})?|tcp://[^\s/:]+:[0-9]{1,5})$",
        json_schema_extra={"accepts": "local, local:N or tcp://HOST:PORT"},
        description="If set, `storemon serve` computes report jobs on this Dask cluster: "
        "local (worker processes here, one per core), local:N, or tcp://HOST:PORT of a "
        "running `dask scheduler` (docs/scaling.md).",
    )
    cluster_partitions: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Ranges of stores a job is cut into on the cluster [default: two per "
        "worker thread].",
    )
    cluster_timeout_seconds: float = Field(
        3600.0,
        gt=0,
        le=7 * 24 * 3600,
        description="A job on the cluster that takes longer fails, saying so, and its "
        "tasks are cancelled.",
    )
    cluster_export_dir: Path | None = Field(
        None,
        description="Where `storemon serve` exports a DuckDB database (Parquet) for the "
        "cluster's workers to read; every worker must see it [default: a temporary "
        "directory].",
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
    prune_older_than: str | None = Field(
        None,
        description="When set (e.g. `8w`, `90d`), `storemon serve` prunes polls older than "
        "this before the latest poll, at start and every `STOREMON_PRUNE_INTERVAL_SECONDS` "
        "(as `storemon prune --older-than`; at least 7d). Unset: never.",
    )
    prune_interval_seconds: float = Field(
        86400.0, ge=60.0, description="How often `storemon serve` prunes, in seconds."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log records written by `storemon serve` and `watch`."
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines as text (UTC time, level, logger, message) or one JSON "
        "object per line.",
    )

    @field_validator("prune_older_than")
    @classmethod
    def _check_prune_age(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from storemon.errors import InvalidRequest
        from storemon.store.retention import check_older_than, parse_older_than

        try:
            check_older_than(parse_older_than(value), force=False)
        except InvalidRequest as error:
            text = (
                str(error)
                .replace("--older-than ", "")
                .replace(", or add --force to prune that close anyway", "")
            )
            raise ValueError(text) from None
        return value.strip()


def get_settings(*, uses: Collection[str] | None = None, **overrides: object) -> Settings:
    """Settings from the environment, with explicit ``overrides`` (e.g. CLI flags) on top.

    ``uses`` names the settings the caller needs (default: all of them). A bad value
    of one of those, or of an override, raises :class:`ConfigError` naming its
    ``STOREMON_`` variable and what it accepts; a bad value of any other setting is
    ignored (that setting keeps its default), so a command is never stopped by a
    setting it does not use.
    """
    fields = Settings.model_fields
    unknown = sorted(set(uses or ()) - set(fields)) + sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"no such setting: {', '.join(unknown)}")
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = error.errors()
        bad = {_field(problem) for problem in problems}
        needed = [
            problem
            for problem in problems
            if uses is None or _field(problem) in uses or _field(problem) in given
        ]
        if needed or "?" in bad:
            raise ConfigError("\n".join(_explain(p, given) for p in needed or problems)) from None
        defaults = {name: fields[name].default for name in bad}
        return Settings(**defaults, **given)  # type: ignore[arg-type]


def _field(problem: ErrorDetails) -> str:
    return str(problem["loc"][0]) if problem["loc"] else "?"


def _explain(problem: ErrorDetails, given: dict[str, object]) -> str:
    """One line: which variable, the value it had (cut, escaped), what it accepts."""
    name = _field(problem)
    variable = f"{ENV_PREFIX}{name.upper()}"
    if name in given:
        where = " (given on the command line)"
    elif variable in {key.upper() for key in os.environ}:
        where = ""
    else:
        where = " (in .env)"
    value = str(problem.get("input", ""))
    if "token" in name or "password" in name:
        shown = "<hidden>"
    else:
        shown = repr(printable(value[:_SHOWN_CHARS]) + ("..." if len(value) > _SHOWN_CHARS else ""))
    info = Settings.model_fields.get(name)
    accepts = _accepts(info) if info is not None else str(problem.get("msg", "a valid value"))
    if problem.get("type") == "value_error":  # a validator's own words say what to write
        return f"{variable}={shown}{where} is not valid: {problem.get('ctx', {}).get('error')}"
    return f"{variable}={shown}{where} is not valid: it takes {accepts}"


def _accepts(info: FieldInfo) -> str:
    """What a field accepts, in words: 'an integer from 1 to 65535', "'text' or 'json'"."""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "accepts" in extra:
        return str(extra["accepts"])
    annotation = info.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(annotation))
    if annotation is bool:
        return "true or false (also 1/0, yes/no, on/off)"
    if annotation is Path:
        return "a path"
    if annotation is int:
        kind = "an integer"
    elif annotation is float:
        kind = "a number"
    else:
        return "text"
    low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind} of at least {low:g}"
    if high is not None:
        return f"{kind} of at most {high:g}"
    return kind
