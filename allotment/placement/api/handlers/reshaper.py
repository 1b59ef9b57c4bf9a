"""Handler for POST /reshaper (from 1.30)."""

from __future__ import annotations

from allotment.placement.api.handlers.allocation import consumer_defaults, consumer_request, write_claims
from allotment.placement.api.handlers.inventory import inventory_from_body
from allotment.placement.api.http import HTTPError, Request, Response
from allotment.placement.api.schemas import reshaper as schema
from allotment.placement.api.util import empty, handler, json_body
from allotment.placement.domain import reshaper
from allotment.placement.domain.allocations import MissingClass
from allotment.placement.domain.exceptions import BadRequest
from allotment.placement.domain.inventories import check_capacity
from allotment.placement.domain.providers import Provider


@handler(min_version="1.30", require_json=True)
def reshape(req: Request) -> Response:
    req.context.can("placement:reshaper:reshape")
    version = req.version
    if version.matches((1, 38)):
        sch = schema.RESHAPER_1_38
    elif version.matches((1, 34)):
        sch = schema.RESHAPER_1_34
    else:
        sch = schema.RESHAPER_1_30
    data = json_body(req, sch)
    new_inventories = {}
    for uuid, body in data["inventories"].items():
        invs = [inventory_from_body(rc, raw) for rc, raw in body["inventories"].items()]
        stub = Provider(0, uuid, "", 0, None, uuid, 0, None, None, None)  # type: ignore[arg-type]
        check_capacity(stub, invs, reserved_can_be_total=version.matches((1, 26)), action="update")
        new_inventories[uuid] = (body["resource_provider_generation"], invs)
    requests = [consumer_request(req, uuid, body) for uuid, body in data["allocations"].items()]
    below = not req.app.config.refuse_inventory_below_usage
    try:
        write_claims(
            req,
            requests,
            lambda conn: reshaper.reshape(
                conn, new_inventories, requests, consumer_defaults(req), allow_below_usage=below
            ),
        )
    except MissingClass as exc:
        raise HTTPError(400, f"malformed reshaper data: {exc.message}") from None
    except BadRequest as exc:
        if exc.message.startswith("Unknown resource class"):
            raise HTTPError(400, f"malformed reshaper data: {exc.message}") from None
        raise
    return empty()
