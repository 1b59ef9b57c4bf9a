"""Errors of the host registry; each carries the stable ``code`` the REST API reports."""

from __future__ import annotations

__all__ = ["Conflict", "GroupPolicyViolation", "InvalidInput", "NotFound", "RegistryError"]


class RegistryError(Exception):
    code = "scheduler.error"

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(RegistryError):
    code = "scheduler.not_found"


class Conflict(RegistryError):
    """A name or uuid already taken, or a state the change is not allowed from."""

    code = "scheduler.conflict"


class GroupPolicyViolation(Conflict):
    """Adding the member would break its server group's affinity or anti-affinity policy."""

    code = "scheduler.server_group.policy_violation"


class InvalidInput(RegistryError):
    code = "scheduler.bad_request"
