"""Host topologies and the topology claims of consumers: set, read, claim (under the host's row lock), release.

A claim runs in one write transaction: it locks the host's topology row (``SELECT ... FOR
UPDATE``; on SQLite the transaction holds the write lock from its start), reads every other
consumer's claim on the host, lets the caller fit the instance against that usage, and
writes the fit plus one row per pinned CPU and per device. Those rows' primary keys
(host, cpu) and (host, address) make a CPU or device given twice impossible even if the
fitting code were wrong; the lock makes the fit see every earlier claim, so memory and
pages are never overcommitted either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.scheduler.errors import Conflict, NotFound, TopologyClaimFailed
from allotment.scheduler.registry import changes
from allotment.scheduler.registry.common import check_uuid, now
from allotment.scheduler.registry.hosts import host_id
from allotment.scheduler.registry.tables import claimed_devices, host_topologies, hosts, pinned_cpus, topology_claims
from allotment.scheduler.topology.host import HostTopology
from allotment.scheduler.topology.usage import Fit, HostUsage

__all__ = ["TopologyClaimFailed", "claim", "claims_of", "get_topology", "load_for_hosts", "release",
           "set_topology"]

Fitter = Callable[[HostTopology, HostUsage], Fit | None]


def set_topology(conn: Connection, name: str, topology: HostTopology) -> None:
    """Record (or replace) the host's topology; refused if it would drop CPUs or devices consumers hold."""
    hid = host_id(conn, name, lock=True)
    held_cpus = set(conn.execute(sa.select(pinned_cpus.c.cpu).where(pinned_cpus.c.host_id == hid)).scalars())
    held_devices = set(
        conn.execute(sa.select(claimed_devices.c.address).where(claimed_devices.c.host_id == hid)).scalars())
    every_pcpu = set[int]().union(*(c.pcpus | c.cpus for c in topology.cells))
    lost_cpus = held_cpus - every_pcpu
    lost_devices = held_devices - {d.address for d in topology.pci_devices}
    if lost_cpus or lost_devices:
        raise Conflict(f"host {name!r}: the new topology drops CPU(s) {sorted(lost_cpus)} or device(s) "
                       f"{sorted(lost_devices)} that instances hold", "scheduler.topology.in_use")
    stamp = now()
    doc = topology.to_dict()
    updated = conn.execute(host_topologies.update().where(host_topologies.c.host_id == hid).values(
        topology=doc, generation=host_topologies.c.generation + 1, updated_at=stamp)).rowcount
    if not updated:
        conn.execute(host_topologies.insert().values(host_id=hid, topology=doc, generation=1, created_at=stamp))
    changes.bump(conn, hosts=[hid])


def get_topology(conn: Connection, name: str) -> tuple[HostTopology, dict[str, dict[str, Any]]]:
    """The host's topology and its claims (consumer -> fit document)."""
    hid = host_id(conn, name)
    row = conn.execute(sa.select(host_topologies.c.topology).where(host_topologies.c.host_id == hid)).first()
    if row is None:
        raise NotFound(f"host {name!r} has no topology registered", "scheduler.topology.not_found")
    found = {r.consumer_uuid: r.fit for r in conn.execute(
        sa.select(topology_claims.c.consumer_uuid, topology_claims.c.fit).where(topology_claims.c.host_id == hid))}
    return HostTopology.from_dict(row.topology), found


def claim(conn: Connection, name: str, consumer: str, fitter: Fitter) -> Fit:
    """Fit ``consumer`` on host ``name`` against everyone else's claims and record it; TopologyClaimFailed if not."""
    consumer = check_uuid(consumer, "consumer uuid")
    hid = host_id(conn, name)
    row = conn.execute(sa.select(host_topologies.c.topology).where(host_topologies.c.host_id == hid)
                       .with_for_update()).first()
    if row is None:
        raise TopologyClaimFailed(f"host {name!r} has no topology registered", "scheduler.topology.not_found")
    _delete(conn, consumer, hid)  # a claim again on the same host replaces the old one
    # A locking read: under MariaDB's repeatable read a plain one could miss a claim committed meanwhile.
    others = [Fit.from_dict(r.fit) for r in conn.execute(
        sa.select(topology_claims.c.fit).where(topology_claims.c.host_id == hid).with_for_update())]
    fit = fitter(HostTopology.from_dict(row.topology), HostUsage.of(others))
    if fit is None:
        raise TopologyClaimFailed(f"the instance no longer fits the topology of host {name!r}",
                                  "scheduler.topology.claim_failed")
    conn.execute(topology_claims.insert().values(consumer_uuid=consumer, host_id=hid, fit=fit.to_dict(),
                                                 created_at=now()))
    cpus = sorted(fit.taken_cpus)
    if cpus:
        conn.execute(pinned_cpus.insert(), [{"host_id": hid, "cpu": c, "consumer_uuid": consumer} for c in cpus])
    if fit.devices:
        conn.execute(claimed_devices.insert(),
                     [{"host_id": hid, "address": a, "consumer_uuid": consumer} for a in fit.devices])
    conn.execute(host_topologies.update().where(host_topologies.c.host_id == hid).values(
        generation=host_topologies.c.generation + 1))
    changes.bump(conn, hosts=[hid])
    return fit


def _delete(conn: Connection, consumer: str, hid: int | None = None) -> list[int]:
    """Drop the consumer's claims (on one host, or all); the hosts touched."""
    def where(table: sa.Table) -> Any:
        cond = table.c.consumer_uuid == consumer
        return cond if hid is None else sa.and_(cond, table.c.host_id == hid)

    touched = list(conn.execute(sa.select(topology_claims.c.host_id).where(where(topology_claims))).scalars())
    if touched:
        for table in (pinned_cpus, claimed_devices, topology_claims):
            conn.execute(table.delete().where(where(table)))
    return touched


def release(conn: Connection, consumer: str, *, keep_host: str | None = None) -> list[int]:
    """Drop the consumer's claims, except the one on ``keep_host`` (a confirmed or reverted move)."""
    keep = None
    if keep_host is not None:
        keep = conn.execute(sa.select(hosts.c.id).where(hosts.c.name == keep_host)).scalar()
    host_ids = list(conn.execute(sa.select(topology_claims.c.host_id).where(
        topology_claims.c.consumer_uuid == consumer)).scalars())
    touched = []
    for hid in host_ids:
        if hid != keep:
            touched += _delete(conn, consumer, hid)
    if touched:
        changes.bump(conn, hosts=touched)
    return touched


def claims_of(conn: Connection, consumer: str) -> dict[str, Fit]:
    """The consumer's fits by host name."""
    q = sa.select(hosts.c.name, topology_claims.c.fit).join(hosts, hosts.c.id == topology_claims.c.host_id).where(
        topology_claims.c.consumer_uuid == consumer)
    return {r.name: Fit.from_dict(r.fit) for r in conn.execute(q)}


def load_for_hosts(conn: Connection, ids: list[int] | None) -> tuple[dict[int, HostTopology], dict[int, list[Fit]]]:
    """Topologies and claims of the given hosts (None: all), for the snapshot."""
    tq = sa.select(host_topologies.c.host_id, host_topologies.c.topology)
    cq = sa.select(topology_claims.c.host_id, topology_claims.c.fit)
    if ids is not None:
        tq = tq.where(host_topologies.c.host_id.in_(ids))
        cq = cq.where(topology_claims.c.host_id.in_(ids))
    topologies = {r.host_id: HostTopology.from_dict(r.topology) for r in conn.execute(tq)}
    fits: dict[int, list[Fit]] = {}
    for r in conn.execute(cq):
        fits.setdefault(r.host_id, []).append(Fit.from_dict(r.fit))
    return topologies, fits
