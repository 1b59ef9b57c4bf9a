"""The scheduler's decisions over HTTP: POST /select_destinations and the /migrations routes.

    POST /select_destinations         {"request_spec": {...}, "return_alternates": true,
                                       "dry_run": false}                                  -> 200 the result
    POST /migrations                  {"request_spec": {...}, "migration_uuid": "..."}    -> 200 the result
    POST /migrations/{uuid}/confirm   {"instance_uuid": "..."}                            -> 204
    POST /migrations/{uuid}/revert    {"instance_uuid": "..."}                            -> 204
    GET  /decisions?limit=N&outcome=no_valid_host                                         -> 200 newest first

The request spec is ``RequestSpec.to_dict()``. Errors: a malformed spec is 400
``scheduler.invalid_request_spec``; no host is 409 ``scheduler.no_valid_host`` with the
per-filter reason; placement failing is 502 (it answered with an error) or 503 (it could not
be reached).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import falcon
import httpx

from allotment.client import PlacementError
from allotment.scheduler.api.errors import ApiError
from allotment.scheduler.api.media import read_json, uuid_param, write_json
from allotment.scheduler.errors import PLACEMENT_FAILED, PLACEMENT_UNREACHABLE, InvalidRequestSpec
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import RequestSpec

__all__ = ["routes"]

_UUID = {"type": "string", "maxLength": 36}
SELECT = {
    "type": "object",
    "properties": {"request_spec": {"type": "object"}, "return_alternates": {"type": "boolean"},
                   "dry_run": {"type": "boolean"}},
    "required": ["request_spec"],
    "additionalProperties": False,
}
MOVE = {
    "type": "object",
    "properties": {"request_spec": {"type": "object"}, "migration_uuid": _UUID},
    "required": ["request_spec", "migration_uuid"],
    "additionalProperties": False,
}
FINISH = {
    "type": "object",
    "properties": {"instance_uuid": _UUID},
    "required": ["instance_uuid"],
    "additionalProperties": False,
}


@contextlib.contextmanager
def answers() -> Iterator[None]:
    """Placement failing, as API errors (the scheduler's own exceptions have their handler in ``api.errors``)."""
    try:
        yield
    except PlacementError as exc:
        raise ApiError(PLACEMENT_FAILED.status, f"placement answered {exc}", PLACEMENT_FAILED.code) from None
    except httpx.HTTPError as exc:
        raise ApiError(PLACEMENT_UNREACHABLE.status, f"placement could not be reached: {exc}",
                       PLACEMENT_UNREACHABLE.code) from None


def _spec(data: Any) -> RequestSpec:
    try:
        return RequestSpec.from_dict(data)
    except InvalidRequestSpec as exc:
        raise InvalidRequestSpec(f"request_spec: {exc}") from None


class SelectDestinations:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, SELECT)
        spec = _spec(body["request_spec"])
        with answers():
            result = self.scheduler.select_destinations(spec, return_alternates=body.get("return_alternates", True),
                                                        dry_run=body.get("dry_run", False))
        write_json(resp, result.to_dict())


class Migrations:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, MOVE)
        migration = uuid_param(body["migration_uuid"], "migration uuid")
        spec = _spec(body["request_spec"])
        with answers():
            result = self.scheduler.schedule_move(spec, migration_uuid=migration)
        write_json(resp, result.to_dict())


class FinishMigration:
    """Confirm or revert, by the route's last segment."""

    def __init__(self, scheduler: Scheduler, action: str) -> None:
        self.scheduler = scheduler
        self.action = action

    def on_post(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        migration = uuid_param(uuid, "migration uuid")
        instance = uuid_param(read_json(req, FINISH)["instance_uuid"], "instance uuid")
        with answers():
            if self.action == "confirm":
                self.scheduler.confirm_move(instance, migration)
            else:
                self.scheduler.revert_move(instance, migration)
        resp.status = 204


_OUTCOMES = ("placed", "no_valid_host", "error")


class Decisions:
    """The last decisions of this worker (``Scheduler.decisions``), newest first, with their reasons."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raw = req.get_param("limit")
        limit: int | None = None
        if raw is not None:
            if not raw.isdigit() or not 1 <= int(raw) <= 10000:
                raise ApiError(400, f"limit: {raw!r} is not a whole number from 1 to 10000", "scheduler.bad_request")
            limit = int(raw)
        outcome = req.get_param("outcome")
        if outcome is not None and outcome not in _OUTCOMES:
            raise ApiError(400, f"outcome: {outcome!r} is not one of {', '.join(_OUTCOMES)}", "scheduler.bad_request")
        found = self.scheduler.decisions.recent(limit, outcome=outcome)
        write_json(resp, {"decisions": [d.to_dict() for d in found]})


def routes(scheduler: Scheduler) -> list[tuple[str, object]]:
    """(URI template, resource) pairs, for ``create_app(..., scheduler=...)``."""
    from allotment.scheduler.api.resources import capacity  # it uses this module's ``answers``

    return [
        ("/select_destinations", SelectDestinations(scheduler)),
        ("/migrations", Migrations(scheduler)),
        ("/migrations/{uuid}/confirm", FinishMigration(scheduler, "confirm")),
        ("/migrations/{uuid}/revert", FinishMigration(scheduler, "revert")),
        ("/decisions", Decisions(scheduler)),
        ("/capacity", capacity.Capacity(scheduler)),
    ]
