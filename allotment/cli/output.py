"""Command output in the OpenStack CLI's shapes: ``-f table|json|yaml|value|csv`` and ``-c COLUMN``.

A *listing* is several rows under the same fields (``openstack ... list``); a *record* is
one object shown field by field (``openstack ... show``). Values print as cliff prints
them (README, "Output formats"):

- ``None`` is ``None`` in table and value output, ``null`` in JSON and YAML, an empty
  field in CSV;
- lists join with ", ", mappings as ``k=v, k=v`` (a mapping of mappings one entry a line)
  in text; JSON and YAML keep the structure;
- datetimes are ISO 8601 in UTC (``2026-11-22T07:04:52.096617Z``) in every format, as
  the APIs send them.

rich (tables) and PyYAML are imported only by the formats that use them.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["FORMATS", "Output", "cell", "console", "data", "output_options"]

FORMATS = ("table", "json", "yaml", "value", "csv")

F = TypeVar("F", bound=Callable[..., Any])


def console(stderr: bool = False) -> Console:
    """A rich console on the current stdout/stderr; off a terminal it never wraps or colours."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(file=stream)
    return Console(file=stream, width=100_000, no_color=True, highlight=False, soft_wrap=True)


def timestamp(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; a naive datetime is taken to be UTC already (the registry's are)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def data(value: Any) -> Any:
    """A value as JSON and YAML carry it: datetimes as ISO strings, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [data(v) for v in value]
    if isinstance(value, dt.datetime):
        return timestamp(value)
    return value


def cell(value: Any) -> str:
    """A value as text for table, value and CSV output."""
    if isinstance(value, Mapping):
        if value and all(isinstance(v, Mapping) for v in value.values()):
            return "\n".join(f"{k}: {cell(v)}" for k, v in value.items())
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dt.datetime):
        return timestamp(value)
    return str(value)


def _csv_cell(value: Any) -> Any:
    # As cliff's CSV formatter: numbers bare, None an empty field, the rest quoted text.
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    return cell(value)


class Output:
    """Renders a command's result in the format and columns the user asked for."""

    def __init__(self, fmt: str = "table", columns: Sequence[str] = ()) -> None:
        self.fmt = fmt
        self.columns = tuple(columns)

    @property
    def structured(self) -> bool:
        """JSON or YAML: the values keep their structure."""
        return self.fmt in ("json", "yaml")

    def _select(self, fields: Sequence[str], brief: Sequence[str] | None = None) -> list[int]:
        if not self.columns:
            shown = fields if brief is None or self.structured else brief
            return [fields.index(f) for f in shown]
        missing = [c for c in self.columns if c not in fields]
        if missing:
            raise click.BadParameter(
                f"no column {', '.join(missing)}; columns: {', '.join(fields)}", param_hint="'-c' / '--column'"
            )
        return [fields.index(c) for c in self.columns]

    def listing(self, fields: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]], *,
                brief: Sequence[str] | None = None, title: str | None = None) -> None:
        """Rows (sequences in ``fields`` order, or mappings keyed by them) under ``fields``.

        ``brief``: the columns text formats show when no ``-c`` is given (JSON and YAML
        carry every field). ``title``: a line over the table (table format only).
        """
        keep = self._select(fields, brief)
        names = [fields[i] for i in keep]
        picked = []
        for row in rows:
            values = [row[f] for f in fields] if isinstance(row, Mapping) else row
            picked.append([values[i] for i in keep])
        if self.structured:
            self._dump([dict(zip(names, r, strict=True)) for r in picked])
        elif self.fmt == "value":
            for r in picked:
                click.echo(" ".join(cell(v) for v in r))
        elif self.fmt == "csv":
            self._csv(names, picked)
        else:
            self._table(names, picked, title)

    def record(self, fields: Sequence[str], values: Sequence[Any]) -> None:
        """One object, field by field."""
        keep = self._select(fields)
        pairs = [(fields[i], values[i]) for i in keep]
        if self.structured:
            self._dump(dict(pairs))
        elif self.fmt == "value":
            for _, v in pairs:
                click.echo(cell(v))
        elif self.fmt == "csv":
            self._csv([name for name, _ in pairs], [[v for _, v in pairs]])
        else:
            self._table(("Field", "Value"), pairs, None)

    def mapping(self, values: Mapping[str, Any]) -> None:
        """A record whose fields are the mapping's keys, in its order."""
        self.record(list(values), list(values.values()))

    def document(self, value: Any) -> None:
        """A whole nested result in JSON or YAML (the caller renders text formats itself)."""
        self._dump(value)

    def _dump(self, value: Any) -> None:
        if self.fmt == "yaml":
            import yaml

            click.echo(yaml.safe_dump(data(value), sort_keys=False), nl=False)
        else:
            click.echo(json.dumps(data(value), indent=2))

    def _csv(self, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        text = io.StringIO()
        writer = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n", escapechar="\\")
        writer.writerow(names)
        for row in rows:
            writer.writerow([_csv_cell(v) for v in row])
        click.echo(text.getvalue(), nl=False)

    def _table(self, names: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        # Text() so that values are never read as rich markup.
        table = Table(box=box.SQUARE, title=title, title_justify="left")
        for name in names:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(Text(v if isinstance(v, str) else cell(v)) for v in row))
        console().print(table)


def output_options(*fields: str) -> Callable[[F], F]:
    """Add ``-f/--format`` and ``-c/--column`` (checked against ``fields``, when given, before the command runs).

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
