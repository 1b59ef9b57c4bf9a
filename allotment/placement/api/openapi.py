"""The OpenAPI 3.1 description of the placement API, built from the route table and the schemas.

``build()`` returns the document; ``python -m allotment.placement.api.openapi [FILE]`` writes
it (docs/openapi/placement.json is that output, and a test keeps the two equal). The
server answers it at ``GET /openapi.json``, without a token.

Where the pieces come from:

- paths and methods: ``routes.ROUTES`` (every route must have an entry in ``OPERATIONS``);
- the microversion an operation appeared or went away in: the handler's ``min_version`` /
  ``max_version`` (set by ``util.handler``);
- request bodies and query parameters: the JSON schemas in ``api/schemas/`` the handlers
  validate with, one ``anyOf`` branch per microversion range (later bodies extend earlier
  ones, so the branches overlap);
- response bodies: ``openapi_shapes`` (hand-written), one ``oneOf`` branch per range when
  the shapes exclude each other, ``anyOf`` when an empty answer fits several.

Every branch's ``title`` names its microversion range; ``x-microversion`` on an operation
gives its own range. The version is asked for with the ``OpenStack-API-Version`` header.
"""

from __future__ import annotations

import functools
import sys
from copy import deepcopy
from dataclasses import dataclass, field
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
from allotment.placement.api import microversion
from allotment.placement.api.openapi_shapes import SHAPES
from allotment.placement.api.routes import ROUTES
from allotment.placement.api.schemas import (
    allocation,
    inventory,
    names,
    reshaper,
    resource_provider,
    usage,
)
from allotment.placement.api.schemas.common import CUSTOM_PATTERN

__all__ = ["OPERATIONS", "build", "document_bytes"]

# (first version, last version or None, schema): one microversion range of a body or answer.
Branch = tuple[str, str | None, Any]


@dataclass(frozen=True)
class Operation:
    summary: str
    # Success status -> the body per microversion range (None: no body).
    ok: dict[int, list[Branch]]
    body: list[Branch] = field(default_factory=list)
    # Query parameter -> (first version, schema, description).
    query: dict[str, tuple[str, dict[str, Any], str]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    # The answer's branches overlap (an empty answer fits several): anyOf instead of oneOf.
    overlapping: bool = False
    # Versions of the operation when its handler does not carry them (several handlers on one route).
    versions: tuple[str, str | None] | None = None
    public: bool = False
    headers: tuple[str, ...] = ()
    description: str = ""


def _shape(name: str) -> dict[str, Any]:
    return ref("schemas", name)


def _since(version: str, schema: dict[str, Any] | None) -> list[Branch]:
    return [(version, None, schema)]


_ALWAYS = "1.0"
_NO_BODY: list[Branch] = [(_ALWAYS, None, None)]
_READ = (400, 401, 403, 404, 406)
_WRITE = (400, 401, 403, 404, 406, 409, 415)
_DELETE = (400, 401, 403, 404, 406, 409)

_PROVIDER = [("1.0", "1.13", _shape("Provider_1_0")), ("1.14", None, _shape("Provider_1_14"))]
_PROVIDER_LIST = [
    ("1.0", "1.13", {"type": "object", "properties": {"resource_providers": {"type": "array", "items": _shape(
        "Provider_1_0")}}, "required": ["resource_providers"], "additionalProperties": False}),
    ("1.14", None, {"type": "object", "properties": {"resource_providers": {"type": "array", "items": _shape(
        "Provider_1_14")}}, "required": ["resource_providers"], "additionalProperties": False}),
]
_Q_STRING: dict[str, Any] = {"type": "string"}


def _query_from(schema: dict[str, Any], since: dict[str, str], descriptions: dict[str, str]) -> dict[
        str, tuple[str, dict[str, Any], str]]:
    """Query parameters from a query-string schema's properties (the newest one holds them all)."""
    return {
        name: (since.get(name, _ALWAYS), deepcopy(prop), descriptions.get(name, ""))
        for name, prop in schema["properties"].items()
    }


_TRAITS_QUERY = (
    "Traits: a comma-separated list; !TRAIT forbids one (1.22); in:A,B any of (1.39, and the "
    "parameter may repeat)."
)
_MEMBER_OF = (
    "Aggregates: a uuid, or in:uuid1,uuid2 for any of; repeatable (1.24); !uuid or !in:... forbid (1.32)."
)
_RESOURCES = "Resource amounts: CLASS:amount,CLASS:amount."

_CANDIDATE_QUERY = {
    "resources": ("1.10", _Q_STRING, _RESOURCES + " Optional from 1.25 when a suffixed group is given."),
    "limit": ("1.16", {"type": "string", "pattern": "^[1-9][0-9]*$"}, "At most this many allocation requests."),
    "required": ("1.17", _Q_STRING, _TRAITS_QUERY),
    "member_of": ("1.21", _Q_STRING, _MEMBER_OF),
    "group_policy": ("1.25", {"type": "string", "enum": ["none", "isolate"]},
                     "How suffixed groups share providers; required with more than one suffixed group."),
    "in_tree": ("1.31", {"type": "string", "format": "uuid"}, "Only providers in the tree of this provider."),
    "root_required": ("1.35", _Q_STRING, "Traits the root provider must have (or, with !, lack)."),
    "same_subtree": ("1.36", _Q_STRING, "Comma-separated group suffixes whose providers share a subtree."),
}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/", "GET"): Operation(
        "The version document", {200: _since(_ALWAYS, _shape("Versions"))}, errors=(400, 406), public=True,
        headers=("last-modified",),
        description="Answers without a token, at any version.",
    ),
    ("/openapi.json", "GET"): Operation(
        "This document", {200: _since(_ALWAYS, {"type": "object"})}, errors=(400, 406), public=True,
        description="allotment's own route (upstream Placement has none): this OpenAPI document, without a token.",
    ),
    ("/resource_classes", "GET"): Operation(
        "List resource classes", {200: _since("1.2", _shape("ResourceClasses"))}, errors=_READ,
        headers=("last-modified",),
    ),
    ("/resource_classes", "POST"): Operation(
        "Create a custom resource class", {201: _since("1.2", None)}, body=_since("1.2", names.RESOURCE_CLASS_1_2),
        errors=_WRITE, headers=("location",),
    ),
    ("/resource_classes/{name}", "GET"): Operation(
        "Show a resource class", {200: _since("1.2", _shape("ResourceClass"))}, errors=_READ,
        headers=("last-modified",),
    ),
    ("/resource_classes/{name}", "PUT"): Operation(
        "Rename (1.2-1.6) or create (1.7) a custom resource class",
        {200: [("1.2", "1.6", _shape("ResourceClass"))], 201: _since("1.7", None), 204: _since("1.7", None)},
        body=[("1.2", "1.6", names.RESOURCE_CLASS_1_2)], errors=_WRITE, versions=("1.2", None),
        headers=("location",),
        description="1.2-1.6: renames the class to the body's name. From 1.7: no body; creates the class "
                    "named in the path (201) or confirms it exists (204).",
    ),
    ("/resource_classes/{name}", "DELETE"): Operation(
        "Delete a custom resource class", {204: _since("1.2", None)}, errors=_DELETE,
    ),
    ("/resource_providers", "GET"): Operation(
        "List resource providers", {200: _PROVIDER_LIST}, errors=_READ, headers=("last-modified",), overlapping=True,
        query=_query_from(
            resource_provider.LIST_PROVIDERS_1_18,
            {"member_of": "1.3", "resources": "1.4", "in_tree": "1.14", "required": "1.18"},
            {"member_of": _MEMBER_OF, "resources": _RESOURCES, "required": _TRAITS_QUERY,
             "in_tree": "Only providers in the tree of this provider."},
        ),
    ),
    ("/resource_providers", "POST"): Operation(
        "Create a resource provider",
        {201: [("1.0", "1.19", None)], 200: [("1.20", None, _shape("Provider_1_14"))]},
        body=[("1.0", "1.13", resource_provider.POST_PROVIDER), ("1.14", None, resource_provider.POST_PROVIDER_1_14)],
        errors=_WRITE, headers=("location",),
    ),
    ("/resource_providers/{uuid}", "GET"): Operation(
        "Show a resource provider", {200: _PROVIDER}, errors=_READ, headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}", "PUT"): Operation(
        "Update a resource provider (re-parent from 1.37)", {200: _PROVIDER},
        body=[("1.0", "1.13", resource_provider.PUT_PROVIDER), ("1.14", None, resource_provider.PUT_PROVIDER_1_14)],
        errors=_WRITE, headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}", "DELETE"): Operation(
        "Delete a resource provider", {204: _NO_BODY}, errors=_DELETE,
    ),
    ("/resource_providers/{uuid}/inventories", "GET"): Operation(
        "List a provider's inventories", {200: _since(_ALWAYS, _shape("Inventories"))}, errors=_READ,
        headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/inventories", "POST"): Operation(
        "Add one inventory", {201: _since(_ALWAYS, _shape("OneInventory"))}, body=_since(
            _ALWAYS, inventory.POST_INVENTORY), errors=_WRITE, headers=("location", "last-modified"),
    ),
    ("/resource_providers/{uuid}/inventories", "PUT"): Operation(
        "Replace all inventories", {200: _since(_ALWAYS, _shape("Inventories"))},
        body=_since(_ALWAYS, inventory.PUT_INVENTORIES), errors=_WRITE, headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/inventories", "DELETE"): Operation(
        "Delete all inventories", {204: _since("1.5", None)}, errors=(*_DELETE, 405),
        description="Before 1.5 the method is not allowed (405).",
    ),
    ("/resource_providers/{uuid}/inventories/{resource_class}", "GET"): Operation(
        "Show one inventory", {200: _since(_ALWAYS, _shape("OneInventory"))}, errors=_READ,
        headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/inventories/{resource_class}", "PUT"): Operation(
        "Update one inventory", {200: _since(_ALWAYS, _shape("OneInventory"))},
        body=_since(_ALWAYS, inventory.INVENTORY), errors=_WRITE, headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/inventories/{resource_class}", "DELETE"): Operation(
        "Delete one inventory", {204: _NO_BODY}, errors=_DELETE,
    ),
    ("/resource_providers/{uuid}/usages", "GET"): Operation(
        "A provider's usages", {200: _since(_ALWAYS, _shape("ProviderUsages"))}, errors=_READ,
        headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/aggregates", "GET"): Operation(
        "A provider's aggregates",
        {200: [("1.1", "1.18", _shape("Aggregates_1_1")), ("1.19", None, _shape("Aggregates_1_19"))]},
        errors=_READ, headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/aggregates", "PUT"): Operation(
        "Replace a provider's aggregates",
        {200: [("1.1", "1.18", _shape("Aggregates_1_1")), ("1.19", None, _shape("Aggregates_1_19"))]},
        body=[("1.1", "1.18", names.PUT_AGGREGATES_1_1), ("1.19", None, names.PUT_AGGREGATES_1_19)],
        errors=_WRITE, headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/allocations", "GET"): Operation(
        "Allocations against a provider",
        {200: [("1.0", "1.27", _shape("ProviderAllocations_1_0")),
               ("1.28", None, _shape("ProviderAllocations_1_28"))]},
        errors=_READ, overlapping=True, headers=("last-modified",),
    ),
    ("/allocations", "POST"): Operation(
        "Replace the allocations of several consumers", {204: _since("1.13", None)},
        body=[("1.13", "1.27", allocation.POST_ALLOCATIONS_1_13), ("1.28", "1.33", allocation.POST_ALLOCATIONS_1_28),
              ("1.34", "1.37", allocation.POST_ALLOCATIONS_1_34), ("1.38", None, allocation.POST_ALLOCATIONS_1_38)],
        errors=_WRITE,
    ),
    ("/allocations/{consumer_uuid}", "GET"): Operation(
        "A consumer's allocations",
        {200: [("1.0", "1.11", _shape("ConsumerAllocations_1_0")),
               ("1.12", "1.27", _shape("ConsumerAllocations_1_12")),
               ("1.28", "1.37", _shape("ConsumerAllocations_1_28")),
               ("1.38", None, _shape("ConsumerAllocations_1_38"))]},
        errors=_READ, overlapping=True, headers=("last-modified",),
    ),
    ("/allocations/{consumer_uuid}", "PUT"): Operation(
        "Replace a consumer's allocations", {204: _NO_BODY},
        body=[("1.0", "1.7", allocation.PUT_ALLOCATIONS_1_0), ("1.8", "1.11", allocation.PUT_ALLOCATIONS_1_8),
              ("1.12", "1.27", allocation.PUT_ALLOCATIONS_1_12), ("1.28", "1.33", allocation.PUT_ALLOCATIONS_1_28),
              ("1.34", "1.37", allocation.PUT_ALLOCATIONS_1_34), ("1.38", None, allocation.PUT_ALLOCATIONS_1_38)],
        errors=_WRITE,
    ),
    ("/allocations/{consumer_uuid}", "DELETE"): Operation(
        "Delete a consumer's allocations", {204: _NO_BODY}, errors=_DELETE,
    ),
    ("/traits", "GET"): Operation(
        "List traits", {200: _since("1.6", _shape("Traits"))}, errors=_READ, headers=("last-modified",),
        query={
            "name": ("1.6", _Q_STRING, "in:NAME1,NAME2 or startswith:PREFIX."),
            "associated": ("1.6", {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"},
                           "true: only traits of some provider; false: only the others."),
        },
    ),
    ("/traits/{name}", "GET"): Operation(
        "Whether a trait exists", {204: _since("1.6", None)}, errors=_READ, headers=("last-modified",),
    ),
    ("/traits/{name}", "PUT"): Operation(
        "Create a custom trait", {201: _since("1.6", None), 204: _since("1.6", None)}, errors=_WRITE,
        headers=("location", "last-modified"),
    ),
    ("/traits/{name}", "DELETE"): Operation("Delete a custom trait", {204: _since("1.6", None)}, errors=_DELETE),
    ("/resource_providers/{uuid}/traits", "GET"): Operation(
        "A provider's traits", {200: _since("1.6", _shape("ProviderTraits"))}, errors=_READ,
        headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/traits", "PUT"): Operation(
        "Replace a provider's traits", {200: _since("1.6", _shape("ProviderTraits"))},
        body=_since("1.6", names.PUT_PROVIDER_TRAITS), errors=_WRITE, headers=("last-modified",),
    ),
    ("/resource_providers/{uuid}/traits", "DELETE"): Operation(
        "Remove all of a provider's traits", {204: _since("1.6", None)}, errors=_DELETE,
    ),
    ("/usages", "GET"): Operation(
        "Usages of a project (and user)",
        {200: [("1.9", "1.37", _shape("Usages_1_9")), ("1.38", None, _shape("Usages_1_38"))]},
        errors=_READ, overlapping=True, headers=("last-modified",),
        query=_query_from(
            usage.USAGES_1_38, {"consumer_type": "1.38"},
            {"consumer_type": "A consumer type, all, or unknown (consumers without a type)."},
        ),
    ),
    ("/reshaper", "POST"): Operation(
        "Move inventories and allocations in one transaction", {204: _since("1.30", None)},
        body=[("1.30", "1.33", reshaper.RESHAPER_1_30), ("1.34", "1.37", reshaper.RESHAPER_1_34),
              ("1.38", None, reshaper.RESHAPER_1_38)],
        errors=_WRITE,
    ),
    ("/provider_graph", "GET"): Operation(
        "The whole provider graph (allotment's extension)", {200: _since(_ALWAYS, {
            "type": "object", "required": ["token", "providers"], "additionalProperties": False,
            "properties": {
                "token": {"type": "string", "description": "Names this graph: pass it as since= next time."},
                "since": {"type": "string", "description": "Present when only changes since that token are "
                                                           "answered."},
                "removed": {"type": "array", "items": {"type": "string", "format": "uuid"},
                            "description": "With since: providers deleted since then."},
                "providers": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "required": ["uuid", "generation", "parent_provider_uuid", "root_provider_uuid", "inventories",
                             "usages", "traits", "aggregates"],
                "properties": {
                    "uuid": {"type": "string", "format": "uuid"},
                    "generation": {"type": "integer"},
                    "parent_provider_uuid": {"type": ["string", "null"]},
                    "root_provider_uuid": {"type": "string", "format": "uuid"},
                    "inventories": {"type": "object", "additionalProperties": {
                        "type": "array", "items": {"type": "number"}, "minItems": 6, "maxItems": 6,
                        "description": "[total, reserved, min_unit, max_unit, step_size, allocation_ratio]"}},
                    "usages": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "traits": {"type": "array", "items": {"type": "string"}},
                    "aggregates": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                }}}}})}, errors=(400, 401, 403, 406),
        query={"since": (_ALWAYS, _Q_STRING, "A token of an earlier answer: only the providers added or changed "
                                             "since then, and the uuids of those removed. A token this worker "
                                             "does not remember gets the whole graph (no since in the answer).")},
        description="allotment's own route (upstream Placement has none): every provider with its inventories "
                    "(all capacity rules), usages, traits, aggregates and tree links, in one answer. Used by the "
                    "scheduler to explain refusals and count capacity; policy placement:provider_graph:show.",
    ),
    ("/allocation_candidates", "GET"): Operation(
        "Allocation candidates for a request",
        {200: [("1.10", "1.11", _shape("AllocationCandidates_1_10")),
               ("1.12", "1.16", _shape("AllocationCandidates_1_12")),
               ("1.17", "1.28", _shape("AllocationCandidates_1_17")),
               ("1.29", "1.33", _shape("AllocationCandidates_1_29")),
               ("1.34", None, _shape("AllocationCandidates_1_34"))]},
        errors=_READ, overlapping=True, headers=("last-modified",), query=_CANDIDATE_QUERY,
        description=(
            "From 1.25 the keys resources, required and member_of (and in_tree from 1.31) also take a "
            "suffix naming a request group: numeric (resources1) from 1.25, any of [a-zA-Z0-9_-]{1,64} "
            "(resources_ACCEL) from 1.33; each suffixed group is satisfied by one provider."
        ),
    ),
}


def _range(low: str, high: str | None) -> str:
    return f"microversion {low} and later" if high is None else f"microversion {low} to {high}"


def _alternatives(branches: list[Branch], combine: str) -> dict[str, Any] | None:
    present = [(lo, hi, s) for lo, hi, s in branches if s is not None]
    if not present:
        return None
    schemas = [{"title": _range(lo, hi), **deepcopy(s)} for lo, hi, s in present]
    return schemas[0] if len(schemas) == 1 else {combine: schemas}


def _responses(op: Operation, links: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    common_headers = {
        "x-openstack-request-id": ref("headers", "RequestId"),
        "openstack-api-version": ref("headers", "OpenStackApiVersion"),
    }
    for status, branches in sorted(op.ok.items()):
        ranges = "; ".join(_range(lo, hi) for lo, hi, _ in branches)
        response: dict[str, Any] = {"description": f"Success ({ranges})."}
        headers: dict[str, Any] = dict(common_headers)
        if "location" in op.headers and status in (200, 201, 204):
            headers["location"] = {"description": "The URL of the resource.", "schema": {"type": "string"}}
        if "last-modified" in op.headers:
            headers["last-modified"] = ref("headers", "LastModified")
            headers["cache-control"] = ref("headers", "CacheControl")
        response["headers"] = headers
        schema = _alternatives(branches, "anyOf" if op.overlapping else "oneOf")
        if schema is not None:
            response["content"] = json_content(schema)
        if links and status < 300:
            response["links"] = deepcopy(links)
        out[str(status)] = response
    for status in op.errors:
        out[str(status)] = ref("responses", f"Error{status}")
    out["414"] = ref("responses", "UriTooLong")
    return out


def _handler_versions(path: str, method: str, op: Operation) -> tuple[str, str | None]:
    if op.versions is not None:
        return op.versions
    fn = ROUTES[path][method]
    low = getattr(fn, "min_version", None)
    high = getattr(fn, "max_version", None)
    return (f"{low[0]}.{low[1]}" if low else _ALWAYS, f"{high[0]}.{high[1]}" if high else None)


def _operation(path: str, method: str, op: Operation) -> dict[str, Any]:
    low, high = _handler_versions(path, method, op)
    params: list[dict[str, Any]] = [ref("parameters", "OpenStackApiVersion")]
    for name in _path_names(path):
        schema = _PATH_PARAMS.get((path, method, name)) or _PATH_PARAMS.get((path, "*", name)) or _ANY_NAME
        params.append({"name": name, "in": "path", "required": True, "schema": deepcopy(schema)})
    for name, (since, schema, text) in op.query.items():
        param = {
            "name": name, "in": "query", "required": name in _REQUIRED_QUERY.get(path, ()), "schema": deepcopy(schema),
            "description": f"From microversion {since}. {text}".strip(),
        }
        if name in _QUERY_EXAMPLES:
            param["example"] = _QUERY_EXAMPLES[name]
        params.append(param)
    out: dict[str, Any] = {
        "operationId": _operation_id(path, method),
        "summary": op.summary,
        "tags": [_tag(path)],
        "parameters": params,
        "responses": _responses(op, _links(path, method)),
        "x-microversion": {"min": low, "max": high or microversion.MAX_VERSION},
    }
    description = f"Available from {_range(low, high)}. " + op.description if low != _ALWAYS or high else op.description
    if description:
        out["description"] = description.strip()
    body = _alternatives(op.body, "anyOf")
    if body is not None:
        # From 1.7 PUT /resource_classes/{name} takes no body, so a body is not always required.
        out["requestBody"] = {"required": all(s is not None for _, _, s in op.body) and op.versions is None,
                              "content": json_content(body)}
        if (path, method) in _BODY_EXAMPLES:
            out["requestBody"]["content"]["application/json"]["example"] = _BODY_EXAMPLES[(path, method)]
    if op.public:
        out["security"] = []
    return out


# Path parameters by (path, method or "*", name); other names are any non-empty segment.
_ANY_NAME: dict[str, Any] = {"type": "string", "minLength": 1}
_UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
_PATH_PARAMS: dict[tuple[str, str, str], dict[str, Any]] = {
    **{(p, "*", "uuid"): _UUID for p in ROUTES if p.startswith("/resource_providers/{uuid}")},
    # GET answers any string (no allocations); DELETE answers 404 for what is no consumer.
    ("/allocations/{consumer_uuid}", "PUT", "consumer_uuid"): _UUID,
    ("/resource_providers/{uuid}/inventories/{resource_class}", "*", "resource_class"): {
        "type": "string", "pattern": "^[A-Z0-9_]+$", "maxLength": 255},
    ("/traits/{name}", "PUT", "name"): deepcopy(names.CUSTOM_TRAIT),
    ("/resource_classes/{name}", "PUT", "name"): {"type": "string", "pattern": CUSTOM_PATTERN, "maxLength": 255},
}

_REQUIRED_QUERY = {"/usages": tuple(usage.USAGES_1_38["required"])}
_QUERY_EXAMPLES = {"resources": "VCPU:1,MEMORY_MB:512", "limit": "5", "required": "HW_CPU_X86_AVX2",
                   "group_policy": "isolate", "project_id": "admin", "user_id": "admin"}
_BODY_EXAMPLES: dict[tuple[str, str], Any] = {
    ("/resource_providers", "POST"): {"name": "compute-1"},
    ("/resource_classes", "POST"): {"name": "CUSTOM_FPGA"},
    ("/resource_providers/{uuid}/inventories", "POST"): {"resource_class": "VCPU", "total": 8},
}


def _provider_link(target: str, method: str) -> dict[str, Any]:
    return {"operationId": _operation_id(target, method), "parameters": {"uuid": "$response.body#/uuid"}}


def _links(path: str, method: str) -> dict[str, Any]:
    """OpenAPI links from an operation that creates something to those that use it (for stateful fuzzing)."""
    if (path, method) == ("/resource_providers", "POST"):  # the 200 from 1.20 carries the provider
        return {
            _operation_id(p, m): _provider_link(p, m)
            for p, ms in ROUTES.items() if p.startswith("/resource_providers/{uuid}") and "{resource_class}" not in p
            for m in ms
        }
    if (path, method) == ("/resource_providers/{uuid}/inventories", "POST"):
        target = "/resource_providers/{uuid}/inventories/{resource_class}"
        return {_operation_id(target, m): {"operationId": _operation_id(target, m), "parameters": {
            "uuid": "$request.path.uuid", "resource_class": "$request.body#/resource_class"}}
            for m in ROUTES[target]}
    by_request_path = {
        ("/traits/{name}", "PUT"): ("/traits/{name}", "name"),
        ("/resource_classes/{name}", "PUT"): ("/resource_classes/{name}", "name"),
        ("/allocations/{consumer_uuid}", "PUT"): ("/allocations/{consumer_uuid}", "consumer_uuid"),
    }
    if (path, method) in by_request_path:
        target, name = by_request_path[(path, method)]
        return {_operation_id(target, m): {"operationId": _operation_id(target, m),
                                           "parameters": {name: f"$request.path.{name}"}}
                for m in ROUTES[target] if m != method}
    if (path, method) == ("/resource_classes", "POST"):
        target = "/resource_classes/{name}"
        return {_operation_id(target, m): {"operationId": _operation_id(target, m),
                                           "parameters": {"name": "$request.body#/name"}} for m in ROUTES[target]}
    return {}


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    if not parts:
        return "root"
    if parts[0] == "resource_providers" and len(parts) > 1:
        return parts[1] if parts[1] != "inventories" else "inventories"
    return parts[0].removesuffix(".json")


def _operation_id(path: str, method: str) -> str:
    words = [p.strip("{}").replace(".json", "") for p in path.split("/") if p]
    return "_".join([method.lower(), *words]) if words else f"{method.lower()}_root"


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": f"Error {status}. The body follows the Accept header: the errors envelope as JSON "
                       "(the default), or HTML or plain text.",
        "headers": {"x-openstack-request-id": ref("headers", "RequestId")},
        "content": {
            "application/json": {"schema": ref("schemas", "ErrorBody")},
            "text/html": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }


def _components() -> dict[str, Any]:
    error_item = deepcopy(ERROR_ITEM)
    # A 406 for an unsupported microversion also names the versions on offer.
    error_item["properties"]["min_version"] = {"type": "string"}
    error_item["properties"]["max_version"] = {"type": "string"}
    error_item["additionalProperties"] = False
    versions = [f"placement {v}" for v in microversion.VERSIONS] + ["placement latest"]
    statuses = sorted({s for op in OPERATIONS.values() for s in op.errors})
    return {
        "schemas": {
            **{name: deepcopy(shape) for name, shape in SHAPES.items()},
            "ErrorBody": {
                "oneOf": [
                    {
                        "title": "errors envelope",
                        "type": "object",
                        "properties": {"errors": {"type": "array", "minItems": 1, "items": error_item}},
                        "required": ["errors"],
                        "additionalProperties": False,
                    },
                    {
                        "title": "missing token (401): the WSGI framework's own form",
                        "type": "object",
                        "properties": {"message": {"type": "string"}, "code": {"type": "string"},
                                       "title": {"type": "string"}},
                        "required": ["message", "code", "title"],
                        "additionalProperties": False,
                    },
                ]
            },
        },
        "responses": {**{f"Error{s}": _error_response(s) for s in statuses}, "UriTooLong": deepcopy(URI_TOO_LONG)},
        "parameters": {
            "OpenStackApiVersion": {
                "name": "OpenStack-API-Version",
                "in": "header",
                "required": False,
                "description": f"The microversion asked for, 'placement X.Y' or 'placement latest'; without it "
                               f"(or with only other services named) {microversion.MIN_VERSION}. Answers differ "
                               "by microversion: each schema alternative's title names its range. A malformed "
                               "version is a 400, one outside the range a 406.",
                "schema": {"type": "string", "examples": versions},
            }
        },
        "headers": {
            "RequestId": deepcopy(REQUEST_ID_HEADER_SPEC),
            "OpenStackApiVersion": {
                "description": "The microversion that answered, 'placement X.Y'.",
                "schema": {"type": "string", "pattern": r"^placement [0-9]+\.[0-9]+$"},
            },
            "LastModified": {"description": "From 1.15.", "schema": {"type": "string"}},
            "CacheControl": {"description": "From 1.15: no-cache.", "schema": {"type": "string"}},
        },
        "securitySchemes": {
            "token": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Auth-Token",
                "description": "noauth2: 'user' or 'user:project'; the user admin has the admin role.",
            }
        },
    }


def build() -> dict[str, Any]:
    """The document, from ``ROUTES`` and ``OPERATIONS``; a KeyError names a route without an entry."""
    paths: dict[str, Any] = {}
    for path, methods in ROUTES.items():
        paths[path] = {method.lower(): _operation(path, method, OPERATIONS[(path, method)]) for method in methods}
    stale = set(OPERATIONS) - {(p, m) for p, ms in ROUTES.items() for m in ms}
    if stale:
        raise KeyError(f"OPERATIONS describes routes that do not exist: {sorted(stale)}")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "allotment placement API",
            "version": microversion.MAX_VERSION,
            "description": "OpenStack Placement's API, microversions "
                           f"{microversion.MIN_VERSION} to {microversion.MAX_VERSION}, as allotment serves it.",
        },
        "servers": [{"url": "/"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": _components(),
    }


@functools.cache
def document_bytes() -> bytes:
    """The document as served and committed (built once per process)."""
    return dumps(build()).encode()


if __name__ == "__main__":
    write_document(document_bytes(), sys.argv)
