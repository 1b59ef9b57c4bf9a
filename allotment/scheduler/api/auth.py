"""Who may call the scheduler API when it runs behind Keystone (``auth_strategy = "keystone"``).

Keystone's auth_token middleware (around the whole application, see ``factory.build_app``)
validates the token; this Falcon middleware then applies two rules, in the spirit of
placement's secure-RBAC defaults: the scheduler is an operator's and a service's API.

- read (GET, HEAD): ``admin`` or ``service``, or ``reader`` on a system-scoped token;
- write (anything else, ``POST /select_destinations`` included): ``admin`` or ``service``.
"""

from __future__ import annotations

import falcon

from allotment.infra.keystone import Identity, keystone_identity
from allotment.scheduler.api import operations
from allotment.scheduler.api.errors import ApiError

__all__ = ["KeystonePolicy", "allowed"]

_READS = frozenset({"GET", "HEAD"})


def allowed(identity: Identity, method: str) -> bool:
    roles = {r.lower() for r in identity.roles}
    if roles & {"admin", "service"}:
        return True
    return method in _READS and "reader" in roles and identity.system_scope is not None


class KeystonePolicy:
    """401 without an identity the auth_token middleware confirmed, 403 when the rules say no."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The route list (like placement's version document) and the monitoring endpoints are public.
        if req.path == "/" or req.path in operations.PATHS:
            return
        identity = keystone_identity(req.env)
        if identity is None:
            raise ApiError(401, "The request you have made requires authentication.", "scheduler.unauthorized")
        if not allowed(identity, req.method):
            raise ApiError(403, f"{req.method} {req.path} is not allowed with roles "
                                f"{', '.join(identity.roles) or '(none)'}", "scheduler.forbidden")
        req.context.identity = identity
