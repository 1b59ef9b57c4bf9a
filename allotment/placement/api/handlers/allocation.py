"""Handlers for /allocations/{consumer_uuid}, POST /allocations and provider allocations.

Body forms: a list of {resource_provider, resources} before 1.12, a dict keyed by
provider after; project and user required from 1.8; consumer generations from
1.28; mappings from 1.34; consumer types from 1.38.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from allotment.placement.api.http import HTTPError, Request, Response, json_response
from allotment.placement.api.schemas import allocation as schema
from allotment.placement.api.util import (
    canonical_uuid,
    empty,
    handler,
    is_uuid_like,
    json_body,
    latest,
    normalize_uuid,
    not_found_answered,
    set_last_modified,
)
from allotment.placement.domain import allocations, providers
from allotment.placement.domain.allocations import ConsumerAllocations, MissingClass, MissingProvider

POLICY = "placement:allocations:%s"


def _put_schema(req: Request) -> dict[str, Any]:
    for version, sch in (
        ((1, 38), schema.PUT_ALLOCATIONS_1_38),
        ((1, 34), schema.PUT_ALLOCATIONS_1_34),
        ((1, 28), schema.PUT_ALLOCATIONS_1_28),
        ((1, 12), schema.PUT_ALLOCATIONS_1_12),
        ((1, 8), schema.PUT_ALLOCATIONS_1_8),
    ):
        if req.version.matches(version):
            return sch
    return schema.PUT_ALLOCATIONS_1_0


def _post_schema(req: Request) -> dict[str, Any]:
    for version, sch in (
        ((1, 38), schema.POST_ALLOCATIONS_1_38),
        ((1, 34), schema.POST_ALLOCATIONS_1_34),
        ((1, 28), schema.POST_ALLOCATIONS_1_28),
    ):
        if req.version.matches(version):
            return sch
    return schema.POST_ALLOCATIONS_1_13


def consumer_request(req: Request, uuid: str, data: dict[str, Any]) -> ConsumerAllocations:
    """One consumer's part of a request body, in the domain's terms."""
    raw = data["allocations"]
    if isinstance(raw, list):  # before 1.12
        allocs = {canonical_uuid(a["resource_provider"]["uuid"]): dict(a["resources"]) for a in raw}
    else:
        allocs = {canonical_uuid(rp): dict(v["resources"]) for rp, v in raw.items()}
    return ConsumerAllocations(
        uuid=uuid,
        project_id=data.get("project_id"),
        user_id=data.get("user_id"),
        allocations=allocs,
        generation=data.get("consumer_generation"),
        check_generation=req.version.matches((1, 28)),
        consumer_type=data.get("consumer_type") if req.version.matches((1, 38)) else None,
    )


def consumer_defaults(req: Request) -> tuple[str, str]:
    """The project and user of consumers written without them (before 1.8)."""
    conf = req.app.config
    return conf.incomplete_consumer_project_id, conf.incomplete_consumer_user_id


def write_claims(req: Request, requests: list[ConsumerAllocations], op: Callable[[Any], None]) -> None:
    """Run ``op`` in one write transaction.

    A write naming a provider that does not exist is refused, but the consumers
    it named that did not exist are kept, at generation 0: upstream creates them
    before it looks the providers up and does not remove them on that error, so
    the next write for them must name generation 0.
    """
    try:
        req.app.store.write(op)
    except MissingProvider:
        req.app.store.write(lambda conn: allocations.create_new_consumers(conn, requests, consumer_defaults(req)))
        raise


@handler(require_json=True)
def set_allocations_for_consumer(req: Request) -> Response:
    req.context.can(POLICY % "update")
    uuid = req.params["consumer_uuid"]
    if not is_uuid_like(uuid):
        raise HTTPError(400, f"Malformed consumer_uuid: {uuid}")
    uuid = normalize_uuid(uuid)
    data = json_body(req, _put_schema(req))
    request = consumer_request(req, uuid, data)
    try:
        write_claims(
            req, [request], lambda conn: allocations.replace_allocations(conn, [request], consumer_defaults(req))
        )
    except MissingClass as exc:
        raise HTTPError(400, f"Unable to allocate inventory for consumer {uuid}: {exc.message}") from None
    return empty()


@handler(min_version="1.13", require_json=True)
def set_allocations(req: Request) -> Response:
    req.context.can(POLICY % "manage")
    data = json_body(req, _post_schema(req))
    for uuid in data:
        if not is_uuid_like(uuid):
            raise HTTPError(400, f"Malformed consumer_uuid: {uuid}")
    requests = [consumer_request(req, canonical_uuid(uuid), body) for uuid, body in data.items()]
    try:
        write_claims(req, requests, lambda conn: allocations.replace_allocations(conn, requests, consumer_defaults(req)))
    except MissingClass as exc:
        raise HTTPError(400, f"Unable to allocate inventory {exc.message}") from None
    return empty()


@handler(accept_json=True)
def list_for_consumer(req: Request) -> Response:
    req.context.can(POLICY % "list")
    with req.app.store.read() as conn:
        rows = allocations.for_consumer(conn, req.params["consumer_uuid"])
    by_rp: dict[str, dict[str, Any]] = defaultdict(lambda: {"resources": {}})
    for r in rows:
        by_rp[r.provider_uuid]["resources"][r.resource_class] = r.used
        by_rp[r.provider_uuid]["generation"] = r.provider_generation
    body: dict[str, Any] = {"allocations": by_rp}
    version = req.version
    if rows and version.matches((1, 12)):
        body["project_id"] = rows[0].project
        body["user_id"] = rows[0].user
        if version.matches((1, 28)):
            body["consumer_generation"] = rows[0].consumer_generation
        if version.matches((1, 38)):
            body["consumer_type"] = rows[0].consumer_type or "unknown"
    return set_last_modified(req, json_response(body), latest(*(latest(r.updated_at, r.created_at) for r in rows)))


@handler(accept_json=True)
def list_for_resource_provider(req: Request) -> Response:
    req.context.can("placement:resource_providers:allocations:list")
    uuid = req.params["uuid"]
    with req.app.store.read() as conn, not_found_answered():
        provider = providers.get_provider(conn, uuid, prefix=f"Resource provider '{uuid}' not found: ")
        rows = allocations.for_provider(conn, provider.id)
    by_consumer: dict[str, dict[str, Any]] = defaultdict(lambda: {"resources": {}})
    with_generation = req.version.matches((1, 28))
    for r in rows:
        by_consumer[r.consumer_uuid]["resources"][r.resource_class] = r.used
        if with_generation:
            by_consumer[r.consumer_uuid]["consumer_generation"] = r.consumer_generation
    body = {"allocations": by_consumer, "resource_provider_generation": provider.generation}
    return set_last_modified(req, json_response(body), latest(*(latest(r.updated_at, r.created_at) for r in rows)))


@handler()
def delete_allocations(req: Request) -> Response:
    req.context.can(POLICY % "delete")
    uuid = req.params["consumer_uuid"]
    with not_found_answered():
        req.app.store.write(lambda conn: allocations.delete_consumer_allocations(conn, uuid))
    return empty()
