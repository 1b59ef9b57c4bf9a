"""Who is asking: the request context built by the auth layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from allotment.placement.api.http import HTTPError
from allotment.placement.api.policy import Enforcer, PolicyNotAuthorized

__all__ = ["RequestContext", "noauth_context"]


@dataclass
class RequestContext:
    user_id: str | None
    project_id: str | None
    roles: list[str] = field(default_factory=list)
    system_scope: str | None = None
    request_id: str = ""
    enforcer: Enforcer | None = None

    def credentials(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "project_id": self.project_id,
            "roles": self.roles,
            "system_scope": self.system_scope,
        }

    def can(self, action: str, target: dict[str, Any] | None = None) -> None:
        """Raise a 403 unless policy allows ``action``."""
        if self.enforcer is None:  # direct, in-process use: no auth
            return
        if target is None:
            target = {"project_id": self.project_id, "user_id": self.user_id}
        try:
            self.enforcer.authorize(action, target, self.credentials())
        except PolicyNotAuthorized as exc:
            raise HTTPError(403, str(exc), vary=False) from None


def noauth_context(environ: dict[str, Any], enforcer: Enforcer | None) -> RequestContext | None:
    """The context upstream's ``noauth2`` mode derives from the token; None without a token.

    Token ``user[:project]`` (project defaults to user); the user ``admin`` has the
    role ``admin`` unless ``X-Roles`` says otherwise; ``OpenStack-System-Scope``
    makes the request system scoped (no project).
    """
    token = environ.get("HTTP_X_AUTH_TOKEN")
    if token is None:
        return None
    user_id, _, project_id = token.partition(":")
    project_id = project_id or user_id
    if "HTTP_X_ROLES" in environ:
        roles = [r.strip() for r in environ["HTTP_X_ROLES"].split(",") if r.strip()]
    elif user_id == "admin":
        roles = ["admin"]
    else:
        roles = []
    scope = environ.get("HTTP_OPENSTACK_SYSTEM_SCOPE") or None
    # An explicit X-Project-Id wins over the token's project, as in oslo.context.
    explicit_project = environ.get("HTTP_X_PROJECT_ID")
    return RequestContext(
        user_id=user_id,
        project_id=explicit_project or (None if scope else project_id),
        roles=roles,
        system_scope=scope,
        enforcer=enforcer,
    )
