"""The Dockerfile and compose.yaml (no Docker engine runs here: their content is checked).

What is held: the image is built from requirements.lock, on the Python the project
requires; it is configured only by real STOREMON_ settings; its command is one the CLI
accepts; compose runs storemon after a healthy PostgreSQL, with the URL scheme storemon
reads; both have health checks.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from storemon.cli import main
from storemon.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SETTINGS = {f"STOREMON_{name.upper()}" for name in Settings.model_fields}


def test_the_image_is_built_from_the_lock_file_on_the_required_python() -> None:
    assert "COPY pyproject.toml requirements.lock" in DOCKERFILE
    assert "pip install --no-cache-dir --constraint requirements.lock ." in DOCKERFILE
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    versions = re.findall(r"^FROM python:(\d+\.\d+)-slim", DOCKERFILE, re.MULTILINE)
    assert versions
    assert all(tuple(map(int, v.split("."))) >= (3, 11) for v in versions), required
    assert "USER storemon" in DOCKERFILE  # not root
    assert "HEALTHCHECK" in DOCKERFILE
    assert "/healthz" in DOCKERFILE


def test_only_real_settings_are_set() -> None:
    used = set(re.findall(r"\bSTOREMON_[A-Z_]+", DOCKERFILE))
    used |= set(COMPOSE["services"]["storemon"]["environment"])
    assert used
    assert used <= SETTINGS, sorted(used - SETTINGS)


def test_the_image_command_is_one_the_cli_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    entry = re.search(r'^ENTRYPOINT \["storemon"\]$', DOCKERFILE, re.MULTILINE)
    command = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert entry is not None
    assert command is not None
    argv = yaml.safe_load(command.group(1))
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    assert "Usage: storemon serve" in capsys.readouterr().out


def test_compose_runs_storemon_after_a_healthy_postgres() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "storemon"}
    postgres, storemon = services["postgres"], services["storemon"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert storemon["build"] == "."
    assert storemon["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = storemon["environment"]
    user, password, database = (
        postgres["environment"][f"POSTGRES_{k}"] for k in ("USER", "PASSWORD", "DB")
    )
    assert env["STOREMON_DB"] == f"postgresql://{user}:{password}@postgres:5432/{database}"
    assert env["STOREMON_HOST"] == "0.0.0.0"
    assert storemon["ports"] == [f"127.0.0.1:{env['STOREMON_PORT']}:{env['STOREMON_PORT']}"]
    assert set(COMPOSE["volumes"]) == {"pgdata", "inbox"}
