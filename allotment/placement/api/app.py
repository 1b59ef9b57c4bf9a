"""The placement WSGI application: one request pipeline, routes as data.

Order of the layers, outermost first, and why:

1. request id and log line: every response, errors included, carries
   ``x-openstack-request-id``; a valid inbound one is kept as the global request id;
   every record logged meanwhile carries both; a missing or ``*/*`` Accept becomes
   JSON so errors come back as JSON.
2. CORS (when configured): pre-flight answers and response headers.
3. auth (``noauth2``, or Keystone's auth_token middleware): no valid token is a 401 before
   anything else runs (except ``GET /`` and ``GET /openapi.json``).
4. fault barrier: an unexpected exception is a logged 500, never a traceback.
5. microversion: negotiated here, so every response below carries the version headers.
6. dispatch: 413 for a body over ``[api] max_request_body_size`` (before it is read),
   404 for unknown paths, 405 with ``Allow`` for unknown methods.

``GET /metrics``, ``/healthz`` and ``/readyz`` are answered before all of these, without a
token, and are not in the route table: they are ours, not part of the Placement API (see
``operations``). Every other request is counted and timed for ``/metrics``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from allotment.infra.database import Database
from allotment.infra.limits import BodyTooLarge, BodyUnreadable, hold_body_within
from allotment.infra.logs import RequestLine, log_request, request_scope
from allotment.infra.request_ids import REQUEST_ID_HEADER, global_request_id, new_request_id
from allotment.placement import errors
from allotment.placement.api import metrics, microversion, operations
from allotment.placement.api.context import RequestContext, keystone_context, noauth_context
from allotment.placement.api.http import ENV_MICROVERSION, ENV_REQUEST_ID, HTTPError, Request, Response
from allotment.placement.api.keystone import KeystoneGate
from allotment.placement.api.policy import Enforcer
from allotment.placement.api.routes import ROUTES
from allotment.placement.candidates.model import ReadModel
from allotment.placement.config import Config
from allotment.placement.domain.exceptions import DomainError, NotFound

__all__ = ["PlacementApp", "make_app", "make_ready_app"]

LOG = logging.getLogger("allotment.placement.api")

# Answered without a token: the version document (as upstream) and the OpenAPI document.
_PUBLIC_PATHS = ("/", "", "/openapi.json")

Route = tuple[re.Pattern[str], dict[str, Callable[[Request], Response]], str, str]
ENV_ROUTE = "placement.route"  # the URL template that matched, for the request log
ENV_GLOBAL_REQUEST_ID = "openstack.global_request_id"  # where oslo.middleware puts it


def _compile(routes: dict[str, dict[str, Callable[[Request], Response]]]) -> list[Route]:
    compiled = []
    for template, methods in routes.items():
        pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
        compiled.append((re.compile(pattern), methods, ", ".join(methods), template))
    return compiled


class PlacementApp:
    """WSGI callable serving the placement API over one ``Database``."""

    def __init__(self, config: Config, store: Database, *, auth: bool = True) -> None:
        self.config = config
        self.store = store
        # The worker's in-memory provider graph for allocation candidates, refreshed per query.
        self.read_model = ReadModel(store)
        self.auth = auth
        self.enforcer = (
            Enforcer.from_file(
                config.policy_file,
                enforce_new_defaults=config.enforce_new_defaults,
                enforce_scope=config.enforce_scope,
            )
            if auth
            else None
        )
        self.routes = _compile(ROUTES)
        # Under Keystone the middleware validates the token, then the context comes from its headers.
        self.keystone: KeystoneGate | None = None
        if auth and config.auth_strategy == "keystone":
            self.keystone = KeystoneGate(self._in_context, config.keystone_authtoken)
        self.cors_origins = set(config.cors_allowed_origin)
        self.capacity_collector = metrics.CapacityCollector(store)

    # -- outer layers ---------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = new_request_id()
        environ[ENV_REQUEST_ID] = request_id
        global_id = global_request_id(environ)
        if global_id is not None:
            environ[ENV_GLOBAL_REQUEST_ID] = global_id
        accept = environ.get("HTTP_ACCEPT")
        if not accept or accept == "*/*":
            environ["HTTP_ACCEPT"] = "application/json"
        with request_scope(request_id, global_id):
            operation = operations.OPERATIONS.get(environ.get("PATH_INFO", ""))
            if operation is not None and environ["REQUEST_METHOD"] == "GET":
                response = operation(self)
            else:
                response = self._cors(environ)
                version = environ.get(ENV_MICROVERSION)
                metrics.observe_request(
                    environ.get(ENV_ROUTE), environ["REQUEST_METHOD"],
                    f"{version.major}.{version.minor}" if version is not None else None,
                    response.status, time.perf_counter() - started, response.body)
            response.add_header(REQUEST_ID_HEADER, request_id)
            self._log(environ, response, started)
        return response(environ, start_response)

    def _log(self, environ: dict[str, Any], response: Response, started: float) -> None:
        version = environ.get(ENV_MICROVERSION)
        context = environ.get("placement.context")
        log_request(LOG, RequestLine(
            method=environ["REQUEST_METHOD"],
            route=environ.get(ENV_ROUTE),
            path=environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            query=environ.get("QUERY_STRING", ""),
            status=response.status,
            time_ms=(time.perf_counter() - started) * 1000,
            length=len(response.body),
            microversion=f"{version.major}.{version.minor}" if version is not None else None,
            request_id=environ[ENV_REQUEST_ID],
            global_request_id=environ.get(ENV_GLOBAL_REQUEST_ID),
            user_id=getattr(context, "user_id", None),
            project_id=getattr(context, "project_id", None),
            remote_addr=environ.get("REMOTE_ADDR"),
        ))

    def _cors(self, environ: dict[str, Any]) -> Response:
        origin = environ.get("HTTP_ORIGIN")
        if not self.cors_origins or origin is None:
            return self._authenticated(environ)
        allowed = origin in self.cors_origins or "*" in self.cors_origins
        if environ["REQUEST_METHOD"] == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            response = Response(200)
            if allowed:
                response.add_header("Access-Control-Allow-Origin", origin)
                response.add_header("Vary", "Origin")
                response.add_header("Access-Control-Allow-Methods", environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"])
                wanted = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
                if wanted:
                    permitted = {h.lower() for h in self.config.cors_allow_headers}
                    asked = [h.strip() for h in wanted.split(",") if h.strip()]
                    if all(h.lower() in permitted for h in asked):
                        response.add_header("Access-Control-Allow-Headers", ", ".join(asked))
            return response
        response = self._authenticated(environ)
        if allowed:
            response.add_header("Access-Control-Allow-Origin", origin)
            response.add_header("Vary", "Origin")
        return response

    def _authenticated(self, environ: dict[str, Any]) -> Response:
        if self.keystone is not None:
            return self.keystone(environ)
        return self._in_context(environ)

    def _in_context(self, environ: dict[str, Any]) -> Response:
        path = environ.get("PATH_INFO", "")
        context: RequestContext | None
        if self.auth:
            context = (keystone_context if self.keystone is not None else noauth_context)(environ, self.enforcer)
            if context is None and path not in _PUBLIC_PATHS:
                return HTTPError(401, envelope=False).to_response(environ)
        else:
            context = RequestContext(user_id="admin", project_id="admin", roles=["admin"])
        if context is not None:
            context.request_id = environ[ENV_REQUEST_ID]
        environ["placement.context"] = context
        try:
            return self._versioned(environ)
        except Exception:
            LOG.exception("unexpected error serving %s %s", environ["REQUEST_METHOD"], path)
            return HTTPError(
                500, "An unexpected error occurred; the request id identifies it in the server log."
            ).to_response(environ)

    def _versioned(self, environ: dict[str, Any]) -> Response:
        try:
            version = microversion.negotiate(environ)
        except ValueError as exc:
            return HTTPError(406, f"Invalid microversion: {exc}").to_response(environ)
        except TypeError as exc:
            return HTTPError(400, f"Invalid microversion: {exc}").to_response(environ)
        environ[ENV_MICROVERSION] = version
        vary = True
        try:
            response = self._dispatch(environ)
        except HTTPError as exc:
            if exc.status >= 500:
                LOG.exception("%s %s answered %d: %s", environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                              exc.status, exc.detail)
            response = exc.to_response(environ)
            vary = exc.vary
        except DomainError as exc:
            if exc.status >= 500:
                LOG.exception("%s %s answered %d: %s", environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                              exc.status, exc.message)
            response = HTTPError(exc.status, exc.message, code=exc.code).to_response(environ)
            # A NotFound from the domain is one the handler let through, as upstream's
            # handlers do with most lookups; those it answers itself are HTTPErrors.
            vary = not isinstance(exc, NotFound)
        response.add_header("openstack-api-version", f"placement {version.major}.{version.minor}")
        if vary:
            response.add_header("vary", "openstack-api-version")
        return response

    # -- dispatch -------------------------------------------------------------------------------

    def _dispatch(self, environ: dict[str, Any]) -> Response:
        # Before any handler reads the body: a body over the limit is refused unread (or, chunked, part read).
        try:
            hold_body_within(environ, self.config.limits.max_request_body_size)
        except BodyTooLarge as exc:
            raise HTTPError(413, str(exc), code=errors.REQUEST_TOO_LARGE, vary=False) from None
        except BodyUnreadable as exc:
            raise HTTPError(400, str(exc), vary=False) from None
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                has_body = int(length) > 0
            except ValueError:
                raise HTTPError(400, "content-length header must be an integer", vary=False) from None
            if has_body and not environ.get("CONTENT_TYPE"):
                raise HTTPError(400, "content-type header required when content-length > 0", vary=False)
        path = environ.get("PATH_INFO", "")
        if path == "":
            path = "/"
        for pattern, methods, allow, template in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            environ[ENV_ROUTE] = template
            fn = methods.get(environ["REQUEST_METHOD"])
            if fn is None:
                raise HTTPError(
                    405, "The method specified is not allowed for this resource.", headers=[("allow", allow)]
                )
            params = match.groupdict()
            if any("\x00" in v for v in params.values()):
                raise HTTPError(400, "NUL characters are not allowed in the path")
            req = Request(environ, params)
            req.app = self
            return fn(req)
        raise HTTPError(404, vary=False)


def make_app(config: Config, store: Database | None = None, *, auth: bool = True) -> PlacementApp:
    return PlacementApp(config, store or Database(config.db_url), auth=auth)


def make_ready_app(config: Config, store: Database | None = None, *, auth: bool = True) -> PlacementApp:
    """``make_app`` with the read model built: a served worker calls it before it accepts a connection.

    gunicorn starts a worker's accept loop only once its application is loaded, so the
    first candidates query a worker answers finds the model ready instead of building it
    (seconds at 100,000 providers) while the client waits.
    """
    app = make_app(config, store, auth=auth)
    started, cpu = time.perf_counter(), time.thread_time()
    app.read_model.refresh()
    # CPU time too: on a busy machine the wall time says more about the neighbours than the build.
    LOG.info("read model built: %d providers in %.2f s (%.2f s CPU)", len(app.read_model.providers),
             time.perf_counter() - started, time.thread_time() - cpu)
    return app
