"""/server_groups: create, list, show, delete, and members placed under the group's policy."""

from __future__ import annotations

import falcon

from allotment.scheduler.api import schemas
from allotment.scheduler.api.media import read_json, uuid_param, write_json
from allotment.scheduler.api.serialize import group_json
from allotment.scheduler.registry import Registry


class GroupCollection:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        groups = self.registry.list_groups(project_id=req.get_param("project_id"))
        write_json(resp, {"server_groups": [group_json(g) for g in groups]})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, schemas.SERVER_GROUP)
        group = self.registry.create_group(
            body["name"], body["policy"], rules=body.get("rules"), project_id=body.get("project_id"),
            user_id=body.get("user_id"), uuid=body.get("uuid"))
        write_json(resp, group_json(group), 201)
        resp.location = f"/server_groups/{group.uuid}"


class GroupItem:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        write_json(resp, group_json(self.registry.get_group(uuid_param(uuid, "server group uuid"))))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        self.registry.delete_group(uuid_param(uuid, "server group uuid"))
        resp.status = 204


class GroupMember:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def on_put(self, req: falcon.Request, resp: falcon.Response, uuid: str, instance: str) -> None:
        """Add (or move) a member on a host; 409 scheduler.server_group.policy_violation if the policy forbids it."""
        uuid = uuid_param(uuid, "server group uuid")
        instance = uuid_param(instance, "instance uuid")
        body = read_json(req, schemas.GROUP_MEMBER)
        write_json(resp, group_json(self.registry.add_group_member(uuid, instance, body["host"])))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uuid: str, instance: str) -> None:
        self.registry.remove_group_member(uuid_param(uuid, "server group uuid"), uuid_param(instance, "instance uuid"))
        resp.status = 204
