"""ServerStore's combined writes: the build hand-off in one transaction, closing the latest open action."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from allotment.servers import states
from allotment.servers.store import ServerStore

FLAVOR = {"name": "m1", "vcpus": 1, "memory_mb": 512, "root_gb": 1}


@pytest.fixture
def store(db_url: str) -> Iterator[ServerStore]:
    with ServerStore.open(db_url) as s:
        yield s


def _create(store: ServerStore, *uuids: str) -> None:
    store.create_servers([{"uuid": u, "name": u[:8], "reservation_id": "r-1", "project_id": "p", "user_id": "u",
                           "flavor": FLAVOR, "image": {"id": "img"}, "availability_zone": None,
                           "server_group": None} for u in uuids],
                         {"flavor": FLAVOR}, {"request_id": None, "user_id": "u", "project_id": "p"})


def _count_statements(store: ServerStore) -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(store.db.engine, "before_cursor_execute", record)
    return seen, record


def test_update_and_read_writes_server_and_build_request_in_one_transaction(store: ServerStore) -> None:
    _create(store, "a" * 8 + "-0000-4000-8000-000000000001")
    uuid = "a" * 8 + "-0000-4000-8000-000000000001"
    seen, hook = _count_statements(store)
    try:
        s = store.update_and_read(uuid, expect_task=states.SCHEDULING, expect_host=None,
                                  build_request={"alternates": [{"host": "h2"}], "attempts": 1},
                                  host="h1", node="h1", cell="cell1", task_state=states.SPAWNING)
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", hook)
    work = [q for q in seen if not q.startswith("BEGIN")]
    returning = store.db.engine.dialect.update_returning
    assert len(work) == (2 if returning else 3), seen  # UPDATE (RETURNING), build request (MySQL: a read)
    assert s is not None and (s.host, s.task_state, s.flavor, s.image) == ("h1", states.SPAWNING, FLAVOR, {"id": "img"})
    assert s == store.get(uuid)
    request = store.build_request(uuid)
    assert request is not None and (request.alternates, request.attempts) == ([{"host": "h2"}], 1)


def test_update_and_read_writes_nothing_when_not_as_expected(store: ServerStore) -> None:
    uuid = "b" * 8 + "-0000-4000-8000-000000000001"
    _create(store, uuid)
    assert store.update_and_read(uuid, expect_task=states.SPAWNING, build_request={"attempts": 5},
                                 host="h1", task_state=None) is None
    assert store.update(uuid, vm_state=states.DELETED, task_state=None)
    assert store.update_and_read(uuid, build_request={"attempts": 5}, host="h1") is None  # deleted
    s, request = store.get(uuid), store.build_request(uuid)
    assert s is not None and s.host is None and request is not None and request.attempts == 0


def test_get_many_reads_only_the_servers_that_exist(store: ServerStore) -> None:
    a, b = "c" * 8 + "-0000-4000-8000-000000000001", "c" * 8 + "-0000-4000-8000-000000000002"
    _create(store, a, b)
    found = store.get_many([b, a, "c" * 8 + "-0000-4000-8000-000000000009"])
    assert set(found) == {a, b} and found[a] == store.get(a)
    assert store.get_many([]) == {}


def test_an_update_closes_only_the_latest_open_action_of_its_name(store: ServerStore) -> None:
    uuid = "d" * 8 + "-0000-4000-8000-000000000001"
    _create(store, uuid)
    store.finish_action(uuid, "create", ok=True)
    store.start_action(uuid, "create")
    store.start_action(uuid, "delete")
    assert store.update(uuid, expect_task=states.SCHEDULING, task_state=None, action=("create", False, "no"))
    got = [(a["action"], a["result"], a["message"]) for a in store.actions(uuid)]
    assert got == [("create", "Success", None), ("create", "Error", "no"), ("delete", None, None)]
    # Nothing open of that name: nothing changes.
    assert store.update(uuid, task_state=None, action=("resize", True, None))
    assert [(a["action"], a["result"]) for a in store.actions(uuid)] == [
        ("create", "Success"), ("create", "Error"), ("delete", None)]


@pytest.mark.parametrize("expect", [(states.SCHEDULING, None), (None, states.SCHEDULING), None])
def test_expectations_with_none_among_them_match_as_before(store: ServerStore, expect: Any) -> None:
    uuid = "e" * 8 + "-0000-4000-8000-000000000001"
    _create(store, uuid)
    assert store.update(uuid, expect_task=expect, expect_host=None, expect_vm=(states.BUILDING,), node="n") == (
        expect is not None)
    assert store.update(uuid, expect_task=(states.SPAWNING, states.ERROR), node="m") is False


def test_unknown_fields_are_refused_as_before(store: ServerStore) -> None:
    uuid = "f" * 8 + "-0000-4000-8000-000000000001"
    _create(store, uuid)
    with pytest.raises(sa.exc.CompileError, match="bogus"):
        store.update(uuid, bogus=1)
    with pytest.raises(sa.exc.CompileError, match="bogus"):
        store.update_and_read(uuid, build_request={"bogus": 1}, node="n")
    with pytest.raises(sa.exc.CompileError, match="bogus"):
        store.set_build_request(uuid, bogus=1)
    s = store.get(uuid)
    assert s is not None and s.node is None
