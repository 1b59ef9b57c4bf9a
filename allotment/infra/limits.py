"""Limits at the door: request body size (checked before the body is read) and the server's request-line and
header-field limits (enforced by gunicorn).

A body announced by ``Content-Length`` over the limit is refused before a byte of it is read; a body without
one (``Transfer-Encoding: chunked``) is read up to the limit and refused as soon as it passes it. The body
then sits in memory with ``CONTENT_LENGTH`` set, so the application reads it as any other.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_LIMIT_REQUEST_FIELD_SIZE",
    "DEFAULT_LIMIT_REQUEST_LINE",
    "DEFAULT_MAX_REQUEST_BODY_SIZE",
    "GUNICORN_MAX_REQUEST_LINE",
    "BodyTooLarge",
    "BodyUnreadable",
    "RequestLimits",
    "hold_body_within",
]

DEFAULT_MAX_REQUEST_BODY_SIZE = 4 << 20  # 4 MiB: far above any body Nova sends (reshaper, many allocations)
# gunicorn's ceiling (and Apache's default): room for a member_of=in: of ~200 aggregate uuids.
GUNICORN_MAX_REQUEST_LINE = 8190
DEFAULT_LIMIT_REQUEST_LINE = GUNICORN_MAX_REQUEST_LINE
DEFAULT_LIMIT_REQUEST_FIELD_SIZE = 16384  # a header line; twice gunicorn's default, for large tokens
_READ_SIZE = 64 << 10


class BodyTooLarge(Exception):
    """The request body is larger than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request is too large: the body is larger than max_request_body_size ({limit} bytes).")
        self.limit = limit


class BodyUnreadable(Exception):
    """A body without Content-Length that could not be read to its end (client gone, bad chunking)."""


def _non_negative_int(table: Mapping[str, Any], key: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer, not {value!r}")
    return value


@dataclass(frozen=True)
class RequestLimits:
    """What one service accepts at the door. 0 means no limit for every field."""

    max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE
    limit_request_line: int = DEFAULT_LIMIT_REQUEST_LINE
    limit_request_field_size: int = DEFAULT_LIMIT_REQUEST_FIELD_SIZE

    def __post_init__(self) -> None:
        for key in ("max_request_body_size", "limit_request_line", "limit_request_field_size"):
            _non_negative_int({key: getattr(self, key)}, key, 0)
        if self.limit_request_line > GUNICORN_MAX_REQUEST_LINE:
            # gunicorn silently caps larger values; say so rather than pretend.
            raise ValueError(
                f"limit_request_line must be at most {GUNICORN_MAX_REQUEST_LINE} (or 0: no limit), "
                f"not {self.limit_request_line}"
            )

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, max_request_body_size: int | None = None) -> RequestLimits:
        """The limits named in a TOML table (other keys are ignored); ``max_request_body_size`` is the default."""
        body_default = cls.max_request_body_size if max_request_body_size is None else max_request_body_size
        return cls(
            max_request_body_size=_non_negative_int(table, "max_request_body_size", body_default),
            limit_request_line=_non_negative_int(table, "limit_request_line", cls.limit_request_line),
            limit_request_field_size=_non_negative_int(table, "limit_request_field_size",
                                                       cls.limit_request_field_size),
        )


def _is_chunked(environ: Mapping[str, Any]) -> bool:
    return "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()


def hold_body_within(environ: dict[str, Any], limit: int) -> None:
    """Refuse (``BodyTooLarge``) a body over ``limit`` bytes without reading more than ``limit`` + one read of it.

    A ``Content-Length`` is checked as announced (a value that is no integer is left for the application to
    refuse). A chunked body is read here, stopping once past the limit, and put back in ``wsgi.input`` with
    its ``CONTENT_LENGTH``. ``limit`` 0 checks nothing.
    """
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            announced = int(length)
        except ValueError:
            return
        if limit and announced > limit:
            raise BodyTooLarge(limit)
        return
    if not _is_chunked(environ) or not environ.get("wsgi.input_terminated"):
        # Without a length, a body can only be read to its end where the server marks the input as terminated
        # (gunicorn does, and decodes the chunks); elsewhere there is no body to take.
        return
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            part = stream.read(_READ_SIZE)
            if not part:
                break
            size += len(part)
            if limit and size > limit:
                raise BodyTooLarge(limit)
            parts.append(part)
    except BodyTooLarge:
        raise
    except Exception as exc:  # noqa: BLE001 - gunicorn's NoMoreData, InvalidChunkSize...: no trustworthy body
        raise BodyUnreadable(f"Request body incomplete or malformed: {type(exc).__name__}") from None
    body = b"".join(parts)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
