"""What handlers share: version gates, content negotiation, schema checks, query parsing."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import functools
import re
import uuid as uuidlib
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from allotment.placement.api.http import HTTPError, Request, Response, acceptable_offers, json_response
from allotment.placement.domain.exceptions import NotFound

__all__ = [
    "handler",
    "is_uuid_like",
    "json_body",
    "normalize_uuid",
    "not_found_answered",
    "set_last_modified",
    "validate_query",
]

Handler = Callable[[Request], Response]


def _parse(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def handler(
    *,
    min_version: str | None = None,
    max_version: str | None = None,
    below_status: int = 404,
    accept_json: bool = False,
    require_json: bool = False,
) -> Callable[[Handler], Handler]:
    """Wrap a handler with its microversion range and its content rules.

    Outside the range the route answers ``below_status`` (404, or 405 for a new
    method on an old route). ``require_json``: 415 unless the body is JSON.
    ``accept_json``: 406 when an ``Accept`` header excludes JSON.
    """
    low = _parse(min_version) if min_version else None
    high = _parse(max_version) if max_version else None

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        def wrapped(req: Request) -> Response:
            if low is not None or high is not None:
                version = req.version
                if (low is not None and (version.major, version.minor) < low) or (
                    high is not None and (version.major, version.minor) > high
                ):
                    # No detail and no Allow header: upstream raises the bare status here.
                    raise HTTPError(below_status)
            if require_json and req.content_type != "application/json":
                bad = req.content_type or "None"
                if not req.environ.get("CONTENT_TYPE"):
                    req.environ["CONTENT_TYPE"] = "None"
                raise HTTPError(415, f"The media type {bad} is not supported, use application/json")
            if accept_json:
                accept = req.environ.get("HTTP_ACCEPT")
                if accept and not acceptable_offers(accept, ["application/json"]):
                    raise HTTPError(406, "Only application/json is provided")
            return fn(req)

        wrapped.min_version = low  # type: ignore[attr-defined]
        wrapped.max_version = high  # type: ignore[attr-defined]
        return wrapped

    return wrap


@contextlib.contextmanager
def not_found_answered() -> Iterator[None]:
    """A NotFound in the block becomes the handler's own 404 answer.

    For the lookups upstream's handler catches and answers itself: that answer
    carries ``vary`` like any other, where an uncaught NotFound's does not.
    """
    try:
        yield
    except NotFound as exc:
        raise HTTPError(404, exc.message, code=exc.code) from None


def versioned(*choices: Handler) -> Handler:
    """One route served by several handlers, each for its own microversion range."""

    def pick(req: Request) -> Response:
        version = (req.version.major, req.version.minor)
        for fn in choices:
            low = getattr(fn, "min_version", None)
            high = getattr(fn, "max_version", None)
            if (low is None or version >= low) and (high is None or version <= high):
                return fn(req)
        return choices[-1](req)

    return pick


# ---- JSON bodies and schemas -------------------------------------------------------------------


def _uuid_check(instance: object) -> bool:
    return not isinstance(instance, str) or is_uuid_like(instance)


_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("uuid")(_uuid_check)
_VALIDATORS: dict[int, jsonschema.protocols.Validator] = {}


@functools.cache
def _end_anchored(pattern: str) -> re.Pattern[str]:
    """JSON Schema patterns are ECMA-262 regexes: '$' is the end of input, not 'before a final newline'."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    if validator.is_type(instance, "string") and not _end_anchored(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    key = id(schema)
    v = _VALIDATORS.get(key)
    if v is None:
        cls = jsonschema.validators.extend(jsonschema.validators.validator_for(schema), {"pattern": _pattern})
        v = _VALIDATORS[key] = cls(schema, format_checker=_FORMATS)
    return v


def schema_error(schema: dict[str, Any], data: Any) -> str | None:
    """The message of the most relevant validation error, or None when ``data`` is valid."""
    error = best_match(_validator(schema).iter_errors(data))
    return None if error is None else str(error)


def json_body(req: Request, schema: dict[str, Any]) -> Any:
    """The request body parsed and validated; a 400 naming the problem otherwise."""
    data = req.json()
    message = schema_error(schema, data)
    if message is not None:
        raise HTTPError(400, f"JSON does not validate: {message}")
    return data


def validate_query(req: Request, schema: dict[str, Any]) -> dict[str, str]:
    """The query string as a dict (last value wins), checked against ``schema``."""
    params = req.query_dict()
    message = schema_error(schema, params)
    if message is not None:
        raise HTTPError(400, f"Invalid query string parameters: {message}")
    return params


# ---- uuids ----------------------------------------------------------------------------------


def _canonical(value: str) -> str:
    return value.lower().removeprefix("urn:").removeprefix("uuid:").replace("-", "").strip("{}")


def is_uuid_like(value: object) -> bool:
    """Whether ``value`` is a UUID in any common spelling (dashes optional, braces, urn:uuid:)."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuidlib.UUID(value)).replace("-", "") == _canonical(value)
    except (TypeError, ValueError, AttributeError):
        return False


def normalize_uuid(value: str) -> str:
    return str(uuidlib.UUID(value))


def canonical_uuid(value: str) -> str:
    """A uuid in the dashed 36-character form: other valid spellings (no dashes, braces,
    urn:uuid:) are rewritten; 36-character spellings are kept as given, as upstream does."""
    if len(value) != 36 and is_uuid_like(value):
        return normalize_uuid(value)
    return value


# ---- headers ----------------------------------------------------------------------------------


def http_date(when: dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return email.utils.format_datetime(when.astimezone(dt.timezone.utc).replace(microsecond=0), usegmt=True)


def set_last_modified(
    req: Request, resp: Response, when: dt.datetime | None, *, now_when_unknown: bool = True
) -> Response:
    """From 1.15: ``last-modified`` and ``cache-control: no-cache``.

    ``when`` None: now, or no ``last-modified`` at all with ``now_when_unknown=False``
    (upstream's answer for an empty inventory collection).
    """
    if req.version.matches((1, 15)):
        if when is None and now_when_unknown:
            when = dt.datetime.now(dt.timezone.utc)
        if when is not None:
            resp.add_header("last-modified", http_date(when))
        resp.add_header("cache-control", "no-cache")
    return resp


def latest(*stamps: dt.datetime | None) -> dt.datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


def empty(status: int = 204, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, b"", headers or [])


__all__ += ["canonical_uuid", "empty", "http_date", "json_response", "latest", "schema_error", "versioned"]
