"""The audit plants: each kind of leak is made by hand (or by a lost message), found, healed, and gone after."""

from __future__ import annotations

import uuid as uuidlib

from allotment.client import Allocations, Inventory
from allotment.servers import states
from allotment.servers.audit import Auditor
from allotment.servers.compute import HostInventory
from tests.servers.harness import LARGE, SMALL, Harness, open_harness

HOST = HostInventory.simple(vcpus=4, memory_mb=4096, disk_gb=40)
BIG = HostInventory.simple(vcpus=4, memory_mb=8192, disk_gb=40)


def _active(h: Harness, flavor: dict[str, object] = SMALL) -> dict[str, object]:
    uuid = h.create("web", flavor)["server"]["id"]
    return h.wait_for(uuid, "ACTIVE")


def _impatient(h: Harness) -> Auditor:
    """An auditor for which every transitional state is already stuck."""
    return Auditor(h.cloud.store, h.cloud.conductor, stuck_after=0)


def _heal_once(h: Harness, kind: str, auditor: Auditor | None = None) -> None:
    auditor = auditor or h.cloud.auditor
    found = auditor.run()
    assert [f.kind for f in found.findings] == [kind], found.findings
    healed = auditor.run(heal=True)
    assert [f.kind for f in healed.findings] == [kind] and healed.findings[0].action
    h.check_usages()


def test_orphan_allocation_is_deleted(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST}) as h:
        _active(h)
        orphan = str(uuidlib.uuid4())
        h.cloud.placement.put_allocations(orphan, Allocations(
            allocations={h.cloud.host_roots()["cn1"]: {"VCPU": 1}}, project_id="p", user_id="u",
            consumer_generation=None, consumer_type="INSTANCE"))
        _heal_once(h, "orphan_allocation")
        assert h.cloud.placement.get_allocations(orphan).allocations == {}


def test_server_without_allocations_claims_its_flavor_again(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST}) as h:
        server = _active(h)
        h.cloud.placement.delete_allocations(str(server["id"]))
        _heal_once(h, "server_without_allocations")
        assert h.host_usage("cn1") == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
        assert h.show(str(server["id"]))["status"] == "ACTIVE"


def test_allocations_on_a_deleted_host_are_dropped_and_the_server_fails(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        server = _active(h)
        host, uuid = str(server["host"]), str(server["id"])
        root = h.cloud.host_roots()[host]
        h.cloud.stop_compute(host)
        h.cloud.registry.remove_instance(uuid)  # an operator removing the host by force
        h.cloud.registry.delete_host(host)
        _heal_once(h, "deleted_host_allocation")
        assert h.cloud.placement.provider_usages(root) == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
        shown = h.show(uuid)
        assert shown["status"] == "ERROR" and f"host {host} was deleted" in shown["fault"]["message"]


def test_half_done_migration_is_reverted(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        server = _active(h)
        uuid, source = str(server["id"]), str(server["host"])
        # A conductor died after the scheduler moved the allocations, before it told anyone.
        migration = str(uuidlib.uuid4())
        store = h.cloud.store
        store.create_migration(migration, uuid, "resize", source_host=source, old_flavor=server["flavor"],  # type: ignore[arg-type]
                               new_flavor=LARGE)
        h.cloud.conductor.scheduler.schedule_move(
            h.cloud.conductor._spec_for_move(store.get(uuid), LARGE),  # type: ignore[arg-type]
            migration_uuid=migration)
        store.set_migration(migration, status=states.MIG_MIGRATING)
        _heal_once(h, "half_done_migration", _impatient(h))
        assert store.migration(migration).status == states.MIG_ERROR  # type: ignore[union-attr]
        assert h.host_usage(source) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
        assert h.show(uuid)["status"] == "ACTIVE"


def test_lost_build_message_is_rescheduled_onto_the_alternate(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": BIG, "cn2": HOST}) as h:
        h.cloud.stop_compute("cn1")  # still registered and up (its heartbeat is recent): builds to it are lost
        uuid = h.create("web")["server"]["id"]
        assert h.cloud.wait_until(lambda: h.show(uuid)["task_state"] == "spawning")
        assert h.show(uuid)["host"] == "cn1"
        report = _impatient(h).run(heal=True)
        assert [f.kind for f in report.findings] == ["stuck_server"]
        server = h.wait_for(uuid, "ACTIVE")
        assert server["host"] == "cn2"
        h.check_usages()


def test_lost_delete_message_is_done_by_the_audit(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST}) as h:
        uuid = str(_active(h)["id"])
        h.cloud.store.update(uuid, task_state=states.DELETING)  # the API's half; the cast never arrived
        _heal_once(h, "stuck_server", _impatient(h))
        assert h.show(uuid)["status"] == "DELETED"
        assert h.host_usage("cn1") == {}


def test_provider_over_capacity_disables_its_host(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST}) as h:
        _active(h, LARGE)
        root = h.cloud.host_roots()["cn1"]
        generation, inventories = h.cloud.placement.get_inventories(root)
        h.cloud.placement.set_inventories(root, generation, {**inventories, "VCPU": Inventory(total=1)})
        found = h.cloud.audit()
        assert [f.kind for f in found.findings] == ["over_capacity"]
        assert "VCPU used 2 of capacity 1" in found.findings[0].detail
        healed = h.cloud.audit(heal=True)
        assert healed.findings[0].action == "host cn1 disabled"
        assert h.cloud.registry.get_host("cn1").disabled


def test_schedule_cut_short_by_a_dead_conductor_is_run_again(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST}) as h:
        h.cloud.conductor.stop()  # the create's cast finds no conductor
        uuid = h.create("web")["server"]["id"]
        # The dead conductor had claimed a host for it, and never recorded it.
        spec = h.cloud.store.build_request(uuid).request_spec  # type: ignore[union-attr]
        from allotment.servers.specs import request_spec

        h.cloud.scheduler.select_destinations(request_spec(spec, [uuid]))
        assert h.host_usage("cn1") == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
        h.cloud.conductor.start()  # restarted
        report = _impatient(h).run(heal=True)
        assert [f.kind for f in report.findings] == ["stuck_server"]
        assert h.wait_for(uuid, "ACTIVE")["host"] == "cn1"
        h.check_usages()


def test_the_conductor_audits_and_heals_periodically(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST}, audit_interval=0.1) as h:
        orphan = str(uuidlib.uuid4())
        h.cloud.placement.put_allocations(orphan, Allocations(
            allocations={h.cloud.host_roots()["cn1"]: {"VCPU": 1}}, project_id="p", user_id="u",
            consumer_generation=None, consumer_type="INSTANCE"))
        assert h.cloud.wait_until(lambda: h.cloud.placement.get_allocations(orphan).allocations == {}, timeout=10)
        h.check_usages()


def _resize_finished_but_server_not_moved(h: Harness) -> tuple[str, str, str, str]:
    """A resize whose destination built the server and whose migration the conductor marked finished, the
    conductor then dying before it moved the server: (server, migration, source, destination)."""
    server = _active(h)
    uuid, source = str(server["id"]), str(server["host"])
    store, conductor = h.cloud.store, h.cloud.conductor
    migration = str(uuidlib.uuid4())
    store.create_migration(migration, uuid, "resize", source_host=source, old_flavor=server["flavor"],  # type: ignore[arg-type]
                           new_flavor=LARGE)
    result = conductor.scheduler.schedule_move(conductor._spec_for_move(store.get(uuid), LARGE),  # type: ignore[arg-type]
                                               migration_uuid=migration)
    dest = result.selections[0][0].host
    store.set_migration(migration, status=states.MIG_MIGRATING, dest_host=dest)
    store.update(uuid, task_state=states.RESIZE_MIGRATING)
    store.set_migration(migration, status=states.MIG_FINISHED)  # the step the dead conductor did get to
    return uuid, migration, source, dest


def test_redelivered_resize_done_moves_a_server_whose_migration_is_already_finished(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        uuid, migration, source, dest = _resize_finished_but_server_not_moved(h)
        h.cloud.conductor.resize_done(uuid, migration, dest)  # the message again, after the restart
        shown = h.show(uuid)
        assert (shown["status"], shown["host"], shown["flavor"]["name"]) == ("VERIFY_RESIZE", dest, LARGE["name"])
        h.check_usages()
        h.cloud.conductor.resize_done(uuid, migration, dest)  # once more: nothing changes, nothing destroyed
        assert h.show(uuid)["status"] == "VERIFY_RESIZE"
        h.action(uuid, {"revertResize": None})
        shown = h.wait_for(uuid, "ACTIVE")
        assert shown["host"] == source
        h.check_usages()


def test_audit_finishes_a_resize_left_between_migration_and_server(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        uuid, migration, source, dest = _resize_finished_but_server_not_moved(h)
        report = _impatient(h).run(heal=True)
        assert [f.kind for f in report.findings] == ["stuck_server"]
        assert f"move to {dest} finished" in str(report.findings[0].action)
        shown = h.show(uuid)
        assert (shown["status"], shown["host"]) == ("VERIFY_RESIZE", dest)
        h.check_usages()
        h.action(uuid, {"confirmResize": None})
        assert h.wait_for(uuid, "ACTIVE")["host"] == dest
        assert h.host_usage(source) == {}
        h.check_usages()


def test_audit_finishes_an_evacuation_left_between_migration_and_server(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        server = _active(h)
        uuid, source = str(server["id"]), str(server["host"])
        store, conductor = h.cloud.store, h.cloud.conductor
        h.cloud.stop_compute(source)
        h.cloud.registry.set_host_status(source, forced_down=True)
        migration = str(uuidlib.uuid4())
        store.create_migration(migration, uuid, "evacuation", source_host=source,
                               old_flavor=server["flavor"], new_flavor=server["flavor"])  # type: ignore[arg-type]
        result = conductor.scheduler.schedule_move(
            conductor._spec_for_move(store.get(uuid), server["flavor"], ignore_hosts=[source]),  # type: ignore[arg-type]
            migration_uuid=migration)
        dest = result.selections[0][0].host
        store.set_migration(migration, status=states.MIG_MIGRATING, dest_host=dest)
        store.update(uuid, task_state=states.REBUILD_SPAWNING)
        store.set_migration(migration, status=states.MIG_DONE)  # the step the dead conductor did get to
        report = _impatient(h).run(heal=True)
        assert [f.kind for f in report.findings] == ["stuck_server"]
        assert f"evacuation to {dest} finished" in str(report.findings[0].action)
        shown = h.show(uuid)
        assert (shown["status"], shown["host"]) == ("ACTIVE", dest)
        assert h.cloud.registry.get_instance(uuid).host == dest
        h.check_usages()
