"""Errors raised by the placement client, carrying placement's error code.

    PlacementError            any 4xx/5xx answer (status, code, detail, request_id)
    ├── BadRequest            400
    ├── Forbidden             403
    ├── NotFound              404
    ├── Conflict              409
    │   ├── GenerationConflict    code placement.concurrent_update
    │   └── InventoryInUse        code placement.inventory.inuse
    └── ServerError           5xx
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "GenerationConflict",
    "InventoryInUse",
    "NotFound",
    "PlacementError",
    "ServerError",
    "from_response",
]


class PlacementError(Exception):
    def __init__(self, status: int, detail: str, code: str | None = None, request_id: str | None = None) -> None:
        super().__init__(f"{status} {code or ''}: {detail}".strip())
        self.status = status
        self.detail = detail
        self.code = code
        self.request_id = request_id


class BadRequest(PlacementError):
    pass


class Forbidden(PlacementError):
    pass


class NotFound(PlacementError):
    pass


class Conflict(PlacementError):
    pass


class GenerationConflict(Conflict):
    """Someone changed the provider or consumer since its generation was read: refresh and retry."""


class InventoryInUse(Conflict):
    pass


class ServerError(PlacementError):
    pass


_BY_CODE: dict[str, type[PlacementError]] = {
    "placement.concurrent_update": GenerationConflict,
    "placement.inventory.inuse": InventoryInUse,
}
_BY_STATUS: dict[int, type[PlacementError]] = {400: BadRequest, 403: Forbidden, 404: NotFound, 409: Conflict}


def from_response(status: int, body: Any) -> PlacementError:
    """The typed error for an error response (the API-WG envelope, or anything else)."""
    detail, code, request_id = "", None, None
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        detail = str(first.get("detail", "")).strip()
        code = first.get("code")
        request_id = first.get("request_id")
    elif body is not None:
        detail = str(body)[:500]
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status) or (ServerError if status >= 500 else PlacementError)
    return cls(status, detail, code, request_id)
