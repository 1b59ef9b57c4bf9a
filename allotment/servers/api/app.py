"""The compute API's WSGI application; error answers, JSON bodies and limits are the scheduler API's.

Routes::

    POST   /servers                              create (202; uuids, or only the reservation id)
    GET    /servers[?reservation_id&host&status&cell&deleted]    list, across cells
    GET    /servers/{id}                         show (with the fault when it failed)
    DELETE /servers/{id}                         delete (204)
    POST   /servers/{id}/action                  resize, confirmResize, revertResize, migrate, evacuate (202)
    GET    /servers/{id}/os-instance-actions     the action log
    GET    /servers/{id}/migrations              its migrations

Who asks: ``X-User-Id``/``X-Project-Id``, else the noauth2 token ``user[:project]``.
"""

from __future__ import annotations

from typing import Any

import falcon

from allotment.infra.limits import BodyTooLarge, BodyUnreadable, hold_body_within
from allotment.infra.request_ids import REQUEST_ID_HEADER, new_request_id
from allotment.scheduler.api.errors import ApiError, install_error_handlers
from allotment.scheduler.api.media import read_json, uuid_param, write_json
from allotment.servers.api import schemas
from allotment.servers.compute_api import ComputeAPI, Identity

__all__ = ["create_app"]

MAX_BODY = 256 * 1024
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _who(req: falcon.Request) -> Identity:
    token = req.get_header("X-Auth-Token") or "admin"
    user, _, project = token.partition(":")
    return Identity(user_id=req.get_header("X-User-Id") or user,
                    project_id=req.get_header("X-Project-Id") or project or user,
                    request_id=req.context.request_id)


class _Door:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = new_request_id()
        try:
            hold_body_within(req.env, MAX_BODY)
        except BodyTooLarge:
            raise ApiError(413, f"request body larger than {MAX_BODY} bytes", "servers.body_too_large") from None
        except BodyUnreadable as exc:
            raise ApiError(400, str(exc), "servers.bad_request") from None

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, ok: bool) -> None:
        request_id = getattr(req.context, "request_id", None)
        if request_id:
            resp.set_header(REQUEST_ID_HEADER, request_id)


def _server_id(value: str) -> str:
    try:
        return uuid_param(value, "server id")
    except Exception:
        raise ApiError(404, f"server {value} could not be found", "servers.not_found") from None


class Servers:
    def __init__(self, api: ComputeAPI) -> None:
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        unknown = set(req.params) - {"reservation_id", "host", "status", "cell", "deleted"}
        if unknown:
            raise ApiError(400, f"unknown query parameter(s): {', '.join(sorted(unknown))}", "servers.bad_request")
        deleted = req.get_param("deleted") or "false"
        if deleted.lower() not in _BOOLS:
            raise ApiError(400, f"deleted: expected true or false, not {deleted!r}", "servers.bad_request")
        write_json(resp, {"servers": self.api.list_servers(
            reservation_id=req.get_param("reservation_id"), host=req.get_param("host"),
            status=req.get_param("status"), cell=req.get_param("cell"), deleted=_BOOLS[deleted.lower()])})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, schemas.CREATE)
        write_json(resp, self.api.create(body, _who(req)), status=202)


class Server:
    def __init__(self, api: ComputeAPI) -> None:
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        write_json(resp, {"server": self.api.view(self.api.get(_server_id(id), deleted=True))})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        self.api.delete(_server_id(id), _who(req))
        resp.status = 204


class ServerAction:
    def __init__(self, api: ComputeAPI) -> None:
        self.api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        uuid = _server_id(id)
        body = read_json(req, schemas.ACTION)
        self.api.action(uuid, body, _who(req))
        resp.status = 202


class ServerActions:
    def __init__(self, api: ComputeAPI) -> None:
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        write_json(resp, {"instanceActions": self.api.actions(_server_id(id))})


class ServerMigrations:
    def __init__(self, api: ComputeAPI) -> None:
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        write_json(resp, {"migrations": self.api.migrations(_server_id(id))})


class Root:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        write_json(resp, {"service": "allotment-compute", "routes": [t for t, _ in _TEMPLATES]})


_TEMPLATES: list[tuple[str, type]] = [
    ("/servers", Servers), ("/servers/{id}", Server), ("/servers/{id}/action", ServerAction),
    ("/servers/{id}/os-instance-actions", ServerActions), ("/servers/{id}/migrations", ServerMigrations),
]


def create_app(api: ComputeAPI) -> falcon.App:
    app = falcon.App(middleware=[_Door()])
    install_error_handlers(app)
    for template, resource in _TEMPLATES:
        app.add_route(template, resource(api))
    app.add_route("/", Root())
    return app
