"""The README documents every setting and every command (datasette's habit)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storemon.cli import app
from storemon.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_configuration_table(field: str) -> None:
    variable = f"STOREMON_{field.upper()}"
    assert re.search(rf"^\| `{variable}` \|", README, re.MULTILINE), (
        f"README's configuration table lacks {variable}"
    )


def _command_names() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_there_are_commands() -> None:
    assert {"report", "ingest", "serve"} <= set(_command_names())


@pytest.mark.parametrize("command", _command_names())
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"`storemon {command}" in README, f"README's command table lacks storemon {command}"


def test_readme_has_no_unfilled_placeholders() -> None:
    assert "BENCHMARK_TABLE" not in README
