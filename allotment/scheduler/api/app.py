"""The scheduler API's WSGI application: ``create_app(registry)``.

Serve it with any WSGI server (gunicorn), or in-process through httpx's WSGITransport
(``allotment.scheduler.client.direct``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import falcon

from allotment.client import PlacementClient
from allotment.infra.limits import BodyTooLarge, BodyUnreadable, hold_body_within
from allotment.infra.logs import RequestLine, log_request, request_scope
from allotment.infra.request_ids import REQUEST_ID_HEADER, global_request_id, new_request_id
from allotment.scheduler import metrics
from allotment.scheduler.api import operations
from allotment.scheduler.api.errors import ApiError, install_error_handlers
from allotment.scheduler.api.auth import KeystonePolicy
from allotment.scheduler.api.resources import scheduling
from allotment.scheduler.api.routes import OpenApiDocument, Root, routes
from allotment.scheduler.config import MAX_REQUEST_BODY_SIZE
from allotment.scheduler.registry import Registry
from allotment.scheduler.registry.placement_sync import PlacementSync
from allotment.scheduler.service import Scheduler

__all__ = ["create_app"]

LOG = logging.getLogger("allotment.scheduler.api")


class _RequestLog:
    """A request id on every request and answer, records logged meanwhile carrying it, one line per request."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = new_request_id()
        req.context.global_request_id = global_request_id(req.env)
        req.context.started = time.perf_counter()
        # Entered here, left in process_response (Falcon calls both in the request's thread).
        scope = request_scope(req.context.request_id, req.context.global_request_id)
        scope.__enter__()
        req.context.log_scope = scope

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        started = getattr(req.context, "started", None)
        if req.path not in operations.PATHS:
            metrics.observe_request(req.uri_template, req.method, resp.status_code,
                                    time.perf_counter() - started if started else 0.0)
        request_id = getattr(req.context, "request_id", None)
        if request_id:
            resp.set_header(REQUEST_ID_HEADER, request_id)
        started = getattr(req.context, "started", None)
        data = resp.data if isinstance(resp.data, bytes) else None
        log_request(LOG, RequestLine(
            method=req.method,
            route=req.uri_template,
            path=req.path,
            query=req.query_string,
            status=resp.status_code,
            time_ms=(time.perf_counter() - started) * 1000 if started else 0.0,
            length=len(data) if data is not None else None,
            microversion=None,
            request_id=request_id or "-",
            global_request_id=getattr(req.context, "global_request_id", None),
            user_id=None,  # the scheduler's API does not authenticate (it sits behind the cloud's services)
            project_id=None,
            remote_addr=req.remote_addr,
        ))
        scope = getattr(req.context, "log_scope", None)
        if scope is not None:
            scope.__exit__(None, None, None)


class _BodyLimit:
    """413 for a body over the limit before any resource reads it (a chunked one: once it passes the limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            hold_body_within(req.env, self.limit)
        except BodyTooLarge:
            raise ApiError(413, f"request body larger than {self.limit} bytes", "scheduler.body_too_large") from None
        except BodyUnreadable as exc:
            raise ApiError(400, str(exc), "scheduler.bad_request") from None


def create_app(registry: Registry, *, extra_routes: Iterable[tuple[str, object]] = (),
               scheduler: Scheduler | None = None, placement: PlacementClient | None = None,
               max_request_body_size: int = MAX_REQUEST_BODY_SIZE, keystone_policy: bool = False) -> falcon.App:
    """The WSGI app over ``registry``; ``extra_routes`` adds (URI template, resource) pairs.

    With a ``scheduler`` (over the same registry) it also serves POST /select_destinations and /migrations.
    With ``placement``, changes to a host's aggregates or disabled flag are also made in placement
    (``registry.placement_sync``); a failed placement write answers 502 after the registry change.
    Bodies over ``max_request_body_size`` bytes (0: no limit) are refused with 413, unread.
    With ``keystone_policy`` it applies ``api.auth``'s rules to the identity Keystone's auth_token
    middleware (which the caller puts around the app) confirmed.
    """
    # The log first: 413s and policy refusals are logged too.
    middleware: list[Any] = [_RequestLog(), _BodyLimit(max_request_body_size)]
    if keystone_policy:
        middleware.append(KeystonePolicy())
    app = falcon.App(middleware=middleware)
    install_error_handlers(app)
    table = [*routes(registry), *(scheduling.routes(scheduler) if scheduler is not None else ()), *extra_routes]
    sync = PlacementSync(placement) if placement is not None else None
    for template, resource in table:
        if hasattr(resource, "placement_sync"):  # the aggregate-host and host-status resources
            resource.placement_sync = sync
        app.add_route(template, resource)
    app.add_route("/", Root([t for t, _ in table]))
    app.add_route("/openapi.json", OpenApiDocument())
    # Not in the route list nor the OpenAPI document: for the operator's monitoring, not the API.
    for template, resource in operations.routes(registry):
        app.add_route(template, resource)
    return app
