"""The OpenAPI 3.1 description of the scheduler API, built from its route table and body schemas.

``build()`` returns the document; ``python -m allotment.scheduler.api.openapi [FILE]`` writes it
(docs/openapi/scheduler.json is that output, and a test keeps the two equal). The app answers
it at ``GET /openapi.json``. Paths and methods come from the route tables (``routes.routes``,
``scheduling.routes``: a resource's ``on_<method>`` functions), request bodies from
``schemas`` and ``scheduling`` (the request spec from ``spec_schema``), answers from the
hand-written shapes below, which follow ``serialize`` and ``ScheduleResult.to_dict``.
"""

from __future__ import annotations

import functools
import sys
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from allotment.infra.openapi import (
    ERROR_ITEM,
    OPENAPI_VERSION,
    REQUEST_ID_HEADER_SPEC,
    URI_TOO_LONG,
    dumps,
    json_content,
    ref,
    write_document,
)
from allotment.scheduler import spec_schema
from allotment.scheduler.api import schemas
from allotment.scheduler.api.resources import capacity, scheduling
from allotment.scheduler.api.routes import routes
from allotment.scheduler.selection import TIMING_KEYS

__all__ = ["OPERATIONS", "build", "document_bytes"]

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_TIME = {"type": ["string", "null"], "description": "ISO 8601, UTC."}
_STRS = {"type": "array", "items": _STR}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _list_of(key: str, item: str) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": ref("schemas", item)}})


SHAPES: dict[str, dict[str, Any]] = {
    "Host": _object({
        "name": _STR, "provider_uuid": _STR, "cell": _NSTR, "hypervisor_type": _NSTR,
        "hypervisor_version": {"type": ["integer", "null"]}, "hypervisor_hostname": _NSTR, "host_ip": _NSTR,
        "cpu_info": {"type": "object"}, "supported_instances": {"type": "array", "items": _STRS},
        "stats": {"type": "object", "additionalProperties": _STR}, "failed_builds": _INT, "disabled": _BOOL,
        "disabled_reason": _NSTR, "forced_down": _BOOL, "up": _BOOL, "last_heartbeat": _TIME,
        "aggregates": _STRS, "created_at": _TIME, "updated_at": _TIME,
    }),
    "Aggregate": _object({
        "uuid": _STR, "name": _STR, "metadata": {"type": "object", "additionalProperties": _STR},
        "hosts": _STRS, "created_at": _TIME, "updated_at": _TIME,
    }),
    "ServerGroup": _object({
        "uuid": _STR, "name": _STR, "policy": _STR, "rules": {"type": "object", "additionalProperties": _INT},
        "project_id": _NSTR, "user_id": _NSTR,
        "members": {"type": "object", "additionalProperties": _STR, "description": "instance uuid -> host"},
        "hosts": _STRS, "created_at": _TIME, "updated_at": _TIME,
    }),
    "Instance": _object({
        "uuid": _STR, "host": _STR, "flavor_name": _NSTR, "vcpus": _INT, "memory_mb": _INT, "root_gb": _INT,
        "project_id": _NSTR, "image_id": _NSTR, "task_state": _NSTR, "created_at": _TIME, "updated_at": _TIME,
    }),
    "Selection": _object({
        "host": _STR, "nodename": _STR, "compute_node_uuid": _STR, "cell": _NSTR,
        "allocation_request": {"type": "object", "description": "Placement's allocation request, as claimed."},
        "allocation_request_version": _STR, "availability_zone": _NSTR, "limits": {"type": "object"},
    }),
    "ScheduleResult": {
        "type": "object",
        "properties": {
            "reservation_id": _STR,
            "instance_uuids": _STRS,
            "selections": {
                "type": "array",
                "description": "Per instance: the claimed host first, then the alternates.",
                "items": {"type": "array", "items": ref("schemas", "Selection")},
            },
            "timings": _object({k: {"type": "number"} for k in TIMING_KEYS}),
            "migration_uuid": {"type": "string", "description": "For a move only."},
            "dry_run": {"type": "boolean", "description": "Present (true) for a dry run: nothing was claimed."},
            "decision": {
                "type": "array",
                "description": "A dry run's decision per instance: the filters' counts, then the best hosts "
                               "with their weight and its share per weigher.",
                "items": _object({
                    "instance": _STR, "host": _STR,
                    "filters": {"type": "array", "items": _object({
                        "filter": _STR, "before": _INT, "after": _INT, "removed": _INT})},
                    "hosts": {"type": "array", "items": _object({
                        "host": _STR, "weight": {"type": "number"},
                        "weights": {"type": "object", "additionalProperties": {"type": "number"}}})},
                }),
            },
        },
        "required": ["reservation_id", "instance_uuids", "selections", "timings"],
        "additionalProperties": False,
    },
    "Decision": _object({
        "id": _INT, "at": {"type": "number", "description": "Unix time the call ended."},
        "kind": {"enum": ["boot", "move"]}, "reservation_id": _STR,
        "outcome": {"enum": ["placed", "no_valid_host", "error"]}, "flavor": _STR, "num_instances": _INT,
        "hosts": _STRS, "alternates": _INT, "hosts_considered": _INT, "reason": _NSTR,
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
    }),
    "Decisions": _list_of("decisions", "Decision"),
    "Capacity": _object({
        "total": _INT, "by": _NSTR,
        "groups": {"type": "array", "items": _object({"key": _STR, "instances": _INT, "hosts": _INT}),
                   "description": "Per availability zone, aggregate, cell or host (by): instances that fit and "
                                  "the hosts they fit on."},
        "hosts": _INT, "fitting_hosts": _INT,
        "excluded": _object({"filters": {"type": "object", "additionalProperties": _INT},
                             "placement": {"type": "object", "additionalProperties": _INT},
                             "unregistered_trees": _INT}),
        "exact": {"type": "boolean", "description": "False when the groups compete for providers and the "
                                                   "count was made by placing greedily."},
        "query": {"type": "array", "items": _STRS, "description": "The placement query the flavor makes."},
        "timings": {"type": "object", "additionalProperties": {"type": "number"}},
    }),
    "Hosts": _list_of("hosts", "Host"),
    "Aggregates": _list_of("aggregates", "Aggregate"),
    "ServerGroups": _list_of("server_groups", "ServerGroup"),
    "Instances": _list_of("instances", "Instance"),
    "RequestSpec": deepcopy(spec_schema.SPEC_SCHEMA),
    "Root": _object({"service": _STR, "routes": _STRS}),
}


def _with_spec(body: dict[str, Any]) -> dict[str, Any]:
    out = deepcopy(body)
    out["properties"]["request_spec"] = ref("schemas", "RequestSpec")
    return out


@dataclass(frozen=True)
class Operation:
    summary: str
    ok: dict[int, str | None]  # status -> component schema name (None: no body)
    body: dict[str, Any] | None = None
    errors: tuple[int, ...] = (400, 404)
    query: tuple[str, ...] = ()


_W = (400, 404, 409, 413, 415)
_SYNC = (*_W, 502)  # writes that also reach placement when the app has a placement client
_SCHED = (400, 404, 409, 413, 415, 502, 503)

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/", "GET"): Operation("The service and its routes", {200: "Root"}, errors=()),
    ("/openapi.json", "GET"): Operation("This document", {200: None}, errors=()),
    ("/hosts", "GET"): Operation("List hosts", {200: "Hosts"}, query=("cell",)),
    ("/hosts/{name}", "GET"): Operation("Show a host", {200: "Host"}),
    ("/hosts/{name}", "PUT"): Operation("Register a host or update its facts", {200: "Host", 201: "Host"},
                                        schemas.HOST, _W),
    ("/hosts/{name}", "DELETE"): Operation("Delete a host", {204: None}, errors=(400, 404, 409, 502)),
    ("/hosts/{name}/heartbeat", "POST"): Operation("Record a heartbeat", {204: None}),
    ("/hosts/{name}/status", "PUT"): Operation("Enable, disable or force down a host", {200: "Host"},
                                               schemas.HOST_STATUS, _SYNC),
    ("/aggregates", "GET"): Operation("List aggregates", {200: "Aggregates"}, errors=()),
    ("/aggregates", "POST"): Operation("Create an aggregate", {201: "Aggregate"}, schemas.AGGREGATE_CREATE, _W),
    ("/aggregates/{uuid}", "GET"): Operation("Show an aggregate", {200: "Aggregate"}),
    ("/aggregates/{uuid}", "PUT"): Operation("Rename an aggregate", {200: "Aggregate"}, schemas.AGGREGATE_UPDATE, _W),
    ("/aggregates/{uuid}", "DELETE"): Operation("Delete an aggregate", {204: None}, errors=(400, 404, 409)),
    ("/aggregates/{uuid}/metadata", "POST"): Operation(
        "Set metadata keys (null removes a key)", {200: "Aggregate"}, schemas.AGGREGATE_METADATA, _W),
    ("/aggregates/{uuid}/hosts/{name}", "PUT"): Operation("Add a host", {200: "Aggregate"}, errors=(400, 404, 409, 502)),
    ("/aggregates/{uuid}/hosts/{name}", "DELETE"): Operation("Remove a host", {200: "Aggregate"},
                                                             errors=(400, 404, 409, 502)),
    ("/server_groups", "GET"): Operation("List server groups", {200: "ServerGroups"}, errors=(), query=("project_id",)),
    ("/server_groups", "POST"): Operation("Create a server group", {201: "ServerGroup"}, schemas.SERVER_GROUP, _W),
    ("/server_groups/{uuid}", "GET"): Operation("Show a server group", {200: "ServerGroup"}),
    ("/server_groups/{uuid}", "DELETE"): Operation("Delete a server group", {204: None}),
    ("/server_groups/{uuid}/members/{instance}", "PUT"): Operation(
        "Add or move a member (the group's policy checked)", {200: "ServerGroup"}, schemas.GROUP_MEMBER, _W),
    ("/server_groups/{uuid}/members/{instance}", "DELETE"): Operation("Remove a member", {204: None}),
    ("/instances", "GET"): Operation("List instances", {200: "Instances"}, query=("host",)),
    ("/instances/{uuid}", "GET"): Operation("Show an instance", {200: "Instance"}),
    ("/instances/{uuid}", "PUT"): Operation("Record an instance (create, update, move)",
                                            {200: "Instance", 201: "Instance"}, schemas.INSTANCE, _W),
    ("/instances/{uuid}", "DELETE"): Operation("Remove an instance", {204: None}),
    ("/select_destinations", "POST"): Operation(
        "Choose and claim hosts for a request spec", {200: "ScheduleResult"}, _with_spec(scheduling.SELECT), _SCHED),
    ("/migrations", "POST"): Operation(
        "Choose and claim a destination for a move", {200: "ScheduleResult"}, _with_spec(scheduling.MOVE), _SCHED),
    ("/migrations/{uuid}/confirm", "POST"): Operation("Confirm a move", {204: None}, scheduling.FINISH, _SCHED),
    ("/migrations/{uuid}/revert", "POST"): Operation("Revert a move", {204: None}, scheduling.FINISH, _SCHED),
    ("/decisions", "GET"): Operation("This worker's recent decisions with their reasons, newest first",
                                     {200: "Decisions"}, errors=(400,), query=("limit", "outcome")),
    ("/capacity", "GET"): Operation("How many instances of a flavor fit now", {200: "Capacity"},
                                    errors=(400, 502, 503), query=capacity.PARAMETERS),
}


def route_methods() -> dict[str, list[str]]:
    """Every route template of a full scheduler app (with a scheduler) and its methods, in table order."""
    table = [*routes(None), *scheduling.routes(None)]  # type: ignore[arg-type]  # resources only keep them
    out: dict[str, list[str]] = {"/": ["GET"], "/openapi.json": ["GET"]}
    for template, resource in table:
        out[template] = [m.upper() for m in ("get", "put", "post", "delete") if hasattr(resource, f"on_{m}")]
    return out


def _responses(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, shape in sorted(op.ok.items()):
        response: dict[str, Any] = {"description": "Success.",
                                    "headers": {"x-openstack-request-id": ref("headers", "RequestId")}}
        if shape is not None:
            response["content"] = json_content(ref("schemas", shape))
        elif status == 200:
            response["content"] = json_content({"type": "object"})
        if status == 201:
            response["headers"]["location"] = {"description": "The URL of the new resource.",
                                               "schema": {"type": "string"}}
        out[str(status)] = response
    for status in op.errors:
        out[str(status)] = ref("responses", f"Error{status}")
    out["414"] = ref("responses", "UriTooLong")
    return out


def _operation(path: str, method: str, op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in path.split("/") if part.startswith("{")
    ]
    params += [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}} for name in op.query]
    words = [p.strip("{}").replace(".json", "") for p in path.split("/") if p]
    out: dict[str, Any] = {
        "operationId": "_".join([method.lower(), *words]) if words else f"{method.lower()}_root",
        "summary": op.summary,
        "responses": _responses(op),
    }
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": json_content(deepcopy(op.body))}
    return out


def build() -> dict[str, Any]:
    """The document; a KeyError names a route without an entry in ``OPERATIONS``."""
    paths = {
        path: {m.lower(): _operation(path, m, OPERATIONS[(path, m)]) for m in methods}
        for path, methods in route_methods().items()
    }
    statuses = sorted({s for op in OPERATIONS.values() for s in op.errors})
    error_item = deepcopy(ERROR_ITEM)
    error_item["properties"]["explanation"] = {
        "type": "object", "description": "scheduler.no_valid_host only: what ruled the hosts out, per request "
                                         "group and filter, and the nearest misses."}
    error_item["required"] = ["status", "title", "detail", "code", "request_id"]
    error_item["additionalProperties"] = False
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "allotment scheduler API",
            "version": "1",
            "description": "The host registry and the scheduler's decisions. /select_destinations and "
                           "/migrations are served when the app has a scheduler (allotment scheduler serve).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {
                **deepcopy(SHAPES),
                "ErrorBody": {
                    "type": "object",
                    "properties": {"errors": {"type": "array", "minItems": 1, "items": error_item}},
                    "required": ["errors"],
                    "additionalProperties": False,
                },
            },
            "responses": {
                f"Error{s}": {
                    "description": f"Error {s}: the errors envelope.",
                    "headers": {"x-openstack-request-id": ref("headers", "RequestId")},
                    "content": json_content(ref("schemas", "ErrorBody")),
                }
                for s in statuses
            } | {"UriTooLong": deepcopy(URI_TOO_LONG)},
            "headers": {"RequestId": deepcopy(REQUEST_ID_HEADER_SPEC)},
        },
    }


@functools.cache
def document_bytes() -> bytes:
    """The document as served and committed (built once per process)."""
    return dumps(build()).encode()


if __name__ == "__main__":
    write_document(document_bytes(), sys.argv)
