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


ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_cli_reference_is_current() -> None:
    from storemon.cli.reference import cli_reference

    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == cli_reference(), "docs/cli.md is stale: run `make docs`"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_exists(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name}: no heading #{anchor} in {linked.name}"


def test_benchmark_figures_have_one_home() -> None:
    """Tables of measured figures live in docs/benchmarks.md; the reference pages link."""
    for name in ("computation.md", "storage.md", "api.md"):
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert "benchmarks.md" in text, name
        assert "What did not pay" not in text, name
    notes = (ROOT / "docs" / "performance-notes.md").read_text(encoding="utf-8")
    assert "What did not pay" in notes
