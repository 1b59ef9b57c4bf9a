"""Domain errors. Each carries the HTTP status it maps to and, where one exists, its error code.

    DomainError
    ├── NotFound          404
    ├── BadRequest        400
    └── Conflict          409 (code: concurrent_update, inventory.inuse, ...)
"""

from __future__ import annotations

from allotment.placement import errors

__all__ = ["BadRequest", "Conflict", "DomainError", "NotFound"]


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class NotFound(DomainError):
    status = 404


class BadRequest(DomainError):
    status = 400


class Conflict(DomainError):
    status = 409


def concurrent_update(message: str = "resource provider generation conflict") -> Conflict:
    return Conflict(message, errors.CONCURRENT_UPDATE)
