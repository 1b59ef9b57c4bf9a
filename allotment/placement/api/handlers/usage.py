"""Handlers for provider usages and GET /usages (from 1.9; by consumer type from 1.38)."""

from __future__ import annotations

from allotment.placement.api.http import Request, Response, json_response
from allotment.placement.api.schemas import usage as schema
from allotment.placement.api.util import handler, not_found_answered, set_last_modified, validate_query
from allotment.placement.domain import providers, usages


@handler(accept_json=True)
def list_usages(req: Request) -> Response:
    req.context.can("placement:resource_providers:usages")
    uuid = req.params["uuid"]
    with req.app.store.read() as conn, not_found_answered():
        provider = providers.get_provider(conn, uuid, prefix=f"No resource provider with uuid {uuid} found: ")
        used = usages.provider_usages(conn, provider)
    body = {"resource_provider_generation": provider.generation, "usages": used}
    return set_last_modified(req, json_response(body), None)


@handler(min_version="1.9", accept_json=True)
def get_total_usages(req: Request) -> Response:
    project_id = req.get("project_id")
    req.context.can("placement:usages", {"project_id": project_id})
    by_type = req.version.matches((1, 38))
    params = validate_query(req, schema.USAGES_1_38 if by_type else schema.USAGES_1_9)
    with req.app.store.read() as conn:
        if by_type:
            body: dict[str, object] = {
                "usages": usages.total_usages_by_type(
                    conn, params["project_id"], params.get("user_id"), params.get("consumer_type")
                )
            }
        else:
            body = {"usages": usages.total_usages(conn, params["project_id"], params.get("user_id"))}
    return set_last_modified(req, json_response(body), None)
