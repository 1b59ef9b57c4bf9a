"""Request ids: one per request, in every response and every log line about it; and the global request id
a caller passes in (``X-OpenStack-Request-ID``), kept when it has the form oslo.middleware accepts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["GLOBAL_REQUEST_ID_HEADER", "REQUEST_ID_HEADER", "global_request_id", "new_request_id"]

REQUEST_ID_HEADER = "x-openstack-request-id"
# The same header name, inbound: the calling service's request id (Nova's), to be logged beside ours.
GLOBAL_REQUEST_ID_HEADER = "X-OpenStack-Request-ID"
_GLOBAL_ID = re.compile(r"^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")


def new_request_id() -> str:
    """``req-<uuid4>``, the form OpenStack services use."""
    return f"req-{uuid.uuid4()}"


def global_request_id(environ: Mapping[str, Any]) -> str | None:
    """The inbound ``X-OpenStack-Request-ID`` of a WSGI request when it is a ``req-<uuid>``; None otherwise
    (anything else is dropped, as oslo.middleware's RequestId does)."""
    value = environ.get("HTTP_X_OPENSTACK_REQUEST_ID", "")
    return value if _GLOBAL_ID.match(value) else None
