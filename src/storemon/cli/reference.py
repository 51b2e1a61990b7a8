"""The CLI reference, docs/cli.md, generated from the commands' own ``--help``.

``make docs`` (``python -m storemon.cli.reference > docs/cli.md``) rewrites it;
tests/test_docs.py fails when the file is not what this prints, so the reference
cannot fall behind the commands.
"""

from __future__ import annotations

from typing import Final

import typer.main

from storemon.cli import app

__all__ = ["cli_reference"]

#: Help is wrapped at this width, whatever the terminal, so the output is stable.
WIDTH: Final = 88

_HEADER: Final = """\
# Command line reference

Generated from `storemon --help` and each command's `--help` by `make docs`
(`python -m storemon.cli.reference > docs/cli.md`); a test fails when this page is
stale. The [README](../README.md#the-command-line) has the overview and examples.
"""


def cli_reference() -> str:
    """Markdown: the top-level help, then one section per command, in help order."""
    group = typer.main.get_command(app)
    root = group.context_class(
        group,
        info_name="storemon",
        terminal_width=WIDTH,
        max_content_width=WIDTH,
        **group.context_settings,
    )
    parts = [_HEADER, "```text", group.get_help(root), "```"]
    for name in group.list_commands(root):  # type: ignore[attr-defined]
        command = group.get_command(root, name)  # type: ignore[attr-defined]
        if command is None or command.hidden:
            continue
        context = command.context_class(
            command, info_name=name, parent=root, terminal_width=WIDTH, max_content_width=WIDTH
        )
        parts += ["", f"## storemon {name}", "", "```text", command.get_help(context), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")
