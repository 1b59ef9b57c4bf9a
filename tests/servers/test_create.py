"""Creates end to end through the REST API: one server, N under a reservation id, reschedules, all alternates failing."""

from __future__ import annotations

import json

from allotment.servers.compute import FakeDriver, HostInventory
from tests.servers.harness import SMALL, open_harness

SMALL_HOST = HostInventory.simple(vcpus=4, memory_mb=4096, disk_gb=40)
BIG_HOST = HostInventory.simple(vcpus=4, memory_mb=8192, disk_gb=40)  # the RAM weigher prefers it


def test_create_one_answers_at_once_then_goes_active(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": SMALL_HOST, "cn2": SMALL_HOST}) as h:
        answer = h.create("web")
        uuid = answer["server"]["id"]
        assert answer["server"]["reservation_id"].startswith("r-")
        server = h.wait_for(uuid, "ACTIVE")
        assert server["vm_state"] == "active" and server["host"] in ("cn1", "cn2") and server["cell"] == "cell1"
        assert h.host_usage(server["host"]) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
        h.check_usages()
        actions = h.http.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]
        assert [(a["action"], a["result"]) for a in actions] == [("create", "Success")]


def test_create_n_with_only_a_reservation_id(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": SMALL_HOST, "cn2": SMALL_HOST}) as h:
        answer = h.create("batch", min_count=5, max_count=5, return_reservation_id=True)
        assert list(answer) == ["reservation_id"]
        listed = h.http.get("/servers", params={"reservation_id": answer["reservation_id"]}).json()["servers"]
        assert len(listed) == 5
        for s in listed:
            h.wait_for(s["id"], "ACTIVE")
        hosts = {h.show(s["id"])["host"] for s in listed}
        assert hosts == {"cn1", "cn2"}
        on_cn1 = h.http.get("/servers", params={"host": "cn1"}).json()["servers"]
        assert 0 < len(on_cn1) < 5
        h.check_usages()


def test_min_count_is_all_or_nothing_and_max_count_creates_what_fits(db_url: str) -> None:
    tiny = HostInventory.simple(vcpus=2, memory_mb=4096, disk_gb=40)  # two SMALL servers per host
    with open_harness(db_url, computes={"cn1": tiny}) as h:
        none = h.create("too-many", min_count=3, max_count=3, return_reservation_id=True)
        listed = h.http.get("/servers", params={"reservation_id": none["reservation_id"]}).json()["servers"]
        for s in listed:
            server = h.wait_for(s["id"], "ERROR")
            assert server["cell"] == "cell0" and "No valid host" in server["fault"]["message"]
            # The fault carries the scheduler's explanation: the one host lacks VCPU for a third server.
            explanation = json.loads(server["fault"]["details"].split("explanation: ", 1)[1])
            assert explanation["hosts"] == 1
            assert [m["host"] for m in explanation["nearest_misses"]] == ["cn1"]
        h.check_usages()

        some = h.create("some", min_count=1, max_count=3, return_reservation_id=True)
        listed = h.http.get("/servers", params={"reservation_id": some["reservation_id"],
                                                "deleted": "true"}).json()["servers"]
        settled = [h.wait_settled(s["id"]) for s in listed]
        assert sorted(s["status"] for s in settled) == ["ACTIVE", "ACTIVE", "DELETED"]
        h.check_usages()


def test_failed_build_is_rescheduled_onto_an_alternate(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": BIG_HOST, "cn2": SMALL_HOST},
                      drivers={"cn1": FakeDriver(failure_rate=1.0)}) as h:
        uuid = h.create("web")["server"]["id"]
        server = h.wait_for(uuid, "ACTIVE")
        assert server["host"] == "cn2"
        assert h.host_usage("cn1") == {}
        h.check_usages()
        # What the BuildFailureWeigher reads: cn1's consecutive failures.
        assert h.cloud.registry.get_host("cn1").failed_builds == 1
        assert h.cloud.registry.get_host("cn2").failed_builds == 0


def test_every_alternate_failing_ends_in_error_with_what_was_tried(db_url: str) -> None:
    failing = {name: FakeDriver(failure_rate=1.0) for name in ("cn1", "cn2", "cn3")}
    with open_harness(db_url, computes={n: SMALL_HOST for n in failing}, drivers=failing) as h:
        uuid = h.create("web")["server"]["id"]
        server = h.wait_for(uuid, "ERROR")
        fault = server["fault"]
        assert "Exceeded maximum number of retries" in fault["message"]
        for name in failing:
            assert f"{name}: fake driver: spawn of {uuid} failed" in fault["details"]
        assert server["host"] is None
        actions = h.http.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]
        assert actions[0]["result"] == "Error"
        h.check_usages()


def test_server_group_anti_affinity_spreads_the_members(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": SMALL_HOST, "cn2": SMALL_HOST}) as h:
        group = h.cloud.registry.create_group("web", "anti-affinity")
        answer = h.create("web", server_group=group.uuid, min_count=2, max_count=2)
        hosts = {h.wait_for(s["id"], "ACTIVE")["host"] for s in answer["servers"]}
        assert hosts == {"cn1", "cn2"}
        third = h.create("web", server_group=group.uuid)["server"]["id"]
        assert "No valid host" in h.wait_for(third, "ERROR")["fault"]["message"]
        h.check_usages()
