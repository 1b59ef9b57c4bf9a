"""GET /: the version document."""

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
