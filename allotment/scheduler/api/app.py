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
from allotment.infra.request_ids import REQUEST_ID_HEADER, new_request_id
from allotment.scheduler.api.errors import install_error_handlers
from allotment.scheduler.api.resources import scheduling
from allotment.scheduler.api.routes import OpenApiDocument, Root, routes
from allotment.scheduler.registry import Registry
from allotment.scheduler.registry.placement_sync import PlacementSync
from allotment.scheduler.service import Scheduler

__all__ = ["create_app"]

LOG = logging.getLogger("allotment.scheduler.api")


class _RequestLog:
    """A request id on every request and answer, and one log line per request."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = new_request_id()
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        request_id = getattr(req.context, "request_id", None)
        if request_id:
            resp.set_header(REQUEST_ID_HEADER, request_id)
        started = getattr(req.context, "started", None)
        took = (time.perf_counter() - started) * 1000 if started else 0.0
        LOG.info("%s %s %s %.1fms %s", req.method, req.relative_uri, resp.status_code, took, request_id)


def create_app(registry: Registry, *, extra_routes: Iterable[tuple[str, object]] = (),
               scheduler: Scheduler | None = None, placement: PlacementClient | None = None) -> falcon.App:
    """The WSGI app over ``registry``; ``extra_routes`` adds (URI template, resource) pairs.

    With a ``scheduler`` (over the same registry) it also serves POST /select_destinations and /migrations.
    With ``placement``, changes to a host's aggregates or disabled flag are also made in placement
    (``registry.placement_sync``); a failed placement write answers 502 after the registry change.
    """
    app = falcon.App(middleware=[_RequestLog()])
    install_error_handlers(app)
    table = [*routes(registry), *(scheduling.routes(scheduler) if scheduler is not None else ()), *extra_routes]
    sync = PlacementSync(placement) if placement is not None else None
    for template, resource in table:
        if hasattr(resource, "placement_sync"):  # the aggregate-host and host-status resources
            resource.placement_sync = sync
        app.add_route(template, resource)
    app.add_route("/", Root([t for t, _ in table]))
    app.add_route("/openapi.json", OpenApiDocument())
    return app
