"""Every error answer in one shape: ``{"errors": [{"status", "title", "detail", "code", "request_id"}]}``."""

from __future__ import annotations

import http
import logging
from typing import Any

import falcon
import orjson

from allotment.scheduler.errors import SchedulerError, answer_for

__all__ = ["ApiError", "install_error_handlers"]

LOG = logging.getLogger(__name__)

# Codes for errors Falcon raises itself (routing, methods).
_FALCON_CODES = {404: "scheduler.not_found", 405: "scheduler.method_not_allowed", 400: "scheduler.bad_request",
                 413: "scheduler.body_too_large", 415: "scheduler.unsupported_media_type"}


class ApiError(Exception):
    """An error raised by a handler: status, detail and code."""

    def __init__(self, status: int, detail: str, code: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code


def _render(req: falcon.Request, resp: falcon.Response, status: int, detail: str, code: str,
            headers: Any = None, explanation: Any = None) -> None:
    title = http.HTTPStatus(status).phrase
    request_id = getattr(req.context, "request_id", None)
    error: dict[str, Any] = {"status": status, "title": title, "detail": detail, "code": code,
                             "request_id": request_id}
    if explanation is not None:  # a refusal's reasons, structured (scheduler.cycle.explain)
        error["explanation"] = explanation
    body = {"errors": [error]}
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(body)
    for name, value in (headers or {}).items():
        resp.set_header(name, value)


def _scheduler_error(req: falcon.Request, resp: falcon.Response, ex: SchedulerError, params: dict[str, Any]) -> None:
    answer = answer_for(ex)  # status and code from the one table, allotment.scheduler.errors.KINDS
    if answer.status >= 500:  # placement unreachable and the like: the operator needs the why
        LOG.error("%s %s answered %d: %s", req.method, req.path, answer.status, answer.detail, exc_info=ex)
    _render(req, resp, answer.status, answer.detail, answer.code, explanation=getattr(ex, "explanation", None))


def _api_error(req: falcon.Request, resp: falcon.Response, ex: ApiError, params: dict[str, Any]) -> None:
    if ex.status >= 500:
        LOG.error("%s %s answered %d: %s", req.method, req.path, ex.status, ex.detail, exc_info=ex)
    _render(req, resp, ex.status, ex.detail, ex.code)


def _http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: dict[str, Any]) -> None:
    status = int(ex.status_code)
    detail = ex.description or ex.title or http.HTTPStatus(status).phrase
    if status == 404 and not ex.description:
        detail = f"no resource at {req.path}"
    elif status == 405 and not ex.description:
        detail = f"{req.method} is not allowed on {req.path}"
    _render(req, resp, status, str(detail), _FALCON_CODES.get(status, f"scheduler.http_{status}"), ex.headers)


def _unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]) -> None:
    LOG.exception("unexpected error serving %s %s", req.method, req.path)
    _render(req, resp, 500, "internal error; see the scheduler log", "scheduler.internal_error")


def install_error_handlers(app: falcon.App) -> None:
    # Falcon picks the handler of the most specific class, whatever the order here.
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(falcon.HTTPError, _http_error)
    app.add_error_handler(SchedulerError, _scheduler_error)
    app.add_error_handler(ApiError, _api_error)
