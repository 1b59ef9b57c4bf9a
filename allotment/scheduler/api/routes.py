"""Every route of the scheduler API, in one table.

To add a resource (``POST /select_destinations``, say), append a line to ``routes`` or pass
``extra_routes`` to ``create_app``.
"""

from __future__ import annotations

from typing import Any

from allotment.scheduler.api.media import write_json
from allotment.scheduler.api.resources import aggregates, hosts, instances, server_groups
from allotment.scheduler.registry import Registry

__all__ = ["OpenApiDocument", "Root", "routes"]


class Root:
    def __init__(self, templates: list[str]) -> None:
        self.templates = templates

    def on_get(self, req: Any, resp: Any) -> None:
        write_json(resp, {"service": "allotment-scheduler", "routes": self.templates})


class OpenApiDocument:
    """GET /openapi.json: the API's OpenAPI document."""

    def on_get(self, req: Any, resp: Any) -> None:
        # Imported here: the document is built from this module's route table.
        from allotment.scheduler.api.openapi import document_bytes

        resp.content_type = "application/json"
        resp.data = document_bytes()


def routes(registry: Registry) -> list[tuple[str, object]]:
    """(URI template, resource) pairs."""
    table: list[tuple[str, object]] = [
        ("/hosts", hosts.HostCollection(registry)),
        ("/hosts/{name}", hosts.HostItem(registry)),
        ("/hosts/{name}/heartbeat", hosts.HostHeartbeat(registry)),
        ("/hosts/{name}/status", hosts.HostStatus(registry)),
        ("/aggregates", aggregates.AggregateCollection(registry)),
        ("/aggregates/{uuid}", aggregates.AggregateItem(registry)),
        ("/aggregates/{uuid}/metadata", aggregates.AggregateMetadata(registry)),
        ("/aggregates/{uuid}/hosts/{name}", aggregates.AggregateHost(registry)),
        ("/server_groups", server_groups.GroupCollection(registry)),
        ("/server_groups/{uuid}", server_groups.GroupItem(registry)),
        ("/server_groups/{uuid}/members/{instance}", server_groups.GroupMember(registry)),
        ("/instances", instances.InstanceCollection(registry)),
        ("/instances/{uuid}", instances.InstanceItem(registry)),
    ]
    return table
