"""``ServerStore``: the servers flow's records, each change one transaction.

State changes are compare-and-set (``update(..., expect_task=...)``): the conductor, the
audit and late messages from computes race on the same server, and only the one whose
expectation still holds wins; the others see False and drop what they were doing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.infra.database import Database
from allotment.servers import states
from allotment.servers.store import tables as t
from allotment.servers.store.migrate import upgrade

__all__ = ["UNSET", "Migration", "Server", "ServerStore", "now"]

UNSET: Any = object()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# Built once: the conductor reads and changes every server several times on its way to ACTIVE.
_GET = sa.select(t.instances).where(t.instances.c.uuid == sa.bindparam("uuid"))
_GET_MANY = sa.select(t.instances).where(t.instances.c.uuid.in_(sa.bindparam("uuids", expanding=True)))
_SET_BUILD_REQUEST = t.build_requests.update().where(t.build_requests.c.instance_uuid == sa.bindparam("w_uuid"))
_OPEN_ACTION = sa.select(sa.func.max(t.actions.c.id)).where(
    t.actions.c.instance_uuid == sa.bindparam("w_uuid"), t.actions.c.action == sa.bindparam("w_action"),
    t.actions.c.result.is_(None))
_CLOSE_ACTION = t.actions.update().where(t.actions.c.id == sa.bindparam("w_id"))
# One statement where the dialect allows a subquery on the table it updates (MySQL/MariaDB do not).
_CLOSE_OPEN_ACTION = t.actions.update().where(t.actions.c.id == _OPEN_ACTION.scalar_subquery())
_EXPECTABLE = {"task": t.instances.c.task_state, "vm": t.instances.c.vm_state, "host": t.instances.c.host}


@functools.cache
def _conditional_update(shape: tuple[tuple[str, tuple[bool, ...]], ...], returning: bool = False) -> sa.Update:
    """The UPDATE of a live server under expectations of this shape, its SET columns left to the parameters.

    ``shape`` names each expected column ("task", "vm", "host") with, per accepted value, whether it is
    None; the values themselves are bound as ``e_<name>_<i>``, the uuid as ``w_uuid``.
    """
    c = t.instances.c
    q = t.instances.update().where(c.uuid == sa.bindparam("w_uuid"), c.deleted.is_(False))
    for name, options in shape:
        column = _EXPECTABLE[name]
        q = q.where(sa.or_(*(column.is_(None) if none else column == sa.bindparam(f"e_{name}_{i}")
                             for i, none in enumerate(options))))
    return q.returning(*t.instances.c) if returning else q


def _expectations(uuid: str, expected: Mapping[str, Any], returning: bool) -> tuple[sa.Update, dict[str, Any]]:
    """The conditional UPDATE for ``expected`` (name -> a value or a tuple of them) and its WHERE parameters."""
    shape = []
    params: dict[str, Any] = {"w_uuid": uuid}
    for name, value in expected.items():
        if value is UNSET:
            continue
        options = list(value) if isinstance(value, tuple) else [value]
        shape.append((name, tuple(o is None for o in options)))
        params.update({f"e_{name}_{i}": o for i, o in enumerate(options) if o is not None})
    return _conditional_update(tuple(shape), returning), params


@dataclasses.dataclass
class Server:
    uuid: str
    name: str
    reservation_id: str
    project_id: str
    user_id: str
    flavor: dict[str, Any]
    image: dict[str, Any]
    availability_zone: str | None
    server_group: str | None
    cell: str | None
    host: str | None
    node: str | None
    vm_state: str
    task_state: str | None
    deleted: bool
    created_at: dt.datetime
    updated_at: dt.datetime | None
    task_changed_at: dt.datetime
    launched_at: dt.datetime | None
    deleted_at: dt.datetime | None

    @property
    def status(self) -> str:
        return states.status_of(self.vm_state, self.task_state)


@dataclasses.dataclass
class Migration:
    uuid: str
    instance_uuid: str
    kind: str
    source_host: str | None
    dest_host: str | None
    old_flavor: dict[str, Any]
    new_flavor: dict[str, Any]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime | None


@dataclasses.dataclass
class BuildRequest:
    instance_uuid: str
    request_spec: dict[str, Any]
    alternates: list[dict[str, Any]]  # Selection dicts not tried yet, best first
    tried: list[dict[str, Any]]  # {"host", "reason"} per failed attempt
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime | None


class ServerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, pool_size: int = 5) -> ServerStore:
        db = Database(url, pool_size=pool_size)
        try:
            if migrate:
                upgrade(db)
        except Exception:
            db.dispose()
            raise
        return cls(db)

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> ServerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- servers ------------------------------------------------------------------------------

    def create_servers(self, servers: Sequence[Mapping[str, Any]], request_spec: Mapping[str, Any],
                       action: Mapping[str, Any]) -> None:
        """The servers of one create, each with its build request and a ``create`` action, in one transaction."""
        stamp = now()

        def op(conn: Connection) -> None:
            conn.execute(t.instances.insert(), [
                {**s, "vm_state": states.BUILDING, "task_state": states.SCHEDULING, "deleted": False,
                 "created_at": stamp, "task_changed_at": stamp, "cell": None, "host": None, "node": None}
                for s in servers])
            conn.execute(t.build_requests.insert(), [
                {"instance_uuid": s["uuid"], "request_spec": dict(request_spec), "alternates": [], "tried": [],
                 "attempts": 0, "created_at": stamp} for s in servers])
            conn.execute(t.actions.insert(), [
                {**action, "instance_uuid": s["uuid"], "action": "create", "start_time": stamp} for s in servers])

        self.db.write(op)

    def get(self, uuid: str) -> Server | None:
        with self.db.read() as conn:
            row = conn.execute(_GET, {"uuid": uuid}).mappings().first()
        return Server(**row) if row else None

    def get_many(self, uuids: Iterable[str]) -> dict[str, Server]:
        """The servers among ``uuids`` that exist, by uuid, read in one query."""
        with self.db.read() as conn:
            return {row["uuid"]: Server(**row) for row in conn.execute(_GET_MANY, {"uuids": list(uuids)}).mappings()}

    def list_servers(self, *, reservation_id: str | None = None, host: str | None = None, vm_state: str | None = None,
             cell: str | None = None, task_states: Iterable[str] | None = None, include_deleted: bool = False,
             project_id: str | None = None, changed_before: dt.datetime | None = None) -> list[Server]:
        q = sa.select(t.instances)
        c = t.instances.c
        if not include_deleted:
            q = q.where(c.deleted.is_(False))
        for column, value in ((c.reservation_id, reservation_id), (c.host, host), (c.vm_state, vm_state),
                              (c.cell, cell), (c.project_id, project_id)):
            if value is not None:
                q = q.where(column == value)
        if task_states is not None:
            q = q.where(c.task_state.in_(list(task_states)))
        if changed_before is not None:
            q = q.where(c.task_changed_at < changed_before)
        with self.db.read() as conn:
            return [Server(**row) for row in conn.execute(q.order_by(c.created_at, c.uuid)).mappings()]

    def update(self, uuid: str, *, expect_task: Any = UNSET, expect_vm: Any = UNSET, expect_host: Any = UNSET,
               action: tuple[str, bool, str | None] | None = None, fault: tuple[int, str, str] | None = None,
               **values: Any) -> bool:
        """Set ``values`` if the server is live and its task/vm state and host are as expected (a value or a tuple).

        ``action`` (name, ok, message) closes that open action and ``fault`` (code, message,
        details) is recorded in the same transaction, so whoever sees the new state sees them too.
        """
        q, params, values = _prepare_update(uuid, expect_task, expect_vm, expect_host, values)

        def op(conn: Connection) -> bool:
            if not conn.execute(q, {**values, **params}).rowcount:
                return False
            _record_outcome(conn, uuid, action, fault)
            return True

        return self.db.write(op)

    def update_and_read(self, uuid: str, *, expect_task: Any = UNSET, expect_host: Any = UNSET,
                        build_request: Mapping[str, Any] | None = None, **values: Any) -> Server | None:
        """``update``, then ``set_build_request`` with ``build_request``, in one transaction: the server as
        written, or None (nothing written) when it is deleted or not as expected.
        """
        q, params, values = _prepare_update(uuid, expect_task, UNSET, expect_host, values)
        with_row, _, _ = _prepare_update(uuid, expect_task, UNSET, expect_host, {}, returning=True)

        def op(conn: Connection) -> Server | None:
            if conn.dialect.update_returning:  # SQLite and PostgreSQL: the UPDATE hands the row back
                row = conn.execute(with_row, {**values, **params}).mappings().first()
                if row is None:
                    return None
            else:
                if not conn.execute(q, {**values, **params}).rowcount:
                    return None
                row = conn.execute(_GET, {"uuid": uuid}).mappings().one()
            if build_request is not None:
                _set_build_request(conn, uuid, build_request)
            return Server(**row)

        return self.db.write(op)

    # ---- build requests ------------------------------------------------------------------------

    def build_request(self, uuid: str) -> BuildRequest | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.build_requests).where(t.build_requests.c.instance_uuid == uuid)
                               ).mappings().first()
        return BuildRequest(**row) if row else None

    def set_build_request(self, uuid: str, **values: Any) -> None:
        self.db.write(lambda conn: _set_build_request(conn, uuid, values))

    # ---- faults and actions -------------------------------------------------------------------

    def add_fault(self, uuid: str, code: int, message: str, details: str = "") -> None:
        self.db.write(lambda conn: _add_fault(conn, uuid, code, message, details))

    def fault(self, uuid: str) -> dict[str, Any] | None:
        """The latest fault of the server, or None."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.faults).where(t.faults.c.instance_uuid == uuid)
                               .order_by(t.faults.c.id.desc()).limit(1)).mappings().first()
        return {"code": row["code"], "message": row["message"], "details": row["details"],
                "created": row["created_at"]} if row else None

    def start_action(self, uuid: str, action: str, *, request_id: str | None = None, user_id: str | None = None,
                     project_id: str | None = None) -> None:
        self.db.write(lambda conn: conn.execute(t.actions.insert().values(
            instance_uuid=uuid, action=action, request_id=request_id, user_id=user_id, project_id=project_id,
            start_time=now())))

    def finish_action(self, uuid: str, action: str, *, ok: bool, message: str | None = None) -> None:
        """Close the latest open ``action`` of the server (the one without a result)."""
        self.db.write(lambda conn: _finish_action(conn, uuid, action, ok, message))

    def actions(self, uuid: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.actions).where(t.actions.c.instance_uuid == uuid)
                                .order_by(t.actions.c.id)).mappings().all()
        return [dict(r) for r in rows]

    # ---- migrations ---------------------------------------------------------------------------

    def create_migration(self, uuid: str, instance_uuid: str, kind: str, *, source_host: str | None,
                         old_flavor: Mapping[str, Any], new_flavor: Mapping[str, Any]) -> None:
        self.db.write(lambda conn: conn.execute(t.migrations.insert().values(
            uuid=uuid, instance_uuid=instance_uuid, kind=kind, source_host=source_host, dest_host=None,
            old_flavor=dict(old_flavor), new_flavor=dict(new_flavor), status=states.MIG_PRE, created_at=now())))

    def migration(self, uuid: str) -> Migration | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.migrations).where(t.migrations.c.uuid == uuid)).mappings().first()
        return Migration(**row) if row else None

    def migrations(self, *, instance_uuid: str | None = None, statuses: Iterable[str] | None = None,
                   source_host: str | None = None, kind: str | None = None,
                   changed_before: dt.datetime | None = None) -> list[Migration]:
        c = t.migrations.c
        q = sa.select(t.migrations)
        if instance_uuid is not None:
            q = q.where(c.instance_uuid == instance_uuid)
        if statuses is not None:
            q = q.where(c.status.in_(list(statuses)))
        if source_host is not None:
            q = q.where(c.source_host == source_host)
        if kind is not None:
            q = q.where(c.kind == kind)
        if changed_before is not None:
            q = q.where(sa.func.coalesce(c.updated_at, c.created_at) < changed_before)
        with self.db.read() as conn:
            return [Migration(**r) for r in conn.execute(q.order_by(c.created_at)).mappings()]

    def set_migration(self, uuid: str, *, expect_status: Any = UNSET, **values: Any) -> bool:
        c = t.migrations.c
        q = t.migrations.update().where(c.uuid == uuid)
        if expect_status is not UNSET:
            q = q.where(c.status.in_(list(expect_status) if isinstance(expect_status, tuple) else [expect_status]))
        return bool(self.db.write(lambda conn: conn.execute(q.values(**values, updated_at=now())).rowcount))

    # ---- maintenance --------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every record (tests, tools)."""

        def op(conn: Connection) -> None:
            for table in reversed(t.metadata.sorted_tables):
                conn.execute(table.delete())

        self.db.write(op)


def _prepare_update(uuid: str, expect_task: Any, expect_vm: Any, expect_host: Any, values: Mapping[str, Any],
                    returning: bool = False) -> tuple[sa.Update, dict[str, Any], dict[str, Any]]:
    """The conditional UPDATE of ``ServerStore.update``, its WHERE parameters and the values it sets."""
    _check_columns(t.instances, values)
    q, params = _expectations(uuid, {"task": expect_task, "vm": expect_vm, "host": expect_host}, returning)
    stamp = now()
    out = {**values, "updated_at": stamp}
    if "task_state" in out:
        out["task_changed_at"] = stamp
    if out.get("vm_state") == states.DELETED:
        out.update(deleted=True, deleted_at=stamp)
    return q, params, out


def _check_columns(table: sa.Table, values: Mapping[str, Any]) -> None:
    """Unknown keys fail as ``.values(**values)`` made them fail (the SET columns now come from the parameters)."""
    unknown = set(values).difference(table.c.keys())
    if unknown:
        raise sa.exc.CompileError(f"Unconsumed column names: {', '.join(sorted(unknown))}")


def _record_outcome(conn: Connection, uuid: str, action: tuple[str, bool, str | None] | None,
                    fault: tuple[int, str, str] | None) -> None:
    if action is not None:
        _finish_action(conn, uuid, *action)
    if fault is not None:
        _add_fault(conn, uuid, *fault)


def _set_build_request(conn: Connection, uuid: str, values: Mapping[str, Any]) -> None:
    _check_columns(t.build_requests, values)
    conn.execute(_SET_BUILD_REQUEST, {**values, "updated_at": now(), "w_uuid": uuid})


def _finish_action(conn: Connection, uuid: str, action: str, ok: bool, message: str | None) -> None:
    outcome = {"finish_time": now(), "result": "Success" if ok else "Error", "message": message}
    which = {"w_uuid": uuid, "w_action": action}
    if conn.dialect.name in ("sqlite", "postgresql"):
        conn.execute(_CLOSE_OPEN_ACTION, {**outcome, **which})
        return
    open_id = conn.execute(_OPEN_ACTION, which).scalar()
    if open_id is not None:
        conn.execute(_CLOSE_ACTION, {**outcome, "w_id": open_id})


def _add_fault(conn: Connection, uuid: str, code: int, message: str, details: str) -> None:
    conn.execute(t.faults.insert().values(instance_uuid=uuid, code=code, message=message[:255], details=details,
                                          created_at=now()))
