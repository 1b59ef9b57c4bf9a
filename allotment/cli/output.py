"""Command output in the OpenStack CLI's shapes: ``-f json|yaml|table|value`` and ``-c COLUMN``.

A *listing* is several rows under the same fields (``openstack ... list``); a *record* is
one object shown field by field (``openstack ... show``).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click
import yaml
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["FORMATS", "Output", "cell", "console", "output_options"]

FORMATS = ("table", "json", "yaml", "value")

F = TypeVar("F", bound=Callable[..., Any])


def console(stderr: bool = False) -> Console:
    """A rich console on the current stdout/stderr; off a terminal it never wraps or colours."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(file=stream)
    return Console(file=stream, width=100_000, no_color=True, highlight=False, soft_wrap=True)


def cell(value: Any) -> str:
    """A value as text for table and value output."""
    if isinstance(value, Mapping):
        if value and all(isinstance(v, Mapping) for v in value.values()):
            return "\n".join(f"{k}: {cell(v)}" for k, v in value.items())
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    return str(value)


class Output:
    """Renders a command's result in the format and columns the user asked for."""

    def __init__(self, fmt: str = "table", columns: Sequence[str] = ()) -> None:
        self.fmt = fmt
        self.columns = tuple(columns)

    def _select(self, fields: Sequence[str]) -> list[int]:
        if not self.columns:
            return list(range(len(fields)))
        missing = [c for c in self.columns if c not in fields]
        if missing:
            raise click.BadParameter(
                f"no column {', '.join(missing)}; columns: {', '.join(fields)}", param_hint="'-c' / '--column'"
            )
        return [fields.index(c) for c in self.columns]

    def listing(self, fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        keep = self._select(fields)
        names = [fields[i] for i in keep]
        picked = [[row[i] for i in keep] for row in rows]
        if self.fmt == "json":
            click.echo(json.dumps([dict(zip(names, r, strict=True)) for r in picked], indent=2))
        elif self.fmt == "yaml":
            click.echo(yaml.safe_dump([dict(zip(names, r, strict=True)) for r in picked], sort_keys=False), nl=False)
        elif self.fmt == "value":
            for r in picked:
                click.echo(" ".join(cell(v) for v in r))
        else:
            table = Table(box=box.SQUARE, show_lines=False)
            for name in names:
                table.add_column(name, overflow="fold")
            for r in picked:
                table.add_row(*(Text(cell(v)) for v in r))
            console().print(table)

    def record(self, fields: Sequence[str], values: Sequence[Any]) -> None:
        keep = self._select(fields)
        pairs = [(fields[i], values[i]) for i in keep]
        if self.fmt == "json":
            click.echo(json.dumps(dict(pairs), indent=2))
        elif self.fmt == "yaml":
            click.echo(yaml.safe_dump(dict(pairs), sort_keys=False), nl=False)
        elif self.fmt == "value":
            for _, v in pairs:
                click.echo(cell(v))
        else:
            table = Table("Field", "Value", box=box.SQUARE)
            for name, v in pairs:
                table.add_row(Text(name), Text(cell(v)))
            console().print(table)


def output_options(*fields: str) -> Callable[[F], F]:
    """Add ``-f/--format`` and ``-c/--column`` (checked against ``fields`` before the command runs).

    The command receives ``out: Output``.
    """

    def check_columns(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if fields and c not in fields]
        if unknown:
            raise click.BadParameter(f"no column {', '.join(unknown)}; columns: {', '.join(fields)}")
        return value

    def decorate(func: F) -> F:
        @click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                      help="Output format.")
        @click.option("-c", "--column", "columns", multiple=True, callback=check_columns, metavar="COLUMN",
                      help=f"Show only this column (repeatable){': ' + ', '.join(fields) if fields else ''}.")
        @functools.wraps(func)
        def wrapper(*args: Any, fmt: str, columns: tuple[str, ...], **kwargs: Any) -> Any:
            return func(*args, out=Output(fmt, columns), **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
