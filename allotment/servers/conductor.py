"""The conductor: schedules creates, sends builds, reschedules failed ones onto alternates, runs moves and deletes.

    conductor = Conductor(store, scheduler, transport)
    conductor.start()          # subscribes to the ``conductor`` topic (methods: allotment.servers.messages)

Creates: one ``select_destinations`` for all the instances of a create; each build goes to
its host's topic with its alternates, which are also stored with the server. A failed build
(the compute casts ``build_failed``) frees the server's allocations and claims the next
alternate's stored allocation request (a 409 moves on) and records its NUMA/PCI fit there
(``Scheduler.pin_alternate``; a refused fit moves on too) until ``max_attempts`` builds were
tried; then the server goes to ERROR with a fault naming every host tried and why. The pins
of the failed host are released first; a deleted server and a failed build release theirs.
``min_count`` is all or nothing; between ``min_count`` and ``max_count`` it creates what fits
and deletes the rest.

Moves go through the scheduler's migration support (``allotment.scheduler.moves``): the
migration uuid holds the source allocations until confirm (freed) or revert (given back);
an evacuation's migration keeps the dead source's allocations until that compute starts
again (``compute_started``).

Every state change is compare-and-set on the server record, so a late or duplicated
message (a build finishing after a delete) loses and cleans up after itself.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from allotment.client import BadRequest, Conflict, NotFound
from allotment.scheduler import moves
from allotment.scheduler.claims import claim, delete_claim
from allotment.scheduler.errors import GroupPolicyViolation, MigrationNotFound, NoValidHost, SchedulerError
from allotment.scheduler.errors import NotFound as RegistryNotFound
from allotment.scheduler.selection import ScheduleResult, Selection
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import RequestSpec
from allotment.servers import states
from allotment.servers.messages import CONDUCTOR_TOPIC, cast, compute_topic
from allotment.servers.specs import CELL0, DEFAULT_CELL, request_spec
from allotment.servers.store import Migration, Server, ServerStore
from allotment.servers.transport import Message, Subscription, Transport

__all__ = ["Conductor"]

LOG = logging.getLogger(__name__)

_PLACED = re.compile(r"placed (\d+) of \d+ instance")
MAX_RETRIES_MESSAGE = "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures"


class Conductor:
    def __init__(self, store: ServerStore, scheduler: Scheduler, transport: Transport, *,
                 max_attempts: int | None = None, workers: int = 4) -> None:
        self.store = store
        self.scheduler = scheduler
        self.placement = scheduler.placement
        self.registry = scheduler.registry
        self.transport = transport
        self.max_attempts = max(1, max_attempts if max_attempts is not None else scheduler.config.max_attempts)
        self.workers = workers
        self._subscription: Subscription | None = None
        self._periodic: threading.Thread | None = None
        self._stop = threading.Event()
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "schedule_and_build_instances": lambda p: self.schedule_and_build(
                p["instances"], min_count=int(p.get("min_count", 1))),
            "build_done": lambda p: self.build_done(p["instance"], p["host"]),
            "build_failed": lambda p: self.build_failed(p["instance"], p["host"], p.get("reason") or "build failed"),
            "delete_server": lambda p: self.delete_server(p["instance"]),
            "migrate_server": lambda p: self.migrate_server(p["instance"], p["migration"]),
            "resize_done": lambda p: self.resize_done(p["instance"], p["migration"], p["host"]),
            "resize_failed": lambda p: self.resize_failed(p["instance"], p["migration"], p["host"],
                                                          p.get("reason") or "resize failed"),
            "confirm_resize": lambda p: self.confirm_resize(p["instance"], p["migration"]),
            "revert_resize": lambda p: self.revert_resize(p["instance"], p["migration"]),
            "evacuate_server": lambda p: self.evacuate_server(p["instance"], p["migration"]),
            "rebuild_done": lambda p: self.rebuild_done(p["instance"], p["migration"], p["host"]),
            "rebuild_failed": lambda p: self.rebuild_failed(p["instance"], p["migration"], p["host"],
                                                            p.get("reason") or "rebuild failed"),
            "compute_started": lambda p: self.compute_started(p["host"]),
        }

    # ---- life ---------------------------------------------------------------------------------

    def start(self, *, audit_interval: float = 0, audit: Callable[[], object] | None = None) -> None:
        """Subscribe; with ``audit_interval`` > 0, also run ``audit`` (heal) that often in a thread."""
        self._subscription = self.transport.subscribe(CONDUCTOR_TOPIC, self.handle, workers=self.workers)
        if audit_interval > 0 and audit is not None:
            def periodic() -> None:
                while not self._stop.wait(audit_interval):
                    try:
                        audit()
                    except Exception:
                        LOG.exception("periodic audit failed")

            self._periodic = threading.Thread(target=periodic, name="conductor-audit", daemon=True)
            self._periodic.start()

    def stop(self) -> None:
        self._stop.set()
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def handle(self, message: Message) -> None:
        handler = self._handlers.get(message.method)
        if handler is None:
            LOG.warning("conductor: unknown method %s dropped", message.method)
            return
        handler(message.payload)

    # ---- creates ------------------------------------------------------------------------------

    def schedule_and_build(self, instances: Sequence[str], *, min_count: int = 1) -> None:
        found = self.store.get_many(instances)
        live = [s for s in (found.get(u) for u in instances)
                if s is not None and not s.deleted and s.task_state == states.SCHEDULING and s.host is None]
        if not live:
            return
        request = self.store.build_request(live[0].uuid)
        if request is None:
            self._fail_all(live, "no build request stored for the servers")
            return
        uuids = [s.uuid for s in live]
        try:
            result = self._schedule_fitting(request.request_spec, uuids, max(1, min(min_count, len(uuids))))
        except SchedulerError as exc:
            details = exc.detail
            if isinstance(exc, NoValidHost) and exc.explanation:  # what ruled each host out, for `server show`
                details = f"{exc.detail}\nexplanation: {orjson.dumps(exc.explanation).decode()}"
            self._fail_all(live, exc.detail, code=409 if isinstance(exc, NoValidHost) else 400, details=details)
            return
        placed = set(result.instance_uuids)
        for s in live:
            if s.uuid not in placed:
                self._drop_surplus(s, len(placed), len(uuids))
        for uuid, selections in zip(result.instance_uuids, result.selections):
            chosen, *alternates = selections
            self._send_build(uuid, chosen, alternates, attempt=1, expect_task=states.SCHEDULING, expect_host=None)

    def _schedule_fitting(self, stored: Mapping[str, Any], uuids: list[str], min_count: int) -> ScheduleResult:
        """All of ``uuids`` if they fit; else as many as fit, at least ``min_count`` (NoValidHost otherwise)."""
        count = len(uuids)
        try:
            return self.scheduler.select_destinations(request_spec(stored, uuids))
        except NoValidHost as exc:
            if count <= min_count:
                raise
            found = _PLACED.search(exc.reason)
            start = min(count - 1, int(found.group(1))) if found else 0
            if start < min_count:
                raise
            last = exc
        for n in range(start, min_count - 1, -1):  # the scheduler said how many it placed: that many most likely fit
            try:
                return self.scheduler.select_destinations(request_spec(stored, uuids[:n]))
            except NoValidHost as exc:
                last = exc
        raise last

    def _fail_all(self, servers: Sequence[Server], reason: str, *, code: int = 500, details: str | None = None) -> None:
        for s in servers:
            self.store.update(s.uuid, expect_task=states.SCHEDULING, vm_state=states.ERROR, task_state=None,
                              cell=CELL0, fault=(code, reason, details or reason), action=("create", False, reason))

    def _drop_surplus(self, s: Server, placed: int, wanted: int) -> None:
        message = f"not created: {placed} of max_count {wanted} servers fit, at least min_count"
        self.store.update(s.uuid, expect_task=states.SCHEDULING, vm_state=states.DELETED, task_state=None,
                          cell=CELL0, fault=(409, message, message), action=("create", False, message))

    def _send_build(self, uuid: str, chosen: Selection | Mapping[str, Any], alternates: Sequence[Any], *,
                    attempt: int, expect_task: str, expect_host: str | None, tried: list[Any] | None = None) -> bool:
        sel = chosen.to_dict() if isinstance(chosen, Selection) else dict(chosen)
        alts = [a.to_dict() if isinstance(a, Selection) else dict(a) for a in alternates]
        build: dict[str, Any] = {"alternates": alts, "attempts": attempt}
        if tried is not None:
            build["tried"] = tried
        # The server, its build request and the read of what the compute needs: one transaction.
        s = self.store.update_and_read(uuid, expect_task=expect_task, expect_host=expect_host, build_request=build,
                                       host=sel["host"], node=sel["nodename"], cell=sel.get("cell") or DEFAULT_CELL,
                                       task_state=states.SPAWNING)
        if s is None:
            # Deleted meanwhile: what the scheduler claimed for it must not stay behind.
            self.forget_claim(uuid)
            return False
        cast(self.transport, compute_topic(sel["host"]), "build_and_run_instance", instance=uuid, flavor=s.flavor,
             image=s.image, host_list=alts, attempt=attempt)
        return True

    def forget_claim(self, uuid: str) -> None:
        """Drop the server's allocations and its registry record (with its group membership)."""
        delete_claim(self.placement, uuid)
        try:
            self.registry.remove_instance(uuid)  # its topology pins go with it
        except RegistryNotFound:
            self.registry.release_topology(uuid)  # pinned by the scheduler but never recorded as an instance

    def build_done(self, uuid: str, host: str) -> None:
        from allotment.servers.store.store import now

        if self.store.update(uuid, expect_task=states.SPAWNING, expect_host=host, vm_state=states.ACTIVE,
                             task_state=None, launched_at=now(), action=("create", True, None)):
            self._set_registry_task(uuid, None)
        else:  # deleted or rescheduled away meanwhile: the guest here is not wanted
            cast(self.transport, compute_topic(host), "destroy", instance=uuid)

    def build_failed(self, uuid: str, host: str, reason: str) -> None:
        s = self.store.get(uuid)
        if s is None or s.deleted or s.host != host or s.task_state != states.SPAWNING:
            return  # deleted, or an old attempt's late answer
        self.reschedule(s, f"{host}: {reason}")

    def reschedule(self, s: Server, reason: str) -> None:
        """The build of ``s`` on its host failed (or was lost): next alternate, or ERROR once none is left."""
        request = self.store.build_request(s.uuid)
        tried = [*(request.tried if request else []), {"host": s.host, "reason": reason}]
        alternates = list(request.alternates if request else [])
        attempt = request.attempts if request else self.max_attempts
        delete_claim(self.placement, s.uuid)
        self.registry.release_topology(s.uuid)  # the failed host's pinned CPUs and devices
        spec = request_spec(request.request_spec, [s.uuid]) if request is not None else None
        while alternates and attempt < self.max_attempts:
            alt = alternates.pop(0)
            attempt += 1
            try:
                claim(self.placement, s.uuid, alt["allocation_request"], project_id=s.project_id, user_id=s.user_id)
            except (Conflict, BadRequest, NotFound) as exc:
                tried.append({"host": alt["host"], "reason": f"claim refused: {exc.detail}"})
                continue
            refused = self._pin_alternate(spec, s.uuid, alt)
            if refused is not None:
                delete_claim(self.placement, s.uuid)
                tried.append({"host": alt["host"], "reason": refused})
                continue
            try:
                self.registry.put_instance(s.uuid, alt["host"])  # no read-back: nothing here uses it
            except (GroupPolicyViolation, RegistryNotFound) as exc:
                delete_claim(self.placement, s.uuid)
                self.registry.release_topology(s.uuid)
                tried.append({"host": alt["host"], "reason": f"refused by the registry: {exc.detail}"})
                continue
            if self._send_build(s.uuid, alt, alternates, attempt=attempt, expect_task=states.SPAWNING,
                                expect_host=s.host, tried=tried):
                LOG.info("rescheduled %s from %s onto %s (attempt %d)", s.uuid, s.host, alt["host"], attempt)
            return
        self.forget_claim(s.uuid)
        history = "; ".join(f"{t['host']}: {t['reason']}" if not str(t["reason"]).startswith(f"{t['host']}:")
                            else str(t["reason"]) for t in tried)
        message = f"{MAX_RETRIES_MESSAGE} for instance {s.uuid}."
        self.store.set_build_request(s.uuid, alternates=[], tried=tried, attempts=attempt)
        self.store.update(s.uuid, expect_task=states.SPAWNING, expect_host=s.host, vm_state=states.ERROR,
                          task_state=None, host=None, node=None,
                          fault=(500, message, f"tried {len(tried)} host(s): {history}"),
                          action=("create", False, f"{message} Tried: {history}"))

    def _pin_alternate(self, spec: RequestSpec | None, uuid: str, alt: Mapping[str, Any]) -> str | None:
        """Record the instance's NUMA/PCI fit on the claimed alternate; why not, or None when done (or not asked)."""
        if spec is None:
            return None
        try:
            self.scheduler.pin_alternate(spec, uuid, Selection(**alt))
        except (SchedulerError, NotFound) as exc:  # TopologyClaimFailed mostly: taken since the alternates were made
            return f"topology refused: {exc.detail}"
        return None

    # ---- deletes ------------------------------------------------------------------------------

    def delete_server(self, uuid: str) -> None:
        """Free everything the server and its open migrations hold, mark it DELETED, tell its computes."""
        s = self.store.get(uuid)
        if s is None or s.deleted:
            return
        hosts = {s.host} if s.host else set()
        for m in self.store.migrations(instance_uuid=uuid, statuses=states.MIGRATION_IN_PROGRESS):
            delete_claim(self.placement, m.uuid)
            self.store.set_migration(m.uuid, status=states.MIG_ERROR)
            hosts.update(h for h in (m.source_host, m.dest_host) if h)
            if s.server_group:
                try:
                    self.registry.remove_group_member(s.server_group, m.uuid)
                except RegistryNotFound:
                    pass
        self.forget_claim(uuid)
        self.store.update(uuid, vm_state=states.DELETED, task_state=None, action=("delete", True, None))
        for host in sorted(hosts):
            cast(self.transport, compute_topic(host), "destroy", instance=uuid)

    # ---- resize and cold migrate --------------------------------------------------------------

    def _spec_for_move(self, s: Server, flavor: Mapping[str, Any], ignore_hosts: Sequence[str] = ()) -> Any:
        request = self.store.build_request(s.uuid)
        stored = request.request_spec if request is not None else {
            "flavor": s.flavor, "image": s.image, "project_id": s.project_id, "user_id": s.user_id}
        stored = {**stored, "availability_zone": stored.get("availability_zone")}
        return request_spec(stored, [s.uuid], flavor=flavor, ignore_hosts=ignore_hosts)

    def _move_refused(self, s: Server, migration: str, action: str, reason: str, *, vm_state: str = states.ACTIVE,
                      fault: bool = False) -> None:
        self.store.set_migration(migration, status=states.MIG_ERROR)
        self.store.update(s.uuid, vm_state=vm_state, task_state=None, fault=(500, reason, reason) if fault else None,
                          action=(action, False, reason))

    def migrate_server(self, uuid: str, migration: str) -> None:
        s, m = self.store.get(uuid), self.store.migration(migration)
        if m is None:
            return
        action = "resize" if m.kind == "resize" else "migrate"
        if s is None or s.deleted or s.task_state != states.RESIZE_PREP:
            self.store.set_migration(migration, status=states.MIG_ERROR)
            return
        try:
            result = self.scheduler.schedule_move(self._spec_for_move(s, m.new_flavor), migration_uuid=migration)
        except SchedulerError as exc:  # the scheduler gave the source allocations back
            self._move_refused(s, migration, action, exc.detail)
            return
        self._hand_to_destination(uuid, migration, result.selections[0][0].host, states.RESIZE_PREP,
                                  states.RESIZE_MIGRATING, "prep_resize", flavor=m.new_flavor, image=s.image)

    def _hand_to_destination(self, uuid: str, migration: str, dest: str, expect_task: str, task_state: str,
                             method: str, **payload: Any) -> None:
        """Record the chosen destination and cast the move to it; a server that changed meanwhile undoes the claim."""
        self.store.set_migration(migration, status=states.MIG_MIGRATING, dest_host=dest)
        if not self.store.update(uuid, expect_task=expect_task, task_state=task_state):
            self._revert_allocations(uuid, migration)
            self.store.set_migration(migration, status=states.MIG_ERROR)
            return
        cast(self.transport, compute_topic(dest), method, instance=uuid, migration=migration, **payload)

    def _revert_allocations(self, uuid: str, migration: str) -> None:
        try:
            self.scheduler.revert_move(uuid, migration)
        except MigrationNotFound:
            pass

    def _advance_migration(self, uuid: str, migration: str, host: str, status: str,
                           task: str) -> tuple[Migration, bool] | None:
        """Move a migration from MIGRATING to ``status`` for the server's step on ``host``.

        Returns the migration (its kind and flavors; the status it was read with) and whether
        this call made the change: False when it had been made already (a redelivered message,
        or a conductor killed between this and updating the server) and the server still
        waits in ``task`` for the rest. None: nothing to do.
        """
        m = self.store.migration(migration)
        if m is None or m.dest_host != host:
            return None
        if m.status == states.MIG_MIGRATING and self.store.set_migration(
                migration, expect_status=states.MIG_MIGRATING, status=status):
            return m, True
        fresh, s = self.store.migration(migration), self.store.get(uuid)
        if fresh is None or fresh.status != status or s is None or s.deleted or s.task_state != task:
            return None
        return fresh, False

    def _destroy_unless_there(self, uuid: str, host: str) -> None:
        """The server moved on (deleted, or its move undone) while ``host`` built it: remove that copy."""
        s = self.store.get(uuid)
        if s is None or s.deleted or s.host != host:
            cast(self.transport, compute_topic(host), "destroy", instance=uuid)

    def resize_done(self, uuid: str, migration: str, host: str) -> None:
        # The migration first: a server seen in VERIFY_RESIZE must find its migration ready to confirm.
        advanced = self._advance_migration(uuid, migration, host, states.MIG_FINISHED, states.RESIZE_MIGRATING)
        if advanced is None:
            return
        m, first = advanced
        action = "resize" if m.kind == "resize" else "migrate"
        if not self.store.update(uuid, expect_task=states.RESIZE_MIGRATING, vm_state=states.RESIZED, task_state=None,
                                 host=host, node=host, flavor=m.new_flavor, action=(action, True, None)) and first:
            self._destroy_unless_there(uuid, host)

    def resize_failed(self, uuid: str, migration: str, host: str, reason: str) -> None:
        m, s = self.store.migration(migration), self.store.get(uuid)
        if m is None or s is None or m.status != states.MIG_MIGRATING or m.dest_host != host:
            return
        self._revert_allocations(uuid, migration)
        self._move_refused(s, migration, "resize" if m.kind == "resize" else "migrate", f"{host}: {reason}",
                           fault=True)

    def confirm_resize(self, uuid: str, migration: str) -> None:
        m = self.store.migration(migration)
        if m is None or m.status != states.MIG_FINISHED:
            return
        try:
            self.scheduler.confirm_move(uuid, migration)
        except MigrationNotFound:
            pass  # freed already (a repeated message)
        self.store.set_migration(migration, status=states.MIG_CONFIRMED)
        self.store.update(uuid, expect_task=states.RESIZE_CONFIRMING, vm_state=states.ACTIVE, task_state=None,
                          action=("confirmResize", True, None))
        if m.source_host and m.source_host != m.dest_host:
            cast(self.transport, compute_topic(m.source_host), "destroy", instance=uuid)

    def revert_resize(self, uuid: str, migration: str) -> None:
        m = self.store.migration(migration)
        if m is None or m.status != states.MIG_FINISHED:
            return
        self._revert_allocations(uuid, migration)
        self.store.set_migration(migration, status=states.MIG_REVERTED)
        self.store.update(uuid, expect_task=states.RESIZE_REVERTING, vm_state=states.ACTIVE, task_state=None,
                          host=m.source_host, node=m.source_host, flavor=m.old_flavor,
                          action=("revertResize", True, None))
        if m.dest_host and m.dest_host != m.source_host:
            cast(self.transport, compute_topic(m.dest_host), "destroy", instance=uuid)

    # ---- evacuate -----------------------------------------------------------------------------

    def evacuate_server(self, uuid: str, migration: str) -> None:
        s, m = self.store.get(uuid), self.store.migration(migration)
        if m is None:
            return
        if s is None or s.deleted or s.task_state != states.REBUILDING:
            self.store.set_migration(migration, status=states.MIG_ERROR)
            return
        try:
            result = self.scheduler.schedule_move(
                self._spec_for_move(s, s.flavor, ignore_hosts=[m.source_host] if m.source_host else []),
                migration_uuid=migration)
        except SchedulerError as exc:
            self._move_refused(s, migration, "evacuate", exc.detail)
            return
        self._hand_to_destination(uuid, migration, result.selections[0][0].host, states.REBUILDING,
                                  states.REBUILD_SPAWNING, "rebuild_instance", flavor=s.flavor, image=s.image)

    def rebuild_done(self, uuid: str, migration: str, host: str) -> None:
        advanced = self._advance_migration(uuid, migration, host, states.MIG_DONE, states.REBUILD_SPAWNING)
        if advanced is None:
            return
        first = advanced[1]
        # The registry follows now; the migration keeps the dead source's allocations until it starts again.
        self.registry.finish_move(uuid, migration, host)
        if not self.store.update(uuid, expect_task=states.REBUILD_SPAWNING, vm_state=states.ACTIVE, task_state=None,
                                 host=host, node=host, action=("evacuate", True, None)) and first:
            self._destroy_unless_there(uuid, host)

    def rebuild_failed(self, uuid: str, migration: str, host: str, reason: str) -> None:
        m, s = self.store.migration(migration), self.store.get(uuid)
        if m is None or s is None or m.status != states.MIG_MIGRATING or m.dest_host != host:
            return
        self._revert_allocations(uuid, migration)
        self._move_refused(s, migration, "evacuate", f"{host}: {reason}", vm_state=states.ERROR, fault=True)

    def compute_started(self, host: str) -> None:
        """A compute came (back) up: the servers evacuated from it are gone there; free what it still held for them."""
        for m in self.store.migrations(kind="evacuation", statuses=(states.MIG_DONE,), source_host=host):
            try:
                moves.drop_migration(self.placement, m.uuid)
            except MigrationNotFound:
                pass
            self.store.set_migration(m.uuid, status=states.MIG_COMPLETED)
            cast(self.transport, compute_topic(host), "destroy", instance=m.instance_uuid)

    # ---- helpers ------------------------------------------------------------------------------

    def _set_registry_task(self, uuid: str, task_state: str | None) -> None:
        try:
            # put_instance: set_task_state would read the record back for nothing.
            self.registry.put_instance(uuid, task_state=task_state)
        except SchedulerError:
            pass
