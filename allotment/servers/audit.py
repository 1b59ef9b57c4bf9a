"""The audit: what placement holds against what the servers flow says should be held, and repairs.

    report = Auditor(store, conductor).run(heal=True)

Findings (``Finding.kind``):

- ``orphan_allocation``: a consumer on a registered host's providers that is neither a live
  server nor a migration in progress (heal: its allocations are deleted);
- ``server_without_allocations``: a live server on a host that holds nothing in placement
  (heal: its flavor is claimed on the host again; ERROR with a fault if that is refused);
- ``deleted_host_allocation``: a server or migration holding allocations on providers of a
  host no longer registered (heal: those allocations are dropped, the server goes to ERROR);
- ``half_done_migration``: a migration stuck before its destination answered, or an
  evacuation whose source is back or gone (heal: reverted, or the source freed);
- ``stuck_server``: a task state unchanged for longer than ``stuck_after`` seconds, as a lost
  message leaves it (heal: a lost build is rescheduled onto the next alternate or goes to
  ERROR, a lost schedule is run again, a lost delete, confirm or revert is done);
- ``over_capacity``: a provider using more than its capacity (heal: the host is disabled in
  the registry so nothing more lands there; the servers stay);
- ``orphan_pin``: a topology claim (pinned CPUs, huge pages, PCI devices in the scheduler
  registry) whose instance is no live server (heal: the claim is released).

``expected_usage`` is the invariant the tests check: per root provider, what the live
servers' flavors and the open migrations' old flavors add up to.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from allotment.client import Allocations, NotFound, PlacementClient
from allotment.scheduler import moves
from allotment.scheduler.claims import INSTANCE, delete_claim
from allotment.scheduler.errors import MigrationNotFound, SchedulerError
from allotment.servers import states
from allotment.servers.conductor import Conductor
from allotment.servers.specs import flavor_resources
from allotment.servers.store import Migration, Server, ServerStore
from allotment.servers.store.store import now

__all__ = ["KINDS", "AuditReport", "Auditor", "Finding", "expected_usage"]

LOG = logging.getLogger(__name__)

KINDS = ("orphan_allocation", "server_without_allocations", "deleted_host_allocation", "half_done_migration",
         "stuck_server", "over_capacity", "orphan_pin")

# Tasks in which a server holds no allocations yet (or any more).
_HOLDS_NOTHING = frozenset({states.SCHEDULING, states.DELETING})
_MOVE_TASKS = frozenset({states.RESIZE_PREP, states.RESIZE_MIGRATING, states.REBUILDING, states.REBUILD_SPAWNING})


@dataclass
class Finding:
    kind: str
    subject: str
    detail: str
    action: str | None = None  # what heal did

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "detail": self.detail, "action": self.action}


@dataclass
class AuditReport:
    healed: bool
    findings: list[Finding] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = Counter(f.kind for f in self.findings)
        return {k: found.get(k, 0) for k in KINDS}

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]


@dataclass
class _Fleet:
    """Placement as the audit sees it: the registered hosts' trees, their allocations, usages and capacity."""

    host_of_provider: dict[str, str]  # provider uuid -> host name (every provider of a registered host's tree)
    root_of_host: dict[str, str]
    consumers: dict[str, dict[str, dict[str, int]]]  # consumer -> provider -> resources (registered trees only)
    stray: dict[str, dict[str, dict[str, int]]]  # consumer -> provider -> resources, providers of no registered host
    over: list[tuple[str, str, int, float]]  # provider, class, used, capacity


def _read_fleet(placement: PlacementClient, host_roots: dict[str, str], wanted: set[str]) -> _Fleet:
    host_by_root = {root: host for host, root in host_roots.items()}
    host_of: dict[str, str] = {}
    consumers: dict[str, dict[str, dict[str, int]]] = {}
    stray: dict[str, dict[str, dict[str, int]]] = {}
    over = []
    for p in placement.list_providers():
        host = host_by_root.get(p.root_provider_uuid or p.uuid)
        allocations = placement.provider_allocations(p.uuid)
        if host is None:
            for consumer, resources in allocations.items():
                if consumer in wanted:
                    stray.setdefault(consumer, {})[p.uuid] = resources
            continue
        host_of[p.uuid] = host
        for consumer, resources in allocations.items():
            consumers.setdefault(consumer, {})[p.uuid] = resources
        _, inventories = placement.get_inventories(p.uuid)
        used: Counter[str] = Counter()
        for resources in allocations.values():
            used.update(resources)
        for rc, amount in used.items():
            inv = inventories.get(rc)
            capacity = (inv.total - inv.reserved) * inv.allocation_ratio if inv else 0.0
            if amount > capacity:
                over.append((p.uuid, rc, amount, capacity))
    return _Fleet(host_of, dict(host_roots), consumers, stray, over)


def expected_usage(store: ServerStore, host_roots: dict[str, str]) -> dict[str, dict[str, int]]:
    """Root provider -> resources the live servers and the open migrations should hold there."""
    out: dict[str, Counter[str]] = {}

    def add(host: str | None, flavor: dict[str, Any]) -> None:
        root = host_roots.get(host or "")
        if root is not None:
            out.setdefault(root, Counter()).update(flavor_resources(flavor))

    open_moves = {m.instance_uuid: m for m in store.migrations(statuses=states.MIGRATION_IN_PROGRESS)}
    for s in store.list_servers():
        if s.host is None or s.task_state in _HOLDS_NOTHING:
            continue
        m = open_moves.get(s.uuid)
        if m is not None and m.status in (states.MIG_MIGRATING, states.MIG_FINISHED, states.MIG_DONE):
            add(m.source_host, m.old_flavor)  # the migration's part
            if m.status == states.MIG_MIGRATING:
                add(m.dest_host, m.new_flavor)  # the instance's new claim
            else:
                add(s.host, s.flavor)
            continue
        add(s.host, s.flavor)
    return {root: dict(c) for root, c in out.items()}


class Auditor:
    def __init__(self, store: ServerStore, conductor: Conductor, *, stuck_after: float = 300.0) -> None:
        self.store = store
        self.conductor = conductor
        self.placement = conductor.placement
        self.registry = conductor.registry
        self.stuck_after = stuck_after

    def run(self, *, heal: bool = False) -> AuditReport:
        report = AuditReport(healed=heal)
        cutoff = now() - dt.timedelta(seconds=self.stuck_after)
        # Stuck servers and migrations first: healing them settles what the allocation checks then see.
        self._stuck_servers(report, cutoff, heal)
        self._migrations(report, cutoff, heal)
        hosts = {h.name: h for h in self.registry.list_hosts()}
        servers = {s.uuid: s for s in self.store.list_servers()}
        open_moves = {m.uuid: m for m in self.store.migrations(statuses=states.MIGRATION_IN_PROGRESS)}
        fleet = _read_fleet(self.placement, {n: h.provider_uuid for n, h in hosts.items()},
                            set(servers) | set(open_moves))
        self._orphans(report, fleet, servers, open_moves, heal)
        self._deleted_hosts(report, fleet, servers, heal)
        self._without_allocations(report, fleet, servers, hosts, heal)
        self._over_capacity(report, fleet, heal)
        self._orphan_pins(report, list(hosts), servers, heal)
        for f in report.findings:
            LOG.info("audit: %s %s: %s%s", f.kind, f.subject, f.detail, f" -> {f.action}" if f.action else "")
        return report

    # ---- servers and migrations -----------------------------------------------------------------

    def _stuck_servers(self, report: AuditReport, cutoff: dt.datetime, heal: bool) -> None:
        for s in self.store.list_servers(task_states=states.TRANSITIONAL_TASKS, changed_before=cutoff):
            finding = Finding("stuck_server", s.uuid, f"{s.status} with task_state {s.task_state} since "
                                                      f"{s.task_changed_at.isoformat()}Z on {s.host or 'no host'}")
            report.findings.append(finding)
            if heal:
                finding.action = self._unstick(s)

    def _unstick(self, s: Server) -> str:
        c = self.conductor
        task = s.task_state
        if task == states.SCHEDULING:
            # A conductor that died between the scheduler's claim and recording the host left a claim
            # nobody will use: drop it so the schedule can run again for this server.
            c.forget_claim(s.uuid)
            c.schedule_and_build([s.uuid])
            fresh = self.store.get(s.uuid)
            return f"scheduled again: now {fresh.status if fresh else 'gone'}"
        if task == states.SPAWNING:
            c.reschedule(s, f"{s.host}: no answer to the build within {self.stuck_after:.0f}s")
            fresh = self.store.get(s.uuid)
            return f"build given up on {s.host}: now {fresh.status if fresh else 'gone'} on {fresh.host if fresh else '-'}"
        if task == states.DELETING:
            c.delete_server(s.uuid)
            return "deleted"
        finished = self.store.migrations(instance_uuid=s.uuid, statuses=(states.MIG_FINISHED,))
        if task == states.RESIZE_CONFIRMING and finished:
            c.confirm_resize(s.uuid, finished[-1].uuid)
            return f"confirmed migration {finished[-1].uuid}"
        if task == states.RESIZE_REVERTING and finished:
            c.revert_resize(s.uuid, finished[-1].uuid)
            return f"reverted migration {finished[-1].uuid}"
        # The destination had built it and the conductor recorded the migration's new status, then died
        # before moving the server: placement already holds the moved layout, so finish the step.
        if task == states.RESIZE_MIGRATING and finished and finished[-1].dest_host:
            c.resize_done(s.uuid, finished[-1].uuid, finished[-1].dest_host)
            return f"move to {finished[-1].dest_host} finished (migration {finished[-1].uuid})"
        if task == states.REBUILD_SPAWNING:
            rebuilt = self.store.migrations(instance_uuid=s.uuid, statuses=(states.MIG_DONE,), kind="evacuation")
            if rebuilt and rebuilt[-1].dest_host:
                c.rebuild_done(s.uuid, rebuilt[-1].uuid, rebuilt[-1].dest_host)
                return f"evacuation to {rebuilt[-1].dest_host} finished (migration {rebuilt[-1].uuid})"
        running = self.store.migrations(instance_uuid=s.uuid, statuses=(states.MIG_PRE, states.MIG_MIGRATING))
        if task in _MOVE_TASKS and running:
            return self._revert_migration(running[-1], "no answer from the destination")
        self.store.update(s.uuid, expect_task=task, task_state=None)
        return f"task_state {task} cleared"

    def _revert_migration(self, m: Migration, why: str) -> str:
        try:
            self.conductor.scheduler.revert_move(m.instance_uuid, m.uuid)
            where = "allocations given back to the server"
        except MigrationNotFound:
            where = "the migration held nothing"
        except SchedulerError as exc:
            where = f"revert failed: {exc.detail}"
        self.store.set_migration(m.uuid, status=states.MIG_ERROR)
        evacuation = m.kind == "evacuation"
        vm_state = states.ERROR if evacuation else states.ACTIVE
        action = {"resize": "resize", "migration": "migrate"}.get(m.kind, "evacuate")
        self.store.update(m.instance_uuid, vm_state=vm_state, task_state=None, host=m.source_host,
                          node=m.source_host, flavor=m.old_flavor, action=(action, False, why),
                          fault=(500, f"evacuation abandoned: {why}", why) if evacuation else None)
        return f"migration {m.uuid} reverted ({where})"

    def _migrations(self, report: AuditReport, cutoff: dt.datetime, heal: bool) -> None:
        for m in self.store.migrations(statuses=(states.MIG_PRE, states.MIG_MIGRATING), changed_before=cutoff):
            s = self.store.get(m.instance_uuid)
            if s is not None and not s.deleted and s.task_state in _MOVE_TASKS:
                continue  # reported (and healed) as a stuck server
            finding = Finding("half_done_migration", m.uuid, f"{m.kind} of {m.instance_uuid} {m.status} since "
                                                             f"{(m.updated_at or m.created_at).isoformat()}Z")
            report.findings.append(finding)
            if heal:
                finding.action = self._revert_migration(m, "left half done")
        hosts = {h.name: h for h in self.registry.list_hosts()}
        for m in self.store.migrations(kind="evacuation", statuses=(states.MIG_DONE,)):
            source = hosts.get(m.source_host or "")
            if source is not None and not source.up:
                continue  # still down: the migration rightly keeps its allocations
            finding = Finding("half_done_migration", m.uuid, f"evacuation of {m.instance_uuid} from "
                              f"{m.source_host}, which is {'up again' if source else 'deleted'}, not cleaned up")
            report.findings.append(finding)
            if heal:
                try:
                    moves.drop_migration(self.placement, m.uuid)
                except MigrationNotFound:
                    pass
                self.store.set_migration(m.uuid, status=states.MIG_COMPLETED)
                finding.action = f"source allocations on {m.source_host} freed"

    # ---- placement ------------------------------------------------------------------------------

    def _orphans(self, report: AuditReport, fleet: _Fleet, servers: dict[str, Server],
                 open_moves: dict[str, Migration], heal: bool) -> None:
        for consumer, held in sorted(fleet.consumers.items()):
            s = servers.get(consumer)
            if consumer in open_moves:
                continue
            if s is not None and (s.host is not None or s.task_state == states.SCHEDULING):
                continue  # a live server (one being scheduled: its claim is on its way to being recorded)
            migration = self.store.migration(consumer)
            what = (f"migration {consumer} ({migration.status})" if migration is not None else
                    f"server {consumer} ({s.status}, no host)" if s is not None else
                    f"consumer {consumer}, no server or migration")
            kind = "half_done_migration" if migration is not None else "orphan_allocation"
            hosts = sorted({fleet.host_of_provider[p] for p in held})
            finding = Finding(kind, consumer, f"{what} holds {_fmt(held)} on {', '.join(hosts)}")
            report.findings.append(finding)
            if heal:
                delete_claim(self.placement, consumer)
                finding.action = "allocations deleted"

    def _deleted_hosts(self, report: AuditReport, fleet: _Fleet, servers: dict[str, Server], heal: bool) -> None:
        for consumer, held in sorted(fleet.stray.items()):
            s = servers.get(consumer)
            finding = Finding("deleted_host_allocation", consumer,
                              f"{'server' if s else 'migration'} {consumer} holds {_fmt(held)} on provider(s) of "
                              f"no registered host{f' (its host {s.host} is gone)' if s and s.host else ''}")
            report.findings.append(finding)
            if not heal:
                continue
            current = self.placement.get_allocations(consumer)
            keep = {rp: r for rp, r in current.allocations.items() if rp not in held}
            if keep:
                self.placement.put_allocations(consumer, Allocations(
                    allocations=keep, project_id=current.project_id, user_id=current.user_id,
                    consumer_generation=current.consumer_generation, consumer_type=current.consumer_type))
            else:
                delete_claim(self.placement, consumer)
            finding.action = "allocations on the deleted host's providers dropped"
            if s is not None and s.host is not None and s.host not in fleet.root_of_host:
                if self.store.update(consumer, vm_state=states.ERROR, task_state=None, host=None, node=None,
                                     fault=(500, f"host {s.host} was deleted",
                                            f"the audit dropped its allocations on {s.host}")):
                    finding.action += "; server set to ERROR"

    def _without_allocations(self, report: AuditReport, fleet: _Fleet, servers: dict[str, Server],
                             hosts: dict[str, Any], heal: bool) -> None:
        for s in servers.values():
            if s.host is None or s.task_state in _HOLDS_NOTHING or s.uuid in fleet.consumers:
                continue
            if s.uuid in fleet.stray or s.host not in hosts:
                continue  # on a deleted host: reported above
            finding = Finding("server_without_allocations", s.uuid, f"{s.status} on {s.host} holds nothing in "
                                                                    "placement")
            report.findings.append(finding)
            if heal:
                finding.action = self._heal_allocations(s, hosts[s.host].provider_uuid)

    def _heal_allocations(self, s: Server, root: str) -> str:
        resources = flavor_resources(s.flavor)
        try:
            self.placement.put_allocations(s.uuid, Allocations(
                allocations={root: resources}, project_id=s.project_id, user_id=s.user_id,
                consumer_generation=None, consumer_type=INSTANCE))
        except Exception as exc:  # placement refused (the host is full now): the server cannot stay there
            detail = getattr(exc, "detail", str(exc))
            self.store.update(s.uuid, vm_state=states.ERROR, task_state=None,
                              fault=(500, "its allocations were lost and cannot be claimed again", str(detail)))
            return f"claim refused ({detail}): server set to ERROR"
        return f"claimed {_fmt({root: resources})}"

    def _over_capacity(self, report: AuditReport, fleet: _Fleet, heal: bool) -> None:
        for provider, rc, used, capacity in fleet.over:
            host = fleet.host_of_provider[provider]
            finding = Finding("over_capacity", provider, f"{host}: {rc} used {used} of capacity {capacity:g}")
            report.findings.append(finding)
            if heal:
                try:
                    self.registry.set_host_status(host, disabled=True,
                                                  disabled_reason=f"over capacity: {rc} {used} of {capacity:g}")
                    finding.action = f"host {host} disabled"
                except (SchedulerError, NotFound) as exc:
                    finding.action = f"could not disable {host}: {exc}"


    def _orphan_pins(self, report: AuditReport, hosts: list[str], servers: dict[str, Server], heal: bool) -> None:
        """Topology claims of consumers that are no live server (one being scheduled counts as live)."""
        for host in sorted(hosts):
            try:
                _, claims = self.registry.get_topology(host)
            except SchedulerError:  # no topology on this host
                continue
            for consumer, fit in sorted(claims.items()):
                s = servers.get(consumer)
                if _holds_pins(s):
                    continue
                s = self.store.get(consumer)  # created and scheduled since the servers were listed?
                if _holds_pins(s):
                    continue
                what = f"server {consumer} ({s.status}, no host)" if s is not None and not s.deleted else \
                    f"server {consumer} (deleted)" if s is not None else f"consumer {consumer}, no server"
                finding = Finding("orphan_pin", consumer, f"{what} holds {_fmt_fit(fit)} on {host}")
                report.findings.append(finding)
                if heal:
                    self.registry.release_topology(consumer)
                    finding.action = "topology claims released"


def _holds_pins(s: Server | None) -> bool:
    """A live server on a host, or one being scheduled (the scheduler pins before the host is recorded)."""
    return s is not None and not s.deleted and (s.host is not None or s.task_state == states.SCHEDULING)


def _fmt_fit(fit: dict[str, Any]) -> str:
    cpus = sorted(c for cell in fit.get("cells", []) for c in cell.get("taken", []))
    devices = list(fit.get("devices", []))
    parts = [f"CPU(s) {cpus}" if cpus else "", f"device(s) {devices}" if devices else ""]
    return ", ".join(p for p in parts if p) or "a NUMA fit"


def _fmt(held: dict[str, dict[str, int]]) -> str:
    return "; ".join(f"{rp}: " + ",".join(f"{rc}={n}" for rc, n in sorted(r.items())) for rp, r in held.items())


def count(findings: Iterable[Finding]) -> Counter[str]:
    return Counter(f.kind for f in findings)
