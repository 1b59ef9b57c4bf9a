"""GET /: the version document; GET /openapi.json: the API's OpenAPI document."""

from __future__ import annotations

from allotment.placement.api import microversion
from allotment.placement.api.http import Request, Response, json_response
from allotment.placement.api.util import set_last_modified


def home(req: Request) -> Response:
    body = {
        "versions": [
            {
                "id": f"v{microversion.MIN_VERSION}",
                "max_version": microversion.MAX_VERSION,
                "min_version": microversion.MIN_VERSION,
                "status": "CURRENT",
                "links": [{"rel": "self", "href": ""}],
            }
        ]
    }
    return set_last_modified(req, json_response(body), None)


def openapi(req: Request) -> Response:
    # Imported here: the document is built from the route table, which imports this module.
    from allotment.placement.api.openapi import document_bytes

    return Response(200, document_bytes(), [("content-type", "application/json")])
