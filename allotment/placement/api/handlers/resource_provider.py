"""Handlers for /resource_providers and /resource_providers/{uuid}.

POST: 201 without a body before 1.20, 200 with the provider from 1.20.
PUT: re-parenting and un-parenting allowed from 1.37.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from allotment.placement.api.http import HTTPError, Request, Response, json_response
from allotment.placement.api.query import parse_in_tree, parse_member_of, parse_required, parse_resources
from allotment.placement.api.schemas import resource_provider as schema
from allotment.placement.api.util import (
    canonical_uuid,
    empty,
    handler,
    json_body,
    latest,
    normalize_uuid,
    not_found_answered,
    set_last_modified,
    validate_query,
)
from allotment.placement.domain import providers
from allotment.placement.domain.exceptions import BadRequest, NotFound
from allotment.placement.domain.providers import Provider, ProviderFilters

POLICY = "placement:resource_providers:%s"


def provider_url(req: Request, uuid: str) -> str:
    return f"{req.environ.get('SCRIPT_NAME', '')}/resource_providers/{uuid}"


def serialize_provider(req: Request, p: Provider) -> dict[str, Any]:
    url = provider_url(req, p.uuid)
    version = req.version
    rels = ["inventories", "usages"]
    if version.matches((1, 1)):
        rels.append("aggregates")
    if version.matches((1, 6)):
        rels.append("traits")
    if version.matches((1, 11)):
        rels.append("allocations")
    data: dict[str, Any] = {
        "uuid": p.uuid,
        "name": p.name,
        "generation": p.generation,
        "links": [{"rel": "self", "href": url}, *({"rel": r, "href": f"{url}/{r}"} for r in rels)],
    }
    if version.matches((1, 14)):
        data["parent_provider_uuid"] = p.parent_provider_uuid
        data["root_provider_uuid"] = p.root_provider_uuid
    return data


@handler(require_json=True)
def create_resource_provider(req: Request) -> Response:
    req.context.can(POLICY % "create")
    data = json_body(req, schema.POST_PROVIDER_1_14 if req.version.matches((1, 14)) else schema.POST_PROVIDER)
    uuid = normalize_uuid(data["uuid"]) if data.get("uuid") else str(uuidlib.uuid4())
    parent = data.get("parent_provider_uuid")
    parent = canonical_uuid(parent) if parent else parent
    provider = req.app.store.write(lambda conn: providers.create_provider(conn, uuid, data["name"], parent))
    location = [("location", provider_url(req, provider.uuid))]
    if req.version.matches((1, 20)):
        resp = json_response(serialize_provider(req, provider))
        resp.headers += location
        return set_last_modified(req, resp, provider.created_at)
    return empty(201, location)


@handler(accept_json=True)
def get_resource_provider(req: Request) -> Response:
    req.context.can(POLICY % "show")
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
    return set_last_modified(
        req, json_response(serialize_provider(req, provider)), latest(provider.updated_at, provider.created_at)
    )


def _list_schema(req: Request) -> dict[str, Any]:
    for version, sch in (
        ((1, 18), schema.LIST_PROVIDERS_1_18),
        ((1, 14), schema.LIST_PROVIDERS_1_14),
        ((1, 4), schema.LIST_PROVIDERS_1_4),
        ((1, 3), schema.LIST_PROVIDERS_1_3),
    ):
        if req.version.matches(version):
            return sch
    return schema.LIST_PROVIDERS_1_0


@handler(accept_json=True)
def list_resource_providers(req: Request) -> Response:
    req.context.can(POLICY % "list")
    params = validate_query(req, _list_schema(req))
    uuid = params.get("uuid")
    filters = ProviderFilters(name=params.get("name"), uuid=canonical_uuid(uuid) if uuid else None)
    if "member_of" in params:
        filters.member_of, filters.forbidden_aggs = parse_member_of(req)
    if "required" in params:
        filters.required_traits, filters.forbidden_traits = parse_required(req)
    if "in_tree" in params:
        filters.in_tree = canonical_uuid(parse_in_tree(params["in_tree"]))
    if "resources" in params:
        filters.resources = parse_resources(params["resources"])
    with req.app.store.read() as conn:
        try:
            found = providers.list_providers(conn, filters)
        except NotFound as exc:
            raise HTTPError(400, f"Invalid resource class in resources parameter: {exc.message}") from None
        except BadRequest as exc:
            raise HTTPError(400, f'Invalid trait(s) in "required" parameter: {exc.message}') from None
    body = {"resource_providers": [serialize_provider(req, p) for p in found]}
    return set_last_modified(req, json_response(body), latest(*(latest(p.updated_at, p.created_at) for p in found)))


@handler(require_json=True)
def update_resource_provider(req: Request) -> Response:
    req.context.can(POLICY % "update")
    uuid = req.params["uuid"]
    with req.app.store.read() as conn:
        before = providers.get_provider(conn, uuid)
    data = json_body(req, schema.PUT_PROVIDER_1_14 if req.version.matches((1, 14)) else schema.PUT_PROVIDER)
    kwargs: dict[str, Any] = {"name": data.get("name")}
    if "parent_provider_uuid" in data:
        parent = data["parent_provider_uuid"]
        kwargs["parent_uuid"] = canonical_uuid(parent) if parent else parent
    provider = req.app.store.write(
        lambda conn: providers.update_provider(
            conn, uuid, allow_reparenting=req.version.matches((1, 37)), **kwargs
        )
    )
    # Upstream sends the provider's updated_at as it was read before the change: none at all
    # for a provider never changed since its creation.
    return set_last_modified(
        req, json_response(serialize_provider(req, provider)), before.updated_at, now_when_unknown=False
    )


@handler()
def delete_resource_provider(req: Request) -> Response:
    req.context.can(POLICY % "delete")
    with not_found_answered():
        req.app.store.write(lambda conn: providers.delete_provider(conn, req.params["uuid"]))
    return empty()
