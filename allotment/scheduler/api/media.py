"""JSON in and out (orjson), request bodies validated against a JSON schema, path values checked."""

from __future__ import annotations

from typing import Any

import falcon
import jsonschema
import orjson

from allotment.scheduler.api.errors import ApiError
from allotment.scheduler.registry.common import check_name, check_uuid

__all__ = ["host_name", "read_json", "uuid_param", "write_json"]


def write_json(resp: falcon.Response, body: Any, status: int = 200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(body, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)


def _has_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return f" at '{path}'" if path else ""


def read_json(req: falcon.Request, schema: dict[str, Any]) -> dict[str, Any]:
    """The request body as a dict that satisfies ``schema``; 400/415 otherwise (413 came at the door)."""
    raw = req.bounded_stream.read()
    if not raw.strip():
        raise ApiError(400, "a JSON request body is required", "scheduler.bad_request")
    if req.content_type and not req.content_type.split(";")[0].strip().lower().endswith("json"):
        raise ApiError(415, f"the request body must be JSON, not {req.content_type}",
                       "scheduler.unsupported_media_type")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON body: {exc}", "scheduler.bad_request") from None
    if _has_nul(body):
        raise ApiError(400, "strings in the body must not contain NUL characters", "scheduler.bad_request")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(body))
    if error is not None:
        raise ApiError(400, f"invalid request body{_where(error)}: {error.message}", "scheduler.bad_request")
    return body


def uuid_param(value: str, what: str) -> str:
    return check_uuid(value, what)


def host_name(value: str) -> str:
    return check_name(value, "host name")
