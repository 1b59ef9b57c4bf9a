"""What both services' OpenAPI documents share: the error envelope, the request id header, the JSON form."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["ERROR_ITEM", "REQUEST_ID_HEADER_SPEC", "URI_TOO_LONG", "dumps", "json_content", "ref", "write_document"]

OPENAPI_VERSION = "3.1.0"

# One element of the API-WG errors envelope: {"errors": [ERROR_ITEM, ...]}.
ERROR_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "A stable error code, such as placement.concurrent_update."},
        "request_id": {"type": ["string", "null"], "description": "The x-openstack-request-id of the request."},
    },
    "required": ["status", "title", "detail"],
}

REQUEST_ID_HEADER_SPEC: dict[str, Any] = {
    "description": "The id of this request, as the service logs it (req-<uuid>).",
    "schema": {"type": "string", "pattern": "^req-[0-9a-f-]{36}$"},
}


# Answered by the HTTP server (gunicorn) before the application sees the request: a request
# line longer than it accepts. Any operation can get it; its body is gunicorn's HTML page.
URI_TOO_LONG: dict[str, Any] = {
    "description": "URI too long: refused by the HTTP server before the application, with an HTML page.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def dumps(document: dict[str, Any]) -> str:
    """The committed form of a document: sorted keys, two-space indent, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_document(document: bytes, argv: list[str]) -> None:
    """A generator's command line: the document into the file ``argv[1]`` names, else to stdout."""
    text = document.decode()
    if len(argv) > 1:
        with open(argv[1], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
