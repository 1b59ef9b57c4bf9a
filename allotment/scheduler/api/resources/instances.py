"""/instances: record (create, update, move), show, list by host, remove."""

from __future__ import annotations

import falcon

from allotment.scheduler.api import schemas
from allotment.scheduler.api.media import host_name, read_json, uuid_param, write_json
from allotment.scheduler.api.serialize import instance_json
from allotment.scheduler.registry import Registry


class InstanceCollection:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        host = req.get_param("host")
        found = self.registry.list_instances(host=host_name(host) if host is not None else None)
        write_json(resp, {"instances": [instance_json(i) for i in found]})


class InstanceItem:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        write_json(resp, instance_json(self.registry.get_instance(uuid_param(uuid, "instance uuid"))))

    def on_put(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        """Create or update; fields left out keep their value; a new host moves it (group policy checked)."""
        uuid = uuid_param(uuid, "instance uuid")
        body = read_json(req, schemas.INSTANCE)
        host = body.pop("host", None)
        instance, created = self.registry.record_instance(uuid, host, **body)
        write_json(resp, instance_json(instance), 201 if created else 200)
        if created:
            resp.location = f"/instances/{uuid}"

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        self.registry.remove_instance(uuid_param(uuid, "instance uuid"))
        resp.status = 204
