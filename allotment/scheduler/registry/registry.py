"""``Registry``: the scheduler's host registry over one database URL.

Writes go straight to the database, each in one transaction (retried whole on lock
conflicts). Reads for the REST API come from the database too; the scheduler's hot-path
reads (``host_states``, ``all_aggregates``, ``root_of``) come from the per-process
snapshot, refreshed first with one cheap query (see ``snapshot``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from allotment.infra.database import Database
from allotment.scheduler.errors import Conflict, GroupPolicyViolation, NotFound
from allotment.scheduler.host_state import AggregateInfo, HostState
from allotment.scheduler.registry import aggregates as agg_ops
from allotment.scheduler.registry import changes
from allotment.scheduler.registry import groups as group_ops
from allotment.scheduler.registry import hosts as host_ops
from allotment.scheduler.registry import instances as instance_ops
from allotment.scheduler.registry import topology as topology_ops
from allotment.scheduler.registry.common import UNSET, now
from allotment.scheduler.registry.migrate import upgrade
from allotment.scheduler.registry.models import Aggregate, Group, Host, Instance
from allotment.scheduler.registry.snapshot import Snapshot
from allotment.scheduler.registry.tables import metadata
from allotment.scheduler.topology.host import HostTopology
from allotment.scheduler.topology.usage import Fit, HostUsage

__all__ = ["Registry"]

T = TypeVar("T")
_INTEGRITY_RETRIES = 3


class Registry:
    def __init__(self, db: Database, *, service_down_time: float = 60, heartbeat_refresh: float | None = None) -> None:
        self.db = db
        self.service_down_time = float(service_down_time)
        if heartbeat_refresh is None:
            heartbeat_refresh = min(5.0, self.service_down_time / 4)
        self.snapshot = Snapshot(service_down_time=self.service_down_time, heartbeat_refresh=heartbeat_refresh)

    @classmethod
    def open(cls, db_url: str, *, service_down_time: float = 60, heartbeat_refresh: float | None = None,
             pool_size: int = 5, migrate: bool = True) -> Registry:
        """Connect to ``db_url`` and (unless ``migrate`` is False) create or upgrade the registry schema."""
        db = Database(db_url, pool_size=pool_size)
        try:
            if migrate:
                upgrade(db)
        except Exception:
            db.dispose()
            raise
        return cls(db, service_down_time=service_down_time, heartbeat_refresh=heartbeat_refresh)

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, fn: Callable[[Connection], T]) -> T:
        # Two writers inserting the same name at once: the loser's unique-key error means
        # "someone got there first"; running it again gives the proper answer (update or 409).
        for attempt in range(_INTEGRITY_RETRIES):
            try:
                return self.db.write(fn)
            except IntegrityError as exc:
                if attempt == _INTEGRITY_RETRIES - 1:
                    raise Conflict(f"a concurrent change got in the way; retry ({exc.orig})") from exc
        raise AssertionError("unreachable")

    # ---- hosts ---------------------------------------------------------------------------

    def register_host(self, name: str, provider_uuid: str, facts: Mapping[str, Any] | None = None) -> tuple[Host, bool]:
        """Register the host or update its facts (idempotent by name); (host, created). Counts as a heartbeat."""
        created = self.put_host(name, provider_uuid, facts)
        return self.get_host(name), created

    def put_host(self, name: str, provider_uuid: str, facts: Mapping[str, Any] | None = None) -> bool:
        """``register_host`` without reading the host back (a compute's own reports); True when created."""
        return self._write(lambda c: host_ops.register(c, name, provider_uuid, facts or {}))

    def get_host(self, name: str) -> Host:
        with self.db.read() as conn:
            found = host_ops.load(conn, name=name, at=now(), down_time=self.service_down_time)
        if not found:
            raise NotFound(f"host {name!r} is not registered", "scheduler.host.not_found")
        return found[0]

    def list_hosts(self, *, cell: str | None = None) -> list[Host]:
        with self.db.read() as conn:
            return host_ops.load(conn, cell=cell, at=now(), down_time=self.service_down_time)

    def heartbeat(self, name: str) -> dt.datetime:
        return self._write(lambda c: host_ops.heartbeat(c, name))

    def set_host_status(self, name: str, *, disabled: bool | None = None, disabled_reason: Any = UNSET,
                        forced_down: bool | None = None) -> Host:
        """Disable/enable (enabling clears the reason), force down/up; arguments left out are unchanged."""
        self._write(lambda c: host_ops.set_status(c, name, disabled=disabled, disabled_reason=disabled_reason,
                                                  forced_down=forced_down))
        return self.get_host(name)

    def delete_host(self, name: str) -> None:
        self._write(lambda c: host_ops.delete(c, name))

    # ---- aggregates ----------------------------------------------------------------------

    def create_aggregate(self, name: str, *, uuid: str | None = None,
                         metadata: Mapping[str, str] | None = None) -> Aggregate:
        agg_uuid = self._write(lambda c: agg_ops.create(c, name, uuid=uuid, metadata=metadata))
        return self.get_aggregate(agg_uuid)

    def get_aggregate(self, uuid: str) -> Aggregate:
        with self.db.read() as conn:
            return agg_ops.load(conn, uuid)[0]

    def list_aggregates(self) -> list[Aggregate]:
        with self.db.read() as conn:
            return agg_ops.load(conn)

    def rename_aggregate(self, uuid: str, name: str) -> Aggregate:
        self._write(lambda c: agg_ops.rename(c, uuid, name))
        return self.get_aggregate(uuid)

    def set_aggregate_metadata(self, uuid: str, updates: Mapping[str, str | None]) -> Aggregate:
        """Set keys; a None value removes the key."""
        self._write(lambda c: agg_ops.set_metadata(c, uuid, updates))
        return self.get_aggregate(uuid)

    def add_aggregate_host(self, uuid: str, host: str) -> Aggregate:
        self._write(lambda c: agg_ops.add_host(c, uuid, host))
        return self.get_aggregate(uuid)

    def remove_aggregate_host(self, uuid: str, host: str) -> Aggregate:
        self._write(lambda c: agg_ops.remove_host(c, uuid, host))
        return self.get_aggregate(uuid)

    def delete_aggregate(self, uuid: str) -> None:
        self._write(lambda c: agg_ops.delete(c, uuid))

    # ---- server groups -------------------------------------------------------------------

    def create_group(self, name: str, policy: str, *, rules: Mapping[str, Any] | None = None,
                     project_id: str | None = None, user_id: str | None = None, uuid: str | None = None) -> Group:
        group_uuid = self._write(lambda c: group_ops.create(c, name, policy, rules=rules, project_id=project_id,
                                                            user_id=user_id, uuid=uuid))
        return self.get_group(group_uuid)

    def get_group(self, uuid: str) -> Group:
        """The group with its members (instance -> host) and ``hosts``; read from the database, never stale."""
        with self.db.read() as conn:
            return group_ops.load(conn, uuid)[0]

    def list_groups(self, *, project_id: str | None = None) -> list[Group]:
        with self.db.read() as conn:
            return group_ops.load(conn, project_id=project_id)

    def delete_group(self, uuid: str) -> None:
        self._write(lambda c: group_ops.delete(c, uuid))

    def add_group_member(self, group_uuid: str, instance_uuid: str, host: str) -> Group:
        """Put the instance in the group on ``host`` (or move it there), checking the policy atomically.

        Raises GroupPolicyViolation for anti-affinity when ``host`` already holds
        ``rules.max_server_per_host`` (default 1) other members, and for affinity when other
        members are on another host.
        """
        self._write(lambda c: group_ops.place_member(c, group_uuid, instance_uuid, host))
        return self.get_group(group_uuid)

    def remove_group_member(self, group_uuid: str, instance_uuid: str) -> None:
        self._write(lambda c: group_ops.remove_member(c, group_uuid, instance_uuid))

    # ---- moves ---------------------------------------------------------------------------

    def hold_group_for_move(self, group_uuid: str, instance_uuid: str, migration_uuid: str, dest: str,
                            source: str | None) -> None:
        """Point the instance's membership at ``dest`` (policy checked) and hold ``source`` with the migration uuid.

        While a move is open, the placeholder keeps other members off the source so that a
        revert can still bring the instance back. Raises GroupPolicyViolation (nothing
        changed) when ``dest`` would break the policy.
        """

        def op(conn: Connection) -> None:
            group_ops.place_member(conn, group_uuid, instance_uuid, dest)
            if source is not None and source != dest:
                try:
                    group_ops.place_member(conn, group_uuid, migration_uuid, source)
                except GroupPolicyViolation:
                    # The source was already full without this instance (it was not counted
                    # there): nothing to hold for a revert. place_member checks before it writes.
                    pass

        self._write(op)

    def finish_move(self, instance_uuid: str, migration_uuid: str, host: str) -> None:
        """Confirm or revert: drop the migration's placeholder, put the instance and its membership on ``host``.

        One transaction: the placeholder held ``host`` for a revert, so the membership moving
        back cannot be refused; on confirm the membership is already there.
        """

        def op(conn: Connection) -> None:
            held_by = group_ops.group_of(conn, migration_uuid)
            if held_by is not None:
                group_ops.remove_member(conn, held_by, migration_uuid)
            group = group_ops.group_of(conn, instance_uuid)
            if group is not None:
                group_ops.place_member(conn, group, instance_uuid, host)
            instance_ops.record(conn, instance_uuid, host, {"task_state": None})
            # Pinned CPUs and devices stay only where the instance now is.
            topology_ops.release(conn, instance_uuid, keep_host=host)

        self._write(op)

    # ---- instances -----------------------------------------------------------------------

    def record_instance(self, uuid: str, host: str | None = None, **fields: Any) -> tuple[Instance, bool]:
        """Create or update (fields left out keep their value); a new host moves it. (instance, created)."""
        created = self.put_instance(uuid, host, **fields)
        return self.get_instance(uuid), created

    def put_instance(self, uuid: str, host: str | None = None, **fields: Any) -> bool:
        """``record_instance`` without reading the record back (the scheduler's claim path); True when created.

        This process's snapshot takes the write in as well when it was current just before
        it, so the next scheduling request does not read the host back from the database.
        """
        done = self._write(lambda c: instance_ops.record(c, uuid, host, fields))
        self.snapshot.apply_recorded(done)
        return done.created

    def put_instances(self, hosts: Sequence[tuple[str, str]], **fields: Any) -> list[bool]:
        """``put_instance`` for several (instance uuid, host) pairs with the same fields, in one transaction.

        The scheduler records a multi-instance request's instances this way: one commit instead
        of one per instance. All or none are written. Per pair: True when created.
        """
        done = self._write(lambda c: [instance_ops.record(c, uuid, host, fields) for uuid, host in hosts])
        for recorded in done:  # consecutive generations: each applies on top of the one before
            self.snapshot.apply_recorded(recorded)
        return [recorded.created for recorded in done]

    def set_task_state(self, uuid: str, task_state: str | None) -> Instance:
        return self.record_instance(uuid, task_state=task_state)[0]

    def move_instance(self, uuid: str, host: str) -> Instance:
        """Record the instance on ``host``; its server group membership follows, policy checked."""
        return self.record_instance(uuid, host)[0]

    def remove_instance(self, uuid: str) -> None:
        self._write(lambda c: instance_ops.remove(c, uuid))

    def get_instance(self, uuid: str) -> Instance:
        with self.db.read() as conn:
            return instance_ops.load(conn, uuid=uuid)[0]

    def list_instances(self, *, host: str | None = None) -> list[Instance]:
        with self.db.read() as conn:
            return instance_ops.load(conn, host=host)

    # ---- host topology (NUMA cells, dedicated CPUs, pages, PCI devices) --------------------

    def set_topology(self, name: str, topology: HostTopology) -> None:
        """Record or replace the host's topology; Conflict if it drops CPUs or devices instances hold."""
        self._write(lambda c: topology_ops.set_topology(c, name, topology))

    def get_topology(self, name: str) -> tuple[HostTopology, dict[str, dict[str, Any]]]:
        """The host's topology and its claims (consumer uuid -> fit document); NotFound without one."""
        with self.db.read() as conn:
            return topology_ops.get_topology(conn, name)

    def claim_topology(self, name: str, consumer: str,
                       fitter: Callable[[HostTopology, HostUsage], Fit | None]) -> Fit:
        """Fit ``consumer`` on the host under its row lock and record the pinning; TopologyClaimFailed if not.

        ``fitter`` gets the host's topology and what every other consumer holds there, and
        returns the fit (or None). A second claim by the same consumer on the host replaces it.
        """
        return self._write(lambda c: topology_ops.claim(c, name, consumer, fitter))

    def release_topology(self, consumer: str, *, keep_host: str | None = None) -> None:
        """Drop the consumer's topology claims (all, or all but the one on ``keep_host``)."""
        self._write(lambda c: topology_ops.release(c, consumer, keep_host=keep_host))

    def topology_claims_of(self, consumer: str) -> dict[str, Fit]:
        with self.db.read() as conn:
            return topology_ops.claims_of(conn, consumer)

    # ---- the scheduler's hot path (snapshot) ---------------------------------------------

    def refresh(self) -> None:
        """Bring the snapshot up to date (one query when nothing changed)."""
        with self.db.read() as conn:
            self.snapshot.refresh(conn)

    def host_states(self, root_uuids: Iterable[str] | None = None, *,
                    figures: Mapping[str, Mapping[str, Any]] | None = None,
                    refresh: bool = True) -> dict[str, HostState]:
        """Fresh HostStates by root provider uuid for the registered hosts among ``root_uuids`` (None: all).

        ``figures``: attributes per root uuid set on its HostState (see ``Snapshot.host_states``).
        ``refresh=False``: the caller brought the snapshot up to date moments ago (earlier in
        the same scheduling request), so the query that checks is skipped.
        """
        if refresh:
            self.refresh()
        return self.snapshot.host_states(root_uuids, figures)

    def all_aggregates(self) -> list[AggregateInfo]:
        self.refresh()
        return self.snapshot.aggregates()

    def root_of(self, host_name: str) -> str | None:
        """The root provider uuid of a registered host, or None."""
        self.refresh()
        return self.snapshot.root_of(host_name)

    # ---- maintenance ---------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every host, aggregate, group and instance (tests, tools). Snapshots reload in full."""

        def op(conn: Connection) -> None:
            for table in reversed(metadata.sorted_tables):
                if table.name not in ("sched_state", "sched_changes"):
                    conn.execute(table.delete())
            changes.bump(conn, everything=True)

        self._write(op)
