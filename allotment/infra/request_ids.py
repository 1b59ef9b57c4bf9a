"""Request ids: one per request, in every response and every log line about it."""

from __future__ import annotations

import uuid

__all__ = ["REQUEST_ID_HEADER", "new_request_id"]

REQUEST_ID_HEADER = "x-openstack-request-id"


def new_request_id() -> str:
    """``req-<uuid4>``, the form OpenStack services use."""
    return f"req-{uuid.uuid4()}"
