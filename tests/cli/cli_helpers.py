"""Running the CLI in-process, for the CLI tests."""

from __future__ import annotations

import pytest

from storemon.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``storemon ARGV`` in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 1), out, err
