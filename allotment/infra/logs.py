"""Process-wide logging for the services: text or JSON lines, each carrying the request it belongs to.

``configure_logging(level, format)`` sets up stderr. While a request is served (``request_scope``), every
record logged by any module carries its ``request_id`` and ``global_request_id``; ``log_request`` writes
the one line per request, whose JSON form has each field on its own key.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import sys
import tomllib
import traceback
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "LOG_FORMAT",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "LogSettings",
    "RequestContextFilter",
    "RequestLine",
    "configure_logging",
    "current_request_ids",
    "log_request",
    "make_handler",
    "request_scope",
]

# The process id tells gunicorn workers apart; the request id ties a line to its request ("-": none).
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s [%(request_id)s] %(message)s"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")

_REQUEST_IDS: ContextVar[tuple[str, str | None] | None] = ContextVar("allotment_request_ids", default=None)


@dataclass(frozen=True)
class LogSettings:
    """The ``[logging]`` table: ``level`` (debug, info, warning, error) and ``format`` (text, json)."""

    level: str = "info"
    format: str = "text"

    def __post_init__(self) -> None:
        if self.level not in LOG_LEVELS:
            raise ValueError(f"[logging] level must be one of {', '.join(LOG_LEVELS)}, not {self.level!r}")
        if self.format not in LOG_FORMATS:
            raise ValueError(f"[logging] format must be one of {', '.join(LOG_FORMATS)}, not {self.format!r}")

    @classmethod
    def from_file(cls, path: str | Path | None) -> LogSettings:
        """The ``[logging]`` table of a TOML file (defaults without a file or table)."""
        if path is None:
            return cls()
        with open(path, "rb") as f:
            table = tomllib.load(f).get("logging", {})
        unknown = sorted(set(table) - {"level", "format"})
        if unknown:
            raise ValueError(f"unknown [logging] option(s): {', '.join(unknown)}")
        return cls(level=str(table.get("level", cls.level)).lower(), format=str(table.get("format", cls.format)))


@contextlib.contextmanager
def request_scope(request_id: str, global_request_id: str | None = None) -> Iterator[None]:
    """Records logged inside carry these ids (per thread and per task: a context variable)."""
    token = _REQUEST_IDS.set((request_id, global_request_id))
    try:
        yield
    finally:
        _REQUEST_IDS.reset(token)


def current_request_ids() -> tuple[str, str | None] | None:
    """(request id, global request id) of the request being served, if any."""
    return _REQUEST_IDS.get()


class RequestContextFilter(logging.Filter):
    """Puts ``request_id`` and ``global_request_id`` on every record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _REQUEST_IDS.get()
        if not hasattr(record, "request_id"):
            record.request_id = ids[0] if ids else "-"
        if not hasattr(record, "global_request_id"):
            record.global_request_id = (ids[1] if ids else None) or "-"
        return True


@dataclass(frozen=True)
class RequestLine:
    """What the per-request line says."""

    method: str
    route: str | None  # the URL template that matched (None: no route)
    path: str
    query: str
    status: int
    time_ms: float
    length: int | None
    microversion: str | None
    request_id: str
    global_request_id: str | None
    user_id: str | None
    project_id: str | None
    remote_addr: str | None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, process, message, the request's ids, the request
    line's fields when it is one, and ``traceback`` for an exception."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        global_id = getattr(record, "global_request_id", "-")
        out["request_id"] = None if request_id == "-" else request_id
        out["global_request_id"] = None if global_id == "-" else global_id
        line = getattr(record, "request_line", None)
        if isinstance(line, Mapping):
            out.update(line)
        if record.exc_info:
            out["traceback"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            out["traceback"] = record.exc_text
        return json.dumps(out, default=str)


def make_handler(format: str, stream: IO[str]) -> logging.Handler:
    """A handler writing text or JSON lines to ``stream``, each record with its request's ids."""
    LogSettings(format=format)  # validates
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter() if format == "json" else logging.Formatter(LOG_FORMAT))
    return handler


def configure_logging(level: str, format: str = "text") -> None:
    """Log records of ``level`` and up to stderr, as text lines or JSON lines."""
    LogSettings(level, format)  # validates
    logging.basicConfig(level=level.upper(), handlers=[make_handler(format, sys.stderr)], force=True)


def log_request(logger: logging.Logger, line: RequestLine) -> None:
    """The one line per request (INFO): readable as text, every field its own key in JSON."""
    if not logger.isEnabledFor(logging.INFO):
        return
    logger.info(
        '%s "%s %s%s" status: %d len: %s microversion: %s time: %.1fms user: %s project: %s global_request_id: %s',
        line.remote_addr or "-",
        line.method,
        line.path,
        "?" + line.query if line.query else "",
        line.status,
        "-" if line.length is None else line.length,
        line.microversion or "-",
        line.time_ms,
        line.user_id or "-",
        line.project_id or "-",
        line.global_request_id or "-",
        extra={
            "request_line": {**vars(line), "time_ms": round(line.time_ms, 1)},
            "request_id": line.request_id,
            "global_request_id": line.global_request_id or "-",
        },
    )
