"""Handlers for /resource_providers/{uuid}/inventories[/{resource_class}]."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from allotment.placement import errors
from allotment.placement.api.handlers.resource_provider import provider_url
from allotment.placement.api.http import HTTPError, Request, Response, json_response
from allotment.placement.api.schemas import inventory as schema
from allotment.placement.api.util import (
    empty,
    handler,
    json_body,
    latest,
    not_found_answered,
    schema_error,
    set_last_modified,
)
from allotment.placement.domain import inventories, providers
from allotment.placement.domain.exceptions import Conflict
from allotment.placement.domain.inventories import DEFAULTS, ProviderInventory
from allotment.placement.domain.providers import Provider
from allotment.placement.domain.providers import on_copy as _on_copy

POLICY = "placement:resource_providers:inventories:%s"


def inventory_from_body(resource_class: str, data: dict[str, Any]) -> ProviderInventory:
    """A ProviderInventory from a request body, with the defaults for fields left out."""
    values = {**DEFAULTS, **data}
    values.pop("resource_provider_generation", None)
    values.pop("resource_class", None)
    return ProviderInventory(resource_class=resource_class, **values)


def _one(req: Request, provider: Provider, inv: ProviderInventory, status: int = 200) -> Response:
    body = inv.as_dict()
    if provider.generation:
        body["resource_provider_generation"] = provider.generation
    resp = json_response(body, status)
    return set_last_modified(req, resp, latest(inv.updated_at, inv.created_at))


def _all(req: Request, provider: Provider, invs: list[ProviderInventory]) -> Response:
    body = {
        "resource_provider_generation": provider.generation,
        "inventories": {i.resource_class: i.as_dict() for i in invs},
    }
    # No inventory, no last-modified: upstream takes the newest inventory's time and has none to take.
    when = latest(*(latest(i.updated_at, i.created_at) for i in invs))
    return set_last_modified(req, json_response(body), when, now_when_unknown=False)


def _check_generation(provider: Provider, data: dict[str, Any]) -> None:
    if data["resource_provider_generation"] != provider.generation:
        raise HTTPError(409, "resource provider generation conflict", code=errors.CONCURRENT_UPDATE)


def _provider_or_404(conn: Any, uuid: str) -> Provider:
    return providers.get_provider(conn, uuid, prefix=f"No resource provider with uuid {uuid} found : ")


@handler(accept_json=True)
def get_inventories(req: Request) -> Response:
    req.context.can(POLICY % "list")
    with req.app.store.read() as conn, not_found_answered():
        provider = _provider_or_404(conn, req.params["uuid"])
        invs = inventories.list_inventories(conn, provider)
    return _all(req, provider, invs)


@handler(accept_json=True)
def get_inventory(req: Request) -> Response:
    req.context.can(POLICY % "show")
    rc = req.params["resource_class"]
    with req.app.store.read() as conn, not_found_answered():
        provider = _provider_or_404(conn, req.params["uuid"])
        found = [i for i in inventories.list_inventories(conn, provider) if i.resource_class == rc]
    if not found:
        raise HTTPError(404, f"No inventory of class {rc} for {provider.uuid}")
    return _one(req, provider, found[0])


@handler(require_json=True)
def create_inventory(req: Request) -> Response:
    req.context.can(POLICY % "create")
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
    data = json_body(req, schema.POST_INVENTORY)
    inv = inventory_from_body(data["resource_class"], data)
    inventories.check_capacity(
        provider, [inv], reserved_can_be_total=req.version.matches((1, 26)), action="create"
    )

    def write(conn: Any) -> Provider:
        current = providers.get_provider(conn, provider.uuid)
        inventories.add_inventory(conn, current, inv)
        return current

    updated = req.app.store.write(write)
    resp = _one(req, updated, inv, 201)
    resp.add_header("location", f"{provider_url(req, provider.uuid)}/inventories/{inv.resource_class}")
    return resp


@handler(require_json=True)
def set_inventories(req: Request) -> Response:
    req.context.can(POLICY % "update")
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
    data = json_body(req, schema.PUT_INVENTORIES_KEYS_UNCHECKED)
    _check_generation(provider, data)
    # Upstream reaches a record under a key that is no class name only now (and answers
    # 500 for some malformed ones); we check them as the schema checks the others.
    for raw in data["inventories"].values():
        message = schema_error(schema.INVENTORY_RECORD, raw)
        if message is not None:
            raise HTTPError(400, f"JSON does not validate: {message}")
    invs = [inventory_from_body(rc, raw) for rc, raw in data["inventories"].items()]
    inventories.check_capacity(provider, invs, reserved_can_be_total=req.version.matches((1, 26)), action="update")
    below = not req.app.config.refuse_inventory_below_usage
    updated = req.app.store.write(
        lambda conn: _on_copy(
            provider, lambda c, p: inventories.set_inventories(c, p, invs, allow_below_usage=below), conn
        )
    )
    return _all(req, updated, invs)


@handler(min_version="1.5", below_status=405)
def delete_inventories(req: Request) -> Response:
    req.context.can(POLICY % "delete")
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])

    def write(conn: Any) -> None:
        try:
            inventories.set_inventories(conn, replace(provider), [])
        except Conflict as exc:
            if exc.code == errors.CONCURRENT_UPDATE:
                raise Conflict(
                    f"Unable to delete inventory for resource provider {provider.uuid} because the inventory "
                    "was updated by another process. Please retry your request.",
                    errors.CONCURRENT_UPDATE,
                ) from None
            raise Conflict(exc.message.removeprefix("update conflict: "), exc.code) from None

    req.app.store.write(write)
    return empty()


@handler(require_json=True)
def update_inventory(req: Request) -> Response:
    req.context.can(POLICY % "update")
    rc = req.params["resource_class"]
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
    data = json_body(req, schema.INVENTORY)
    _check_generation(provider, data)
    inv = inventory_from_body(rc, data)
    inventories.check_capacity(provider, [inv], reserved_can_be_total=req.version.matches((1, 26)), action="update")
    below = not req.app.config.refuse_inventory_below_usage
    updated = req.app.store.write(
        lambda conn: _on_copy(
            provider, lambda c, p: inventories.update_inventory(c, p, inv, allow_below_usage=below), conn
        )
    )
    return _one(req, updated, inv)


@handler()
def delete_inventory(req: Request) -> Response:
    req.context.can(POLICY % "delete")
    rc = req.params["resource_class"]
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
    with not_found_answered():
        req.app.store.write(lambda conn: _on_copy(provider, inventories.delete_inventory, conn, rc))
    return empty()
