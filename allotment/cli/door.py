"""What both ``serve`` commands share: the limits at the door and the log settings, from options and file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from allotment.infra.limits import GUNICORN_MAX_REQUEST_LINE, RequestLimits
from allotment.infra.logs import LOG_FORMATS, LOG_LEVELS, LogSettings

__all__ = ["door_options", "door_settings"]


def door_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options both ``serve`` commands share: limits at the door and logging (over the config file's)."""
    for option in reversed([
        click.option("--max-request-body-size", type=click.IntRange(0), default=None, metavar="BYTES",
                     help="Refuse larger request bodies with 413, unread (0: no limit). "
                          "Default: the config file's, else 4 MiB (placement) or 1 MiB (scheduler)."),
        click.option("--limit-request-line", type=click.IntRange(0, GUNICORN_MAX_REQUEST_LINE), default=None, metavar="BYTES",
                     help="Longest request line (method, path and query) accepted; 0: no limit. Default 8190."),
        click.option("--limit-request-field-size", type=click.IntRange(0), default=None, metavar="BYTES",
                     help="Longest header line accepted; 0: no limit. Default 16384."),
        click.option("--log-level", default=None, type=click.Choice(list(LOG_LEVELS)),
                     help="Default: [logging] level of the config file, else info."),
        click.option("--log-format", default=None, type=click.Choice(list(LOG_FORMATS)),
                     help="text lines or JSON lines. Default: [logging] format of the config file, else text."),
    ]):
        fn = option(fn)
    return fn


def door_settings(config_file: str | None, limits: RequestLimits, overrides: dict[str, int | None],
                  log_level: str | None, log_format: str | None) -> tuple[RequestLimits, LogSettings]:
    """The limits and log settings in force: command line over the config file over the defaults."""
    try:
        logs = LogSettings.from_file(config_file)
        logs = LogSettings(log_level or logs.level, log_format or logs.format)
        return dataclasses.replace(limits, **{k: v for k, v in overrides.items() if v is not None}), logs
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"configuration: {exc}") from exc
