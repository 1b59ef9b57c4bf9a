"""What recording an instance costs the database, and that the cheaper paths keep their answers.

``record`` runs for every instance a scheduler places and every task state change, so its
round trips are part of its contract (as placement's claim statements are).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from allotment.infra.database import Database
from allotment.scheduler.errors import InvalidInput, NotFound
from allotment.scheduler.registry import Registry, changes
from allotment.scheduler.registry.tables import changes as change_log
from allotment.scheduler.registry.tables import hosts
from tests.scheduler.registry.conftest import new_uuid
from tests.sql_statements import recorded_statements


@pytest.fixture
def statements(registry_db: Database) -> Iterator[list[str]]:
    with recorded_statements(registry_db.engine) as seen:
        yield seen


def _returning(registry: Registry) -> bool:
    return bool(registry.db.engine.dialect.update_returning)


def test_placing_a_new_instance_takes_five_statements(registry: Registry, statements: list[str]) -> None:
    registry.register_host("c1", new_uuid())
    statements.clear()
    assert registry.put_instance(new_uuid(), "c1", vcpus=1, memory_mb=512, task_state="scheduling")
    # Lock the row (none), the host's id and the server group at once, insert, then the change
    # counter and its log (MySQL reads the counter back: no UPDATE ... RETURNING).
    assert len(statements) == (5 if _returning(registry) else 6), statements


def test_a_task_state_change_takes_three_statements(registry: Registry, statements: list[str]) -> None:
    registry.register_host("c1", new_uuid())
    uuid = new_uuid()
    registry.put_instance(uuid, "c1", vcpus=1)
    statements.clear()
    assert not registry.put_instance(uuid, task_state="spawning")
    # UPDATE ... RETURNING the host, the change counter, its log; MySQL locks and reads first.
    assert len(statements) == (3 if _returning(registry) else 5), statements
    assert registry.get_instance(uuid).task_state == "spawning"


def test_a_task_state_change_is_logged_for_the_instances_host(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    uuid = new_uuid()
    registry.put_instance(uuid, "c1", vcpus=1)
    with registry.db.read() as conn:
        before = changes.current(conn)
    registry.put_instance(uuid, task_state=None)
    with registry.db.read() as conn:
        hid = conn.execute(sa.select(hosts.c.id).where(hosts.c.name == "c1")).scalar_one()
        logged = conn.execute(sa.select(change_log.c.generation, change_log.c.kind, change_log.c.ref)
                              .where(change_log.c.generation > before)).all()
    assert [tuple(r) for r in logged] == [(before + 1, "h", hid)]


def test_a_task_state_change_of_an_unrecorded_instance_changes_nothing(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    with registry.db.read() as conn:
        before = changes.current(conn)
    with pytest.raises(InvalidInput, match="not recorded yet"):
        registry.put_instance(new_uuid(), task_state="spawning")
    with pytest.raises(InvalidInput, match="not recorded yet"):
        registry.set_task_state(new_uuid(), "spawning")
    with pytest.raises(NotFound, match="not registered"):
        registry.put_instance(new_uuid(), "nowhere", vcpus=1)
    with registry.db.read() as conn:
        assert changes.current(conn) == before


def test_a_member_placed_before_it_is_recorded_follows_a_later_move(registry: Registry) -> None:
    """The server group lookup now rides on the host lookup: a membership must still be found."""
    registry.register_host("c1", new_uuid())
    registry.register_host("c2", new_uuid())
    group = registry.create_group("g", "affinity")
    uuid = new_uuid()
    registry.add_group_member(group.uuid, uuid, "c1")  # the scheduler joins the group first, then records
    registry.put_instance(uuid, "c1", vcpus=1)
    registry.put_instance(uuid, "c2")
    assert registry.get_group(group.uuid).members == {uuid: "c2"}
    assert registry.get_instance(uuid).host == "c2"


def test_put_host_writes_as_register_host_without_reading_back(registry: Registry, statements: list[str]) -> None:
    rp = new_uuid()
    assert registry.put_host("c1", rp)
    statements.clear()
    assert not registry.put_host("c1", rp, {"failed_builds": 3})
    assert not any(s.lstrip().upper().startswith("SELECT SCHED_HOSTS.ID, SCHED_HOSTS.NAME") for s in statements)
    assert registry.get_host("c1").failed_builds == 3


def test_put_instances_records_several_and_the_snapshot_takes_them_in(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    registry.register_host("c2", new_uuid())
    registry.host_states()
    loads = (registry.snapshot.full_loads, registry.snapshot.partial_loads)
    a, b, c = new_uuid(), new_uuid(), new_uuid()
    assert registry.put_instances([(a, "c1"), (b, "c2"), (c, "c1")], vcpus=1, task_state="scheduling") == [
        True, True, True]
    assert {i.uuid: (i.host, i.task_state) for i in registry.list_instances()} == {
        a: ("c1", "scheduling"), b: ("c2", "scheduling"), c: ("c1", "scheduling")}
    # This process's snapshot took the three writes in, one after the other, without reading them back.
    states = registry.host_states()
    assert (registry.snapshot.full_loads, registry.snapshot.partial_loads) == loads
    assert sorted(len(s.instances) for s in states.values()) == [1, 2]


def test_put_instances_writes_none_when_one_host_is_unknown(registry: Registry) -> None:
    registry.register_host("c1", new_uuid())
    with registry.db.read() as conn:
        before = changes.current(conn)
    with pytest.raises(NotFound, match="not registered"):
        registry.put_instances([(new_uuid(), "c1"), (new_uuid(), "nowhere")], vcpus=1)
    assert registry.list_instances() == []
    with registry.db.read() as conn:
        assert changes.current(conn) == before
