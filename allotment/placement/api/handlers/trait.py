"""Handlers for /traits and /resource_providers/{uuid}/traits (from 1.6)."""

from __future__ import annotations

from typing import Any

from allotment.placement import errors
from allotment.placement.api.http import HTTPError, Request, Response, json_response
from allotment.placement.api.schemas import names as schema
from allotment.placement.api.util import (
    empty,
    handler,
    json_body,
    latest,
    not_found_answered,
    schema_error,
    set_last_modified,
    validate_query,
)
from allotment.placement.domain import names, provider_traits, providers
from allotment.placement.domain.providers import on_copy

POLICY = "placement:traits:%s"
RP_POLICY = "placement:resource_providers:traits:%s"


def _url(req: Request, name: str) -> str:
    return f"{req.environ.get('SCRIPT_NAME', '')}/traits/{name}"


def _names_response(req: Request, rows: list[names.NamedRow], extra: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"traits": [r.name for r in rows]}
    body.update(extra or {})
    return set_last_modified(req, json_response(body), latest(*(latest(r.updated_at, r.created_at) for r in rows)))


@handler(min_version="1.6")
def put_trait(req: Request) -> Response:
    req.context.can(POLICY % "update")
    name = req.params["name"]
    if schema_error(schema.CUSTOM_TRAIT, name) is not None:
        raise HTTPError(
            400,
            'The trait is invalid. A valid trait must be no longer than 255 characters, start with the prefix '
            '"CUSTOM_" and use following characters: "A"-"Z", "0"-"9" and "_"',
        )
    row, created = req.app.store.write(lambda conn: names.create_trait(conn, name))
    resp = empty(201 if created else 204, [("location", _url(req, name))])
    return set_last_modified(req, resp, row.created_at)


@handler(min_version="1.6")
def get_trait(req: Request) -> Response:
    req.context.can(POLICY % "show")
    with req.app.store.read() as conn, not_found_answered():
        row = names.get_trait(conn, req.params["name"])
    return set_last_modified(req, empty(), row.created_at)


@handler(min_version="1.6")
def delete_trait(req: Request) -> Response:
    req.context.can(POLICY % "delete")
    with not_found_answered():
        req.app.store.write(lambda conn: names.delete_trait(conn, req.params["name"]))
    return empty()


@handler(min_version="1.6", accept_json=True)
def list_traits(req: Request) -> Response:
    req.context.can(POLICY % "list")
    params = validate_query(req, schema.LIST_TRAITS)
    kwargs: dict[str, Any] = {}
    if "name" in params:
        op, sep, value = params["name"].partition(":")
        if not sep:
            raise HTTPError(
                400,
                "Badly formatted name parameter. Expected name query string parameter in form: "
                f'?name=[in|startswith]:[name1,name2|prefix]. Got: "{params["name"]}"',
            )
        if op == "in":
            kwargs["name_in"] = value.split(",")
        elif op == "startswith":
            kwargs["prefix"] = value
    if "associated" in params:
        flag = params["associated"].lower()
        if flag not in ("true", "false"):
            raise HTTPError(400, 'The query parameter "associated" only accepts "true" or "false"')
        kwargs["associated"] = flag == "true"
    with req.app.store.read() as conn:
        rows = names.list_traits(conn, **kwargs)
    return _names_response(req, rows)


@handler(min_version="1.6", accept_json=True)
def list_traits_for_resource_provider(req: Request) -> Response:
    req.context.can(RP_POLICY % "list")
    uuid = req.params["uuid"]
    with req.app.store.read() as conn:
        with not_found_answered():
            provider = providers.get_provider(conn, uuid, prefix=f"No resource provider with uuid {uuid} found: ")
        rows = provider_traits.get_traits(conn, provider)
    return _names_response(req, rows, {"resource_provider_generation": provider.generation})


@handler(min_version="1.6", require_json=True)
def update_traits_for_resource_provider(req: Request) -> Response:
    req.context.can(RP_POLICY % "update")
    data = json_body(req, schema.PUT_PROVIDER_TRAITS)
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
    if provider.generation != data["resource_provider_generation"]:
        raise HTTPError(
            409,
            "Resource provider's generation already changed. Please update the generation and try again.",
            code=errors.CONCURRENT_UPDATE,
        )

    def write(conn: Any) -> tuple[providers.Provider, list[names.NamedRow]]:
        rows: list[names.NamedRow] = []
        updated = on_copy(provider, lambda c, p: rows.extend(provider_traits.set_traits(c, p, data["traits"])), conn)
        return updated, rows

    updated, rows = req.app.store.write(write)
    return _names_response(req, rows, {"resource_provider_generation": updated.generation})


@handler(min_version="1.6")
def delete_traits_for_resource_provider(req: Request) -> Response:
    req.context.can(RP_POLICY % "delete")
    with req.app.store.read() as conn:
        provider = providers.get_provider(conn, req.params["uuid"])
    req.app.store.write(lambda conn: on_copy(provider, provider_traits.set_traits, conn, []))
    return empty()
