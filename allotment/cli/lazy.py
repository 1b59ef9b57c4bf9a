"""Command groups whose subcommands are imported only when one of them runs.

``allotment --help`` and ``allotment provider list`` should not pay for the scheduler,
SQLAlchemy or the placement application: each subcommand is named here with the module
that holds it and the one-line help the group's ``--help`` lists, and is imported when it
is looked up to run (or to show its own help).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

__all__ = ["LazyCommand", "LazyGroup"]

# name -> ("package.module:attribute", short help)
LazyCommand = tuple[str, str]


class LazyGroup(click.Group):
    """A group that imports a subcommand's module the first time the subcommand is looked up."""

    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, cmd_name: str) -> click.Command:
        """Import the subcommand ``cmd_name`` names (it is not registered by this call)."""
        module, _, attribute = self.lazy[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[cmd_name][0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing looks every subcommand up for its help line, which would import
        # them all; the lines recorded with the names say the same (tests/cli/test_fast_start.py).
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is not None:
                if not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
            else:
                # A bare command holding the line shortens it as the real one would.
                rows.append((name, click.Command(name, help=self.lazy[name][1]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
