"""Handlers for /resource_providers/{uuid}/aggregates (from 1.1; with generations from 1.19)."""

from __future__ import annotations

from typing import Any

from allotment.placement import errors
from allotment.placement.api.http import HTTPError, Request, Response, json_response
from allotment.placement.api.schemas import names as schema
from allotment.placement.api.util import canonical_uuid, handler, json_body, set_last_modified
from allotment.placement.domain import aggregates, providers
from allotment.placement.domain.providers import Provider, on_copy

POLICY = "placement:resource_providers:aggregates:%s"


def _send(req: Request, provider: Provider, uuids: list[str]) -> Response:
    body: dict[str, Any] = {"aggregates": uuids}
    if req.version.matches((1, 19)):
        body["resource_provider_generation"] = provider.generation
    return set_last_modified(req, json_response(body), None)


@handler(min_version="1.1", accept_json=True)
def get_aggregates(req: Request) -> Response:
    req.context.can(POLICY % "list")
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
        uuids = aggregates.get_aggregates(conn, provider)
    return _send(req, provider, uuids)


@handler(min_version="1.1", require_json=True)
def set_aggregates(req: Request) -> Response:
    req.context.can(POLICY % "update")
    with_generation = req.version.matches((1, 19))
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
    data = json_body(req, schema.PUT_AGGREGATES_1_19 if with_generation else schema.PUT_AGGREGATES_1_1)
    if with_generation:
        if provider.generation != data["resource_provider_generation"]:
            raise HTTPError(
                409,
                "Resource provider's generation already changed. Please update the generation and try again.",
                code=errors.CONCURRENT_UPDATE,
            )
        uuids = [canonical_uuid(u) for u in data["aggregates"]]
    else:
        uuids = [canonical_uuid(u) for u in data]
    updated = req.app.store.write(
        lambda conn: on_copy(
            provider, lambda c, p: aggregates.set_aggregates(c, p, uuids, bump=with_generation), conn
        )
    )
    return _send(req, updated, uuids)
