"""/hosts: register or update, list, show, delete, heartbeat, status."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from allotment.scheduler.api import schemas
from allotment.scheduler.api.media import host_name, read_json, write_json
from allotment.scheduler.api.serialize import host_json
from allotment.scheduler.errors import PlacementSyncError, ProviderNotFound
from allotment.scheduler.registry import NotFound, Registry
from allotment.scheduler.registry.common import UNSET
from allotment.scheduler.registry.placement_sync import PlacementSync


def sync_placement(sync: PlacementSync | None, call: Callable[[PlacementSync], object], done: str, name: str) -> None:
    """After a registry write, make placement agree (when the app has a placement client).

    The registry goes first: it validates the change (zones, duplicates) in its own
    transaction, and placement is only written for changes it accepted. If placement
    fails, the answer is 502 and the registry change stays; ``allotment host sync`` repairs.
    """
    if sync is None:
        return
    try:
        call(sync)
    except NotFound:
        return  # the host was deleted meanwhile: nothing left to keep in step
    except PlacementSyncError as exc:
        raise PlacementSyncError(
            f"{done} in the registry, and that change stays, but placement was not updated: {exc.detail}. Once "
            f"placement is fixed, repair it with 'allotment host sync {name}' (and --placement-url or "
            "--placement-db).") from exc


class HostCollection:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        cell = req.get_param("cell")
        write_json(resp, {"hosts": [host_json(h) for h in self.registry.list_hosts(cell=cell)]})


class HostItem:
    placement_sync: PlacementSync | None = None  # set by create_app(..., placement=...)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        write_json(resp, host_json(self.registry.get_host(host_name(name))))

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """Register the host, or update its facts; fields left out keep their value."""
        name = host_name(name)
        body = read_json(req, schemas.HOST)
        provider_uuid = body.pop("provider_uuid")
        host, created = self.registry.register_host(name, provider_uuid, body)
        write_json(resp, host_json(host), 201 if created else 200)
        if created:
            resp.location = f"/hosts/{falcon.uri.encode_value(name)}"

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        name = host_name(name)
        host = self.registry.get_host(name)
        self.registry.delete_host(name)
        # Once the host is gone the registry no longer knows which placement aggregates were
        # its own, so 'host sync' could not clean them up later: take the provider out now.
        if host.aggregates:
            sync_placement(self.placement_sync, lambda s: _leave_aggregates(s, host.provider_uuid, host.aggregates),
                           f"host {name!r} was deleted", name)
        resp.status = 204


def _leave_aggregates(sync: PlacementSync, provider_uuid: str, aggregates: list[str]) -> None:
    try:
        for agg in aggregates:
            sync.remove_host_from_aggregate(provider_uuid, agg)
    except ProviderNotFound:
        pass  # the provider is gone from placement too: nothing to take out


class HostHeartbeat:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self.registry.heartbeat(host_name(name))
        resp.status = 204


class HostStatus:
    placement_sync: PlacementSync | None = None  # set by create_app(..., placement=...)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        name = host_name(name)
        body = read_json(req, schemas.HOST_STATUS)
        host = self.registry.set_host_status(
            name, disabled=body.get("disabled"), disabled_reason=body.get("disabled_reason", UNSET),
            forced_down=body.get("forced_down"))
        if "disabled" in body:
            sync_placement(self.placement_sync, lambda s: s.sync_disabled(self.registry, name),
                           f"host {name!r} was {'disabled' if body['disabled'] else 'enabled'}", name)
        write_json(resp, host_json(host))
