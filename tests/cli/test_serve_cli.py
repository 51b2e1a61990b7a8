"""`storemon serve` registers itself without making every other command pay for the API."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from storemon.cli import app


def test_importing_the_cli_does_not_import_the_http_stack() -> None:
    code = (
        "import sys, storemon.cli\n"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'storemon.api') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_serve_help_lists_its_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--db", "--workers", "--inbox"):
        assert option in result.output
