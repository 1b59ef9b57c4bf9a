"""/aggregates: create, list, show, rename, delete, metadata, hosts."""

from __future__ import annotations

import falcon

from allotment.scheduler.api import schemas
from allotment.scheduler.api.media import host_name, read_json, uuid_param, write_json
from allotment.scheduler.api.resources.hosts import sync_placement
from allotment.scheduler.api.serialize import aggregate_json
from allotment.scheduler.registry import Registry
from allotment.scheduler.registry.placement_sync import PlacementSync


class AggregateCollection:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        write_json(resp, {"aggregates": [aggregate_json(a) for a in self.registry.list_aggregates()]})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, schemas.AGGREGATE_CREATE)
        agg = self.registry.create_aggregate(body["name"], uuid=body.get("uuid"), metadata=body.get("metadata"))
        write_json(resp, aggregate_json(agg), 201)
        resp.location = f"/aggregates/{agg.uuid}"


class AggregateItem:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        write_json(resp, aggregate_json(self.registry.get_aggregate(uuid_param(uuid, "aggregate uuid"))))

    def on_put(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        uuid = uuid_param(uuid, "aggregate uuid")
        body = read_json(req, schemas.AGGREGATE_UPDATE)
        write_json(resp, aggregate_json(self.registry.rename_aggregate(uuid, body["name"])))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        self.registry.delete_aggregate(uuid_param(uuid, "aggregate uuid"))
        resp.status = 204


class AggregateMetadata:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_post(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        """Set the given keys; a null value removes its key; other keys are kept."""
        uuid = uuid_param(uuid, "aggregate uuid")
        body = read_json(req, schemas.AGGREGATE_METADATA)
        write_json(resp, aggregate_json(self.registry.set_aggregate_metadata(uuid, body["metadata"])))


class AggregateHost:
    placement_sync: PlacementSync | None = None  # set by create_app(..., placement=...)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_put(self, req: falcon.Request, resp: falcon.Response, uuid: str, name: str) -> None:
        uuid, name = uuid_param(uuid, "aggregate uuid"), host_name(name)
        agg = self.registry.add_aggregate_host(uuid, name)
        self._sync(uuid, name, f"host {name!r} was added to aggregate {uuid}")
        write_json(resp, aggregate_json(agg))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uuid: str, name: str) -> None:
        uuid, name = uuid_param(uuid, "aggregate uuid"), host_name(name)
        agg = self.registry.remove_aggregate_host(uuid, name)
        self._sync(uuid, name, f"host {name!r} was removed from aggregate {uuid}")
        write_json(resp, aggregate_json(agg))

    def _sync(self, uuid: str, name: str, done: str) -> None:
        sync_placement(self.placement_sync, lambda s: s.sync_aggregates(self.registry, name, [uuid]), done, name)
