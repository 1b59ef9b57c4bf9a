"""Handlers for /resource_classes (from 1.2). PUT creates without a body from 1.7."""

from __future__ import annotations

from typing import Any

from allotment.placement.api.http import HTTPError, Request, Response, json_response
from allotment.placement.api.schemas import names as schema
from allotment.placement.api.util import (
    empty,
    handler,
    json_body,
    latest,
    schema_error,
    set_last_modified,
    versioned,
)
from allotment.placement.domain import names
from allotment.placement.domain.exceptions import NotFound

POLICY = "placement:resource_classes:%s"


def _url(req: Request, name: str) -> str:
    return f"{req.environ.get('SCRIPT_NAME', '')}/resource_classes/{name}"


def _serialize(req: Request, name: str) -> dict[str, Any]:
    return {"name": name, "links": [{"rel": "self", "href": _url(req, name)}]}


@handler(min_version="1.2", accept_json=True)
def list_resource_classes(req: Request) -> Response:
    req.context.can(POLICY % "list")
    with req.app.store.read() as conn:
        rows = names.list_classes(conn)
    body = {"resource_classes": [_serialize(req, r.name) for r in rows]}
    return set_last_modified(req, json_response(body), latest(*(latest(r.updated_at, r.created_at) for r in rows)))


@handler(min_version="1.2", require_json=True)
def create_resource_class(req: Request) -> Response:
    req.context.can(POLICY % "create")
    data = json_body(req, schema.RESOURCE_CLASS_1_2)
    req.app.store.write(lambda conn: names.create_class(conn, data["name"]))
    return empty(201, [("location", _url(req, data["name"]))])


@handler(min_version="1.2", accept_json=True)
def get_resource_class(req: Request) -> Response:
    req.context.can(POLICY % "show")
    with req.app.store.read() as conn:
        row = names.get_class(conn, req.params["name"])
    return set_last_modified(req, json_response(_serialize(req, row.name)), latest(row.updated_at, row.created_at))


@handler(min_version="1.2", max_version="1.6", require_json=True)
def _rename_resource_class(req: Request) -> Response:
    req.context.can(POLICY % "update")
    data = json_body(req, schema.RESOURCE_CLASS_1_2)
    row = req.app.store.write(lambda conn: names.update_class(conn, req.params["name"], data["name"]))
    return json_response(_serialize(req, row.name))


@handler(min_version="1.7")
def _ensure_resource_class(req: Request) -> Response:
    req.context.can(POLICY % "update")
    name = req.params["name"]
    message = schema_error(schema.RESOURCE_CLASS_1_2, {"name": name})
    if message is not None:
        raise HTTPError(400, f"JSON does not validate: {message}")

    def ensure(conn: Any) -> int:
        try:
            names.get_class(conn, name)
            return 204
        except NotFound:
            names.create_class(conn, name)
            return 201

    status = req.app.store.write(ensure)
    return empty(status, [("location", _url(req, name))])


update_resource_class = versioned(_rename_resource_class, _ensure_resource_class)


@handler(min_version="1.2")
def delete_resource_class(req: Request) -> Response:
    req.context.can(POLICY % "delete")
    req.app.store.write(lambda conn: names.delete_class(conn, req.params["name"]))
    return empty()
