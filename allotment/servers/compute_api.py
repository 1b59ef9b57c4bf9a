"""``ComputeAPI``: what the REST resources call. Records first, then one cast; nothing waits for a host.

A create writes every server (BUILD/scheduling), its stored request and a ``create``
action in one transaction and casts ``schedule_and_build_instances`` to the conductor, so
it answers with uuids (or only the reservation id) at once. Moves and deletes check the
server's state, set the task state, record the action and cast to the conductor.
Errors are ``ApiError`` (status, detail, code ``servers.*``).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

from allotment.scheduler.api.errors import ApiError
from allotment.scheduler.errors import InvalidRequestSpec
from allotment.scheduler.errors import NotFound as RegistryNotFound
from allotment.scheduler.registry import Registry
from allotment.servers import states
from allotment.servers.messages import CONDUCTOR_TOPIC, cast
from allotment.servers.specs import request_spec
from allotment.servers.store import Server, ServerStore
from allotment.servers.transport import Transport, TransportError

__all__ = ["ComputeAPI", "Identity"]

FLAVOR_DEFAULTS = {"root_gb": 0, "ephemeral_gb": 0, "swap": 0, "extra_specs": {}}


class Identity:
    def __init__(self, user_id: str, project_id: str, request_id: str | None = None) -> None:
        self.user_id = user_id
        self.project_id = project_id
        self.request_id = request_id


def _flavor(data: Mapping[str, Any]) -> dict[str, Any]:
    return {**FLAVOR_DEFAULTS, **data, "extra_specs": dict(data.get("extra_specs") or {})}


class ComputeAPI:
    def __init__(self, store: ServerStore, registry: Registry, transport: Transport) -> None:
        self.store = store
        self.registry = registry
        self.transport = transport

    # ---- reads --------------------------------------------------------------------------------

    def get(self, uuid: str, *, deleted: bool = False) -> Server:
        s = self.store.get(uuid)
        if s is None or (s.deleted and not deleted):
            raise ApiError(404, f"server {uuid} could not be found", "servers.not_found")
        return s

    def view(self, s: Server) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": s.uuid, "name": s.name, "status": s.status, "vm_state": s.vm_state, "task_state": s.task_state,
            "reservation_id": s.reservation_id, "host": s.host, "node": s.node, "cell": s.cell,
            "flavor": s.flavor, "image": s.image, "availability_zone": s.availability_zone,
            "server_group": s.server_group, "project_id": s.project_id, "user_id": s.user_id,
            "created": s.created_at, "updated": s.updated_at, "launched_at": s.launched_at,
            "deleted": s.deleted,
        }
        if s.vm_state in (states.ERROR, states.DELETED):
            fault = self.store.fault(s.uuid)
            if fault is not None:
                out["fault"] = fault
        return out

    def list_servers(self, *, reservation_id: str | None = None, host: str | None = None, status: str | None = None,
             cell: str | None = None, deleted: bool = False) -> list[dict[str, Any]]:
        servers = self.store.list_servers(reservation_id=reservation_id, host=host, cell=cell, include_deleted=deleted)
        if status is not None:
            servers = [s for s in servers if s.status == status.upper()]
        return [self.view(s) for s in servers]

    # ---- create -------------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any], who: Identity) -> dict[str, Any]:
        server = body["server"]
        min_count = server.get("min_count", 1)
        max_count = server.get("max_count", min_count)
        if min_count > max_count:
            raise ApiError(400, f"min_count ({min_count}) must not be greater than max_count ({max_count})",
                           "servers.bad_request")
        group = server.get("server_group")
        if group is not None:
            try:
                group = self.registry.get_group(str(uuidlib.UUID(group))).uuid
            except RegistryNotFound:
                raise ApiError(400, f"server group {group} does not exist", "servers.bad_request") from None
        hints = {**body.get("os:scheduler_hints", {}), **server.get("scheduler_hints", {})}
        stored = {"flavor": _flavor(server["flavor"]), "image": dict(server.get("image") or {}),
                  "project_id": who.project_id, "user_id": who.user_id,
                  "availability_zone": server.get("availability_zone"), "hints": hints, "server_group": group}
        uuids = [str(uuidlib.uuid4()) for _ in range(max_count)]
        try:  # the scheduler's own checks, before anything is written
            request_spec(stored, uuids)
        except InvalidRequestSpec as exc:
            raise ApiError(400, f"invalid request: {exc.detail}", "servers.bad_request") from None
        reservation = f"r-{uuidlib.uuid4().hex[:12]}"
        name = server["name"]
        rows = [{"uuid": u, "name": name if max_count == 1 else f"{name}-{i + 1}", "reservation_id": reservation,
                 "project_id": who.project_id, "user_id": who.user_id, "flavor": stored["flavor"],
                 "image": stored["image"], "availability_zone": stored["availability_zone"], "server_group": group}
                for i, u in enumerate(uuids)]
        self.store.create_servers(rows, stored, {"request_id": who.request_id, "user_id": who.user_id,
                                                 "project_id": who.project_id})
        self._cast("schedule_and_build_instances", instances=uuids, min_count=min_count, max_count=max_count)
        if server.get("return_reservation_id"):
            return {"reservation_id": reservation}
        return {"server": {"id": uuids[0], "reservation_id": reservation},
                "servers": [{"id": u} for u in uuids]}

    def _cast(self, method: str, **payload: Any) -> None:
        try:
            cast(self.transport, CONDUCTOR_TOPIC, method, **payload)
        except TransportError as exc:
            # The records stay: the audit finds the server stuck and retries or fails it.
            raise ApiError(503, f"the conductor cannot be reached: {exc}", "servers.conductor_unavailable") from None

    # ---- delete -------------------------------------------------------------------------------

    def delete(self, uuid: str, who: Identity) -> None:
        s = self.get(uuid)
        if s.task_state != states.DELETING:
            if not self.store.update(uuid, task_state=states.DELETING):
                raise ApiError(404, f"server {uuid} could not be found", "servers.not_found")
            self.store.start_action(uuid, "delete", request_id=who.request_id, user_id=who.user_id,
                                    project_id=who.project_id)
        self._cast("delete_server", instance=uuid)

    # ---- actions ------------------------------------------------------------------------------

    def action(self, uuid: str, body: Mapping[str, Any], who: Identity) -> None:
        s = self.get(uuid)
        (name, arg), = body.items()
        if name == "resize":
            flavor = _flavor(arg["flavor"])
            if flavor == s.flavor:
                raise ApiError(400, "resize: the new flavor is the server's current flavor", "servers.bad_request")
            self._move(s, who, "resize", flavor)
        elif name == "migrate":
            self._move(s, who, "migration", s.flavor)
        elif name in ("confirmResize", "revertResize"):
            self._finish_resize(s, who, name)
        elif name == "evacuate":
            self._evacuate(s, who)

    def _conflict(self, s: Server, action: str) -> ApiError:
        return ApiError(409, f"cannot {action} server {s.uuid} while it is {s.status} "
                             f"(vm_state {s.vm_state}, task_state {s.task_state})", "servers.invalid_state")

    def _move(self, s: Server, who: Identity, kind: str, flavor: dict[str, Any]) -> None:
        action = "resize" if kind == "resize" else "migrate"
        if s.vm_state != states.ACTIVE or s.task_state is not None or s.host is None:
            raise self._conflict(s, action)
        migration = str(uuidlib.uuid4())
        if not self.store.update(s.uuid, expect_vm=states.ACTIVE, expect_task=None, task_state=states.RESIZE_PREP):
            raise self._conflict(s, action)
        self.store.create_migration(migration, s.uuid, kind, source_host=s.host, old_flavor=s.flavor,
                                    new_flavor=flavor)
        self.store.start_action(s.uuid, action, request_id=who.request_id, user_id=who.user_id,
                                project_id=who.project_id)
        self._cast("migrate_server", instance=s.uuid, migration=migration)

    def _finish_resize(self, s: Server, who: Identity, name: str) -> None:
        task = states.RESIZE_CONFIRMING if name == "confirmResize" else states.RESIZE_REVERTING
        found = self.store.migrations(instance_uuid=s.uuid, statuses=(states.MIG_FINISHED,))
        if s.vm_state != states.RESIZED or s.task_state is not None or not found:
            raise self._conflict(s, name)
        if not self.store.update(s.uuid, expect_vm=states.RESIZED, expect_task=None, task_state=task):
            raise self._conflict(s, name)
        self.store.start_action(s.uuid, name, request_id=who.request_id, user_id=who.user_id,
                                project_id=who.project_id)
        self._cast("confirm_resize" if name == "confirmResize" else "revert_resize", instance=s.uuid,
                   migration=found[-1].uuid)

    def _evacuate(self, s: Server, who: Identity) -> None:
        if s.vm_state not in (states.ACTIVE, states.ERROR) or s.task_state is not None or s.host is None:
            raise self._conflict(s, "evacuate")
        try:
            host = self.registry.get_host(s.host)
        except RegistryNotFound:
            host = None
        if host is not None and host.up:
            raise ApiError(409, f"compute service of {s.host} is still in use: evacuate only from a host that is "
                                "down or forced down", "servers.host_up")
        if not self.store.update(s.uuid, expect_task=None, expect_vm=(states.ACTIVE, states.ERROR),
                                 task_state=states.REBUILDING):
            raise self._conflict(s, "evacuate")
        migration = str(uuidlib.uuid4())
        self.store.create_migration(migration, s.uuid, "evacuation", source_host=s.host, old_flavor=s.flavor,
                                    new_flavor=s.flavor)
        self.store.start_action(s.uuid, "evacuate", request_id=who.request_id, user_id=who.user_id,
                                project_id=who.project_id)
        self._cast("evacuate_server", instance=s.uuid, migration=migration)

    def actions(self, uuid: str) -> list[dict[str, Any]]:
        self.get(uuid, deleted=True)
        return [{"action": a["action"], "request_id": a["request_id"], "user_id": a["user_id"],
                 "project_id": a["project_id"], "start_time": a["start_time"], "finish_time": a["finish_time"],
                 "result": a["result"], "message": a["message"]} for a in self.store.actions(uuid)]

    def migrations(self, uuid: str) -> list[dict[str, Any]]:
        self.get(uuid, deleted=True)
        return [{"id": m.uuid, "kind": m.kind, "status": m.status, "source_host": m.source_host,
                 "dest_host": m.dest_host, "old_flavor": m.old_flavor["name"], "new_flavor": m.new_flavor["name"],
                 "created": m.created_at, "updated": m.updated_at}
                for m in self.store.migrations(instance_uuid=uuid)]
