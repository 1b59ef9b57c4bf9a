"""Resize (confirm, revert), cold migration, evacuation and delete end to end through the REST API.

After every step placement holds exactly what the live servers and the open migrations
should (``Harness.check_usages``), and the audit finds nothing.
"""

from __future__ import annotations

from allotment.servers.compute import HostInventory
from tests.servers.harness import LARGE, SMALL, Harness, open_harness

HOST = HostInventory.simple(vcpus=4, memory_mb=4096, disk_gb=40)
SMALL_USE = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
LARGE_USE = {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 2}


def _active(h: Harness) -> tuple[str, str]:
    uuid = h.create("web")["server"]["id"]
    server = h.wait_for(uuid, "ACTIVE")
    h.check_usages()
    return uuid, server["host"]


def _other(host: str) -> str:
    return "cn2" if host == "cn1" else "cn1"


def test_resize_then_confirm_frees_the_source(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        uuid, source = _active(h)
        h.action(uuid, {"resize": {"flavor": LARGE}})
        server = h.wait_for(uuid, "VERIFY_RESIZE")
        assert server["host"] == _other(source) and server["flavor"]["name"] == "large"
        assert h.host_usage(source) == SMALL_USE  # held by the migration until confirm
        assert h.host_usage(server["host"]) == LARGE_USE
        h.check_usages()

        h.action(uuid, {"confirmResize": None})
        server = h.wait_for(uuid, "ACTIVE")
        assert h.host_usage(source) == {} and h.host_usage(server["host"]) == LARGE_USE
        h.check_usages()
        migrations = h.http.get(f"/servers/{uuid}/migrations").json()["migrations"]
        assert [(m["kind"], m["status"]) for m in migrations] == [("resize", "confirmed")]
        actions = [a["action"] for a in h.http.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]]
        assert actions == ["create", "resize", "confirmResize"]


def test_resize_then_revert_goes_back_with_the_old_flavor(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        uuid, source = _active(h)
        h.action(uuid, {"resize": {"flavor": LARGE}})
        h.wait_for(uuid, "VERIFY_RESIZE")
        h.action(uuid, {"revertResize": None})
        server = h.wait_for(uuid, "ACTIVE")
        assert server["host"] == source and server["flavor"]["name"] == "small"
        assert h.host_usage(source) == SMALL_USE and h.host_usage(_other(source)) == {}
        h.check_usages()


def test_cold_migrate_moves_to_another_host(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        uuid, source = _active(h)
        h.action(uuid, {"migrate": None})
        server = h.wait_for(uuid, "VERIFY_RESIZE")
        assert server["host"] == _other(source)
        h.check_usages()
        h.action(uuid, {"confirmResize": None})
        server = h.wait_for(uuid, "ACTIVE")
        assert h.host_usage(source) == {} and h.host_usage(server["host"]) == SMALL_USE
        h.check_usages()


def test_a_move_with_no_other_host_keeps_the_server_where_it_is(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST}) as h:
        uuid, source = _active(h)
        h.action(uuid, {"migrate": None})
        server = h.wait_for(uuid, "ACTIVE")
        assert server["host"] == source
        actions = h.http.get(f"/servers/{uuid}/os-instance-actions").json()["instanceActions"]
        assert actions[-1]["action"] == "migrate" and actions[-1]["result"] == "Error"
        assert "No valid host" in actions[-1]["message"]
        h.check_usages()


def test_evacuate_only_from_a_host_that_is_down_and_source_freed_when_it_returns(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        uuid, source = _active(h)
        refused = h.action(uuid, {"evacuate": None}, status=409)
        assert refused.json()["errors"][0]["code"] == "servers.host_up"

        h.cloud.registry.set_host_status(source, forced_down=True)
        h.action(uuid, {"evacuate": None})
        server = h.wait_for(uuid, "ACTIVE")
        target = _other(source)
        assert server["host"] == target
        # The dead source keeps its allocations (under the migration) until it comes back.
        assert h.host_usage(source) == SMALL_USE and h.host_usage(target) == SMALL_USE
        h.check_usages()

        h.cloud.stop_compute(source)
        h.cloud.registry.set_host_status(source, forced_down=False)
        h.cloud.add_compute(source, HOST)  # restarted: tells the conductor, which frees the source
        assert h.cloud.wait_until(lambda: h.host_usage(source) == {})
        migrations = h.http.get(f"/servers/{uuid}/migrations").json()["migrations"]
        assert [(m["kind"], m["status"]) for m in migrations] == [("evacuation", "completed")]
        h.check_usages()


def test_delete_frees_everything_even_during_a_resize(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST, "cn2": HOST}) as h:
        plain, _ = _active(h)
        resizing, _ = _active(h)
        h.action(resizing, {"resize": {"flavor": LARGE}})
        h.wait_for(resizing, "VERIFY_RESIZE")
        for uuid in (plain, resizing):
            assert h.http.delete(f"/servers/{uuid}").status_code == 204
        for uuid in (plain, resizing):
            assert h.wait_for(uuid, "DELETED")["deleted"] is True
            assert h.http.delete(f"/servers/{uuid}").status_code == 404
        assert h.usages() == {root: {} for root in h.cloud.host_roots().values()}
        assert h.http.get("/servers").json()["servers"] == []
        h.check_usages()


def test_bad_requests_are_refused_with_a_code_and_nothing_written(db_url: str) -> None:
    with open_harness(db_url, computes={"cn1": HOST}) as h:
        cases = [
            ({"server": {"name": "x"}}, "flavor"),
            ({"server": {"name": "x", "flavor": {**SMALL, "vcpus": 0}}}, "vcpus"),
            ({"server": {"name": "x", "flavor": SMALL, "min_count": 3, "max_count": 2}}, "min_count"),
            ({"server": {"name": "x", "flavor": SMALL, "server_group": "0b6c4f4e-2d2f-4c1e-9f5e-8a1d2b3c4d5e"}},
             "server group"),
        ]
        for body, word in cases:
            resp = h.http.post("/servers", json=body)
            assert resp.status_code == 400, resp.text
            assert word in resp.json()["errors"][0]["detail"]
        assert h.http.get("/servers", params={"deleted": "true"}).json()["servers"] == []
        assert h.http.get("/servers/not-a-uuid").status_code == 404
        uuid, _ = _active(h)
        assert h.action(uuid, {"confirmResize": None}, status=409).json()["errors"][0]["code"] == \
            "servers.invalid_state"
        assert h.action(uuid, {"resize": {"flavor": SMALL}}, status=400)
        assert h.action(uuid, {"reboot": None}, status=400)
