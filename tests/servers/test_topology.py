"""Dedicated CPUs end to end: computes report their NUMA topology, the conductor pins alternates, delete and the audit free pins."""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

import pytest

from allotment.scheduler.config import load_scheduler_config
from allotment.scheduler.errors import Conflict
from allotment.scheduler.topology.placement import pci_provider_uuid
from allotment.scheduler.topology.usage import CellFit, Fit
from allotment.servers.cloud import Cloud
from allotment.servers.compute import FakeDriver, HostInventory
from allotment.servers.compute.driver import BuildFailed
from allotment.servers.compute.inventory import InventoryError
from tests.servers.harness import Harness, open_harness

PINNED = {"name": "pinned", "vcpus": 2, "memory_mb": 512, "root_gb": 1,
          "extra_specs": {"hw:cpu_policy": "dedicated"}}
FILTERS = ["ComputeFilter", "NUMATopologyFilter", "PciPassthroughFilter"]


def topology(dedicated: tuple[str, str] = ("2-5", "8-11"), memory_mb: int = 4096) -> dict[str, Any]:
    """Two NUMA cells (shared CPUs 0-1 and 6-7) and one PCI device on cell 0."""
    return {"cells": [{"id": n, "socket": 0, "cpus": shared, "pcpus": pcpus, "memory_mb": memory_mb}
                      for n, (shared, pcpus) in enumerate(zip(("0-1", "6-7"), dedicated))],
            "pci_devices": [{"address": "0000:3b:00.0", "vendor_id": "10de", "product_id": "1eb8",
                             "numa_node": 0}]}


def inventory(**kwargs: Any) -> HostInventory:
    return HostInventory.from_dict({"DISK_GB": 100, "VCPU": {"total": 1, "allocation_ratio": 4.0},
                                    "topology": topology(**kwargs)})


def harness(db_url: str, computes: Mapping[str, HostInventory], **options: Any) -> Any:
    config = dataclasses.replace(load_scheduler_config(None, db_url=db_url), enabled_filters=FILTERS)
    return open_harness(db_url, computes=computes, config=config, **options)


def pins(h: Harness) -> dict[str, dict[str, set[int]]]:
    """Host -> consumer -> pinned CPUs, as the registry holds them."""
    out: dict[str, dict[str, set[int]]] = {}
    for host in h.cloud.host_roots():
        _, claims = h.cloud.registry.get_topology(host)
        out[host] = {c: set(Fit.from_dict(doc).taken_cpus) for c, doc in claims.items()}
    return out


def check_pins(h: Harness) -> None:
    """Every live server with a host holds one claim, there; nothing else holds any; no CPU is given twice."""
    live = {s.uuid: s.host for s in h.cloud.store.list_servers() if s.host is not None}
    held = pins(h)
    where = {c: host for host, claims in held.items() for c in claims}
    assert where == live
    for host, claims in held.items():
        cpus = [cpu for taken in claims.values() for cpu in taken]
        assert len(cpus) == len(set(cpus)), f"a CPU of {host} given twice: {claims}"


def test_compute_reports_its_topology_on_start_and_on_change(db_url: str) -> None:
    with harness(db_url, {"cn1": inventory()}) as h:
        placement, registry = h.cloud.placement, h.cloud.registry
        root = h.cloud.host_roots()["cn1"]
        _, inv = placement.get_inventories(root)
        assert {rc: i.total for rc, i in inv.items()} == {"VCPU": 4, "PCPU": 8, "MEMORY_MB": 8192, "DISK_GB": 100}
        assert inv["VCPU"].allocation_ratio == 4.0  # the inventory file's ratio, the topology's total
        gpu = pci_provider_uuid(root, "0000:3b:00.0")
        _, gpu_inv = placement.get_inventories(gpu)
        assert {rc: i.total for rc, i in gpu_inv.items()} == {"CUSTOM_PCI_10DE_1EB8": 1}
        topo, claims = registry.get_topology("cn1")
        assert topo.total_pcpus == 8 and claims == {}
        assert topo.pci_providers == {"0000:3b:00.0": gpu}

        # A restart reports the same tree: the device provider survives, nothing is written.
        server = h.create("a", PINNED)["server"]["id"]
        h.wait_for(server, "ACTIVE")
        h.cloud.stop_compute("cn1")
        agent = h.cloud.add_compute("cn1", inventory())
        assert placement.get_provider(gpu).uuid == gpu
        assert set(pins(h)["cn1"]) == {server}

        # A change: a third dedicated CPU per cell is reported to placement and the registry.
        agent.update_inventory(inventory(dedicated=("2-5,12", "8-11,13")))
        _, inv = placement.get_inventories(root)
        assert inv["PCPU"].total == 10
        assert registry.get_topology("cn1")[0].total_pcpus == 10

        # A change dropping CPUs the server holds is refused before placement is touched.
        held = min(pins(h)["cn1"][server])
        shrunk = tuple(",".join(str(c) for c in cell if c != held) for cell in ((2, 3, 4, 5, 12), (8, 9, 10, 11, 13)))
        with pytest.raises(Conflict, match="drops CPU"):
            agent.update_inventory(inventory(dedicated=(shrunk[0], shrunk[1])))
        _, inv = placement.get_inventories(root)
        assert inv["PCPU"].total == 10
        assert agent.inventory.topology is not None and agent.inventory.topology.total_pcpus == 10
        h.check_usages()


def test_inventory_topology_section_is_validated() -> None:
    with pytest.raises(InventoryError, match="topology: cells"):
        HostInventory.from_dict({"DISK_GB": 1, "topology": {"cells": []}})
    with pytest.raises(InventoryError, match="lacks DISK_GB"):
        HostInventory.from_dict({"topology": topology()})
    with pytest.raises(InventoryError, match="lacks VCPU"):  # without a topology VCPU stays required
        HostInventory.from_dict({"DISK_GB": 1, "MEMORY_MB": 1})


def test_dedicated_servers_get_distinct_pins_and_delete_frees_them(db_url: str) -> None:
    with harness(db_url, {"cn1": inventory(), "cn2": inventory()}) as h:
        answer = h.create("pinned", PINNED, min_count=6, max_count=6)
        uuids = [s["id"] for s in answer["servers"]]
        for u in uuids:
            h.wait_for(u, "ACTIVE")
        check_pins(h)
        assert sum(len(c) for c in pins(h).values()) == 6
        assert sum(h.host_usage(n).get("PCPU", 0) for n in ("cn1", "cn2")) == 12
        h.check_usages()
        # Full: 16 dedicated CPUs, 12 pinned, each cell has at most one pair left.
        for u in uuids[:3]:
            assert h.http.delete(f"/servers/{u}").status_code == 204
        for u in uuids[:3]:
            h.wait_for(u, "DELETED")
        check_pins(h)
        assert sum(len(c) for c in pins(h).values()) == 3
        h.check_usages()


class FailingDriver(FakeDriver):
    """Fails every build; before failing, the ``plant`` hook may take CPUs on the server's next alternate."""

    def __init__(self) -> None:
        super().__init__(failure_rate=1.0)
        self.h: Harness | None = None
        self.planted: dict[str, str] = {}  # blocker consumer -> host

    def spawn(self, instance: str, flavor: Mapping[str, Any], image: Mapping[str, Any]) -> None:
        if self.h is not None:
            request = self.h.cloud.store.build_request(instance)
            assert request is not None and request.alternates
            host = request.alternates[0]["host"]
            blocker = str(uuidlib.uuid4())
            # One dedicated CPU of each cell: placement still has PCPU for the server, no cell has two.
            topo, _ = self.h.cloud.registry.get_topology(host)
            taken = [CellFit(host_cell=c.id, guest_cell=i, taken=frozenset({min(c.pcpus)}))
                     for i, c in enumerate(topo.cells)]
            self.h.cloud.registry.claim_topology(host, blocker, lambda _t, _u: Fit(cells=tuple(taken)))
            self.planted[blocker] = host
        raise BuildFailed(f"fake driver: spawn of {instance} failed")


def test_rescheduled_builds_keep_distinct_pins(db_url: str) -> None:
    small = inventory(dedicated=("2-3", "8-9"))
    failing = FailingDriver()
    with harness(db_url, {"cn1": inventory(memory_mb=16384), "cn2": small, "cn3": small},
                 drivers={"cn1": failing}) as h:
        answer = h.create("pinned", PINNED, min_count=2, max_count=2)
        uuids = [s["id"] for s in answer["servers"]]
        servers = [h.wait_for(u, "ACTIVE") for u in uuids]
        assert all(s["host"] != "cn1" for s in servers)
        assert pins(h)["cn1"] == {}  # the failed host's pins were released
        check_pins(h)
        h.check_usages()


def test_a_refused_fit_moves_on_and_the_audit_heals_the_orphan_pin(db_url: str) -> None:
    small = inventory(dedicated=("2-3", "8-9"))
    failing = FailingDriver()
    with harness(db_url, {"cn1": inventory(memory_mb=16384), "cn2": small, "cn3": small},
                 drivers={"cn1": failing}) as h:
        failing.h = h
        uuid = h.create("pinned", PINNED)["server"]["id"]
        server = h.wait_for(uuid, "ACTIVE")
        [(blocker, blocked)] = failing.planted.items()
        assert server["host"] not in ("cn1", blocked)
        request = h.cloud.store.build_request(uuid)
        assert request is not None
        reasons = {t["host"]: t["reason"] for t in request.tried}
        assert reasons[blocked].startswith("topology refused:"), reasons
        assert pins(h)["cn1"] == {}
        assert h.host_usage(blocked) == {}  # its placement claim was dropped when the fit was refused

        report = h.cloud.audit()
        [finding] = report.findings
        assert (finding.kind, finding.subject) == ("orphan_pin", blocker)
        assert blocked in finding.detail and finding.action is None
        assert blocker in pins(h)[blocked]
        healed = h.cloud.audit(heal=True)
        assert [(f.kind, f.action) for f in healed.findings] == [("orphan_pin", "topology claims released")]
        check_pins(h)
        h.check_usages()

        # A deleted server's pins are released; a pin left behind by a lost delete is an orphan too.
        h.http.delete(f"/servers/{uuid}")
        h.wait_for(uuid, "DELETED")
        check_pins(h)
        ghost = str(uuidlib.uuid4())
        h.cloud.registry.claim_topology("cn2", ghost, lambda _t, _u: Fit(cells=(
            CellFit(host_cell=0, guest_cell=0, taken=frozenset({2, 3}), pinning=((0, 2), (1, 3))),)))
        assert h.cloud.audit().counts()["orphan_pin"] == 1
        h.cloud.audit(heal=True)
        assert pins(h) == {"cn1": {}, "cn2": {}, "cn3": {}}
        h.check_usages()


def test_fake_computes_of_one_process_share_the_inventory_topology(db_url: str) -> None:
    """What ``allotment servers serve --fake-computes 2 --inventory FILE`` starts."""
    config = dataclasses.replace(load_scheduler_config(None, db_url=db_url), enabled_filters=FILTERS)
    with Cloud.open(db_url, computes=2, inventory=inventory(), config=config) as cloud:
        h = Harness(cloud)
        try:
            assert {n: cloud.registry.get_topology(n)[0].total_pcpus for n in cloud.computes} == \
                {"compute1": 8, "compute2": 8}
            uuid = h.create("pinned", PINNED)["server"]["id"]
            h.wait_for(uuid, "ACTIVE")
            check_pins(h)
            h.check_usages()
        finally:
            h.http.close()


def test_moves_of_a_dedicated_server_keep_its_pins_where_it_is(db_url: str) -> None:
    with harness(db_url, {"cn1": inventory(), "cn2": inventory()}) as h:
        uuid = h.create("pinned", PINNED)["server"]["id"]
        source = h.wait_for(uuid, "ACTIVE")["host"]
        h.action(uuid, {"migrate": None})
        target = h.wait_for(uuid, "VERIFY_RESIZE")["host"]
        assert target != source
        held = pins(h)
        assert uuid in held[source] and uuid in held[target]  # the source is kept for a revert
        h.check_usages()
        h.action(uuid, {"confirmResize": None})
        h.wait_for(uuid, "ACTIVE")
        check_pins(h)
        h.check_usages()

        h.cloud.registry.set_host_status(target, forced_down=True)
        h.action(uuid, {"evacuate": None})
        assert h.wait_for(uuid, "ACTIVE")["host"] == source
        check_pins(h)  # the dead host's pins went with the rebuild
        h.check_usages()
