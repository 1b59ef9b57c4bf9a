"""NUMA, pinning, huge pages and PCI through the whole scheduler: placement query, filters, claims, release."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from allotment.scheduler.errors import InvalidRequestSpec, NoValidHost
from allotment.scheduler.topology.host import HostTopology
from allotment.scheduler.topology.placement import pci_provider_uuid, register_topology
from tests.scheduler.fleet import Fleet, boot_spec, flavor, open_fleet

ALIASES = [{"name": "nic", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"},
           {"name": "gpu", "vendor_id": "10de", "product_id": "1eb8", "numa_policy": "required"}]
FILTERS = ["ComputeFilter", "NUMATopologyFilter", "PciPassthroughFilter"]


def topology(smt: bool = False, gpus_on: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """2 cells; cell 0 CPUs 0-1 shared, 2-5 dedicated; cell 1 CPUs 6-7 shared, 8-11 dedicated; one NIC PF with 2 VFs
    on cell 0, GPUs on the given cells."""
    cells = []
    for n, (shared, dedicated) in enumerate(((("0-1"), "2-5"), ("6-7", "8-11"))):
        cell: dict[str, Any] = {"id": n, "socket": 0, "cpus": shared, "pcpus": dedicated, "memory_mb": 8192,
                                "pages": [{"size_kb": 4, "total": 1572864}, {"size_kb": 2048, "total": 1024}]}
        if smt:
            base = 2 + 6 * n
            cell["siblings"] = [f"{base},{base + 1}", f"{base + 2},{base + 3}"]
        cells.append(cell)
    devices: list[dict[str, Any]] = [
        {"address": "0000:81:00.0", "vendor_id": "8086", "product_id": "1572", "type": "type-PF", "numa_node": 0},
        {"address": "0000:81:02.0", "vendor_id": "8086", "product_id": "154c", "type": "type-VF",
         "parent": "0000:81:00.0", "numa_node": 0},
        {"address": "0000:81:02.1", "vendor_id": "8086", "product_id": "154c", "type": "type-VF",
         "parent": "0000:81:00.0", "numa_node": 0},
    ]
    for i, cell_id in enumerate(gpus_on):
        devices.append({"address": f"0000:3b:00.{i}", "vendor_id": "10de", "product_id": "1eb8",
                        "numa_node": cell_id})
    return {"cells": cells, "pci_devices": devices}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with open_fleet(tmp_path) as f:
        yield f


def add_numa_host(fleet: Fleet, name: str, **kwargs: Any) -> HostTopology:
    fleet.add_host(name, vcpus=4, memory_mb=16384)
    synced, _ = register_topology(fleet.placement, fleet.registry, name, HostTopology.from_dict(topology(**kwargs)))
    return synced


def scheduler(fleet: Fleet, **overrides: Any) -> Any:
    return fleet.scheduler(enabled_filters=FILTERS, pci_alias=ALIASES, **overrides)


def test_registering_a_topology_models_it_in_placement(fleet: Fleet) -> None:
    synced = add_numa_host(fleet, "cn1")
    root = fleet.roots["cn1"]
    _, inventory = fleet.placement.get_inventories(root)
    assert {rc: inv.total for rc, inv in inventory.items()} == {"VCPU": 4, "PCPU": 8, "MEMORY_MB": 16384,
                                                                "DISK_GB": 100}
    _, traits = fleet.placement.get_provider_traits(root)
    assert "COMPUTE_SOCKET_PCI_NUMA_AFFINITY" in traits and "HW_CPU_HYPERTHREADING" not in traits
    pf = pci_provider_uuid(root, "0000:81:00.0")
    assert synced.pci_providers["0000:81:00.0"] == pf
    _, pf_inventory = fleet.placement.get_inventories(pf)
    assert {rc: inv.total for rc, inv in pf_inventory.items()} == {"CUSTOM_PCI_8086_154C": 2}
    _, gpu_inventory = fleet.placement.get_inventories(pci_provider_uuid(root, "0000:3b:00.0"))
    assert {rc: inv.total for rc, inv in gpu_inventory.items()} == {"CUSTOM_PCI_10DE_1EB8": 1}
    _, gpu_traits = fleet.placement.get_provider_traits(pci_provider_uuid(root, "0000:3b:00.0"))
    assert gpu_traits == ["COMPUTE_MANAGED_PCI_DEVICE"]
    # Again: nothing changes.
    _, report = register_topology(fleet.placement, fleet.registry, "cn1", HostTopology.from_dict(topology()))
    assert report.writes == 0


def test_dedicated_instances_get_distinct_cpus_until_the_host_is_full(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    s = scheduler(fleet)
    spec = boot_spec(flavor(vcpus=2, memory_mb=1024, extra_specs={"hw:cpu_policy": "dedicated"}))
    taken: set[int] = set()
    for _ in range(4):
        result = s.select_destinations(spec)
        fit = fleet.registry.topology_claims_of(result.instance_uuids[0])["cn1"]
        cpus = {cpu for _, cpu in fit.cells[0].pinning}
        assert len(cpus) == 2 and not cpus & taken
        taken |= cpus
    assert taken == set(range(2, 6)) | set(range(8, 12))
    with pytest.raises(NoValidHost):
        s.select_destinations(spec)


def test_the_filter_keeps_hosts_whose_cells_are_full_away(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    add_numa_host(fleet, "cn2")
    s = scheduler(fleet)
    # Three dedicated CPUs in one guest cell: one instance per host cell, one CPU left in each.
    big = boot_spec(flavor(vcpus=3, memory_mb=1024, extra_specs={"hw:cpu_policy": "dedicated"}), num_instances=4)
    result = s.select_destinations(big)
    assert sorted(sel[0].host for sel in result.selections) == ["cn1", "cn1", "cn2", "cn2"]
    # Placement still sees 2 free PCPU per host, but no cell has two.
    with pytest.raises(NoValidHost, match="NUMATopologyFilter removed 2 of 2 hosts"):
        s.select_destinations(boot_spec(flavor(vcpus=2, memory_mb=512, extra_specs={"hw:cpu_policy": "dedicated"})))
    # Spread over two guest cells, it fits.
    s.select_destinations(boot_spec(flavor(vcpus=2, memory_mb=512, extra_specs={
        "hw:cpu_policy": "dedicated", "hw:numa_nodes": "2"})))


def test_mixed_instance_pins_its_mask_and_floats_the_rest(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    s = scheduler(fleet)
    spec = boot_spec(flavor(vcpus=4, memory_mb=2048,
                            extra_specs={"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-1"}))
    result = s.select_destinations(spec)
    instance = result.instance_uuids[0]
    fit = fleet.registry.topology_claims_of(instance)["cn1"]
    assert [g for g, _ in fit.cells[0].pinning] == [2, 3] and fit.cells[0].shared_cpus == 2
    allocations = fleet.placement.get_allocations(instance).allocations[fleet.roots["cn1"]]
    assert allocations == {"PCPU": 2, "VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 1}


def test_two_numa_nodes_and_huge_pages(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    s = scheduler(fleet)
    spec = boot_spec(flavor(vcpus=4, memory_mb=2048, extra_specs={
        "hw:cpu_policy": "dedicated", "hw:numa_nodes": "2", "hw:mem_page_size": "2MB"}))
    result = s.select_destinations(spec)
    fit = fleet.registry.topology_claims_of(result.instance_uuids[0])["cn1"]
    assert sorted(c.host_cell for c in fit.cells) == [0, 1]
    assert {c.pagesize_kb for c in fit.cells} == {2048}
    # 1024 pages of 2 MiB per cell: 2 GiB each, 1 GiB per guest cell taken; three more fit, then none.
    s.select_destinations(spec)
    with pytest.raises(NoValidHost):
        s.select_destinations(boot_spec(flavor(vcpus=2, memory_mb=4096, extra_specs={
            "hw:cpu_policy": "dedicated", "hw:numa_nodes": "2", "hw:mem_page_size": "large"})))


def test_pci_devices_are_claimed_once_and_follow_numa_affinity(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1", gpus_on=(1,))
    s = scheduler(fleet)
    # The GPU alias requires affinity: its one GPU is on cell 1, so the instance's cell is 1.
    gpu = boot_spec(flavor(vcpus=2, memory_mb=1024, extra_specs={
        "hw:cpu_policy": "dedicated", "pci_passthrough:alias": "gpu:1"}))
    result = s.select_destinations(gpu)
    fit = fleet.registry.topology_claims_of(result.instance_uuids[0])["cn1"]
    assert [c.host_cell for c in fit.cells] == [1] and fit.devices == ("0000:3b:00.0",)
    with pytest.raises(NoValidHost):
        s.select_destinations(gpu)
    nics = boot_spec(flavor(vcpus=1, memory_mb=512, extra_specs={"pci_passthrough:alias": "nic:2"}))
    result = s.select_destinations(nics)
    fit = fleet.registry.topology_claims_of(result.instance_uuids[0])["cn1"]
    assert sorted(fit.devices) == ["0000:81:02.0", "0000:81:02.1"]
    with pytest.raises(NoValidHost):
        s.select_destinations(nics)


def test_release_and_delete_free_the_cpus_and_devices(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    s = scheduler(fleet)
    spec = boot_spec(flavor(vcpus=4, memory_mb=1024, extra_specs={
        "hw:cpu_policy": "dedicated", "pci_passthrough:alias": "gpu:1"}))
    result = s.select_destinations(spec)
    with pytest.raises(NoValidHost):
        s.select_destinations(spec)
    s.release(result)
    assert fleet.registry.topology_claims_of(result.instance_uuids[0]) == {}
    again = s.select_destinations(spec)
    fleet.registry.remove_instance(again.instance_uuids[0])
    assert fleet.registry.get_topology("cn1")[1] == {}


def test_all_or_nothing_releases_the_pinning_of_placed_instances(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    s = scheduler(fleet)
    spec = boot_spec(flavor(vcpus=4, memory_mb=1024, extra_specs={"hw:cpu_policy": "dedicated"}), num_instances=3)
    with pytest.raises(NoValidHost):
        s.select_destinations(spec)
    assert fleet.registry.get_topology("cn1")[1] == {}


def test_a_host_without_topology_takes_no_numa_instance_but_plain_ones(fleet: Fleet) -> None:
    fleet.add_host("plain", vcpus=8, memory_mb=8192)
    s = scheduler(fleet)
    with pytest.raises(NoValidHost):
        s.select_destinations(boot_spec(flavor(vcpus=1, extra_specs={"hw:numa_nodes": "1"})))
    assert s.select_destinations(boot_spec(flavor(vcpus=1))).selections[0][0].host == "plain"


def test_unknown_alias_is_a_bad_request(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    with pytest.raises(InvalidRequestSpec, match="PCI alias 'fpga' is not defined"):
        scheduler(fleet).select_destinations(boot_spec(flavor(extra_specs={"pci_passthrough:alias": "fpga:1"})))


def test_pci_weigher_keeps_device_hosts_for_device_workloads(fleet: Fleet) -> None:
    add_numa_host(fleet, "gpu-host")
    fleet.add_host("plain", vcpus=4, memory_mb=16384)
    s = fleet.scheduler(enabled_filters=FILTERS, pci_alias=ALIASES, enabled_weighers=["PCIWeigher"])
    assert s.select_destinations(boot_spec(flavor(vcpus=1))).selections[0][0].host == "plain"


def test_a_move_holds_pins_on_both_hosts_until_confirm_or_revert(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    add_numa_host(fleet, "cn2")
    s = scheduler(fleet)
    dedicated = flavor(vcpus=2, memory_mb=1024, extra_specs={"hw:cpu_policy": "dedicated"})
    first = s.select_destinations(boot_spec(dedicated))
    instance = first.instance_uuids[0]
    source = first.selections[0][0].host
    target = "cn2" if source == "cn1" else "cn1"
    fleet.registry.set_task_state(instance, None)

    migration = "0b6c4f4e-2d2f-4c1e-9f5e-8a1d2b3c4d5e"
    moved = s.schedule_move(boot_spec(dedicated, instance_uuids=[instance]), migration_uuid=migration)
    assert moved.selections[0][0].host == target
    assert set(fleet.registry.topology_claims_of(instance)) == {source, target}
    s.revert_move(instance, migration)
    assert set(fleet.registry.topology_claims_of(instance)) == {source}

    migration2 = "1b6c4f4e-2d2f-4c1e-9f5e-8a1d2b3c4d5e"
    s.schedule_move(boot_spec(dedicated, instance_uuids=[instance]), migration_uuid=migration2)
    s.confirm_move(instance, migration2)
    assert set(fleet.registry.topology_claims_of(instance)) == {target}


def test_a_move_that_finds_no_host_keeps_the_source_pins(fleet: Fleet) -> None:
    add_numa_host(fleet, "cn1")
    s = scheduler(fleet)
    dedicated = flavor(vcpus=2, memory_mb=1024, extra_specs={"hw:cpu_policy": "dedicated"})
    instance = s.select_destinations(boot_spec(dedicated)).instance_uuids[0]
    before = fleet.registry.topology_claims_of(instance)
    with pytest.raises(NoValidHost):
        s.schedule_move(boot_spec(dedicated, instance_uuids=[instance]),
                        migration_uuid="2b6c4f4e-2d2f-4c1e-9f5e-8a1d2b3c4d5e")
    assert fleet.registry.topology_claims_of(instance) == before


def test_a_conductor_claiming_an_alternate_pins_it_too(fleet: Fleet) -> None:
    from allotment.scheduler.claims import claim, delete_claim
    from allotment.scheduler.errors import TopologyClaimFailed

    add_numa_host(fleet, "cn1")
    add_numa_host(fleet, "cn2")
    s = scheduler(fleet)
    spec = boot_spec(flavor(vcpus=4, memory_mb=1024, extra_specs={
        "hw:cpu_policy": "dedicated", "pci_passthrough:alias": "gpu:1"}))
    result = s.select_destinations(spec)
    chosen, alternate = result.selections[0][0], result.selections[0][1]
    instance = result.instance_uuids[0]
    # The build failed on the chosen host: the conductor drops it and claims the alternate itself.
    s.release(result)
    claim(fleet.placement, instance, alternate.allocation_request, project_id=spec.project_id, user_id=spec.user_id)
    fit = s.pin_alternate(spec, instance, alternate)
    assert fit is not None and fit.devices == ("0000:3b:00.0",)
    assert set(fleet.registry.topology_claims_of(instance)) == {alternate.host}
    # Someone else took the host's only GPU meanwhile: the alternate no longer fits.
    other = "3b6c4f4e-2d2f-4c1e-9f5e-8a1d2b3c4d5e"
    delete_claim(fleet.placement, instance)
    fleet.registry.release_topology(instance)
    assert s.pin_alternate(spec, other, alternate) is not None
    with pytest.raises(TopologyClaimFailed):
        s.pin_alternate(spec, instance, alternate)
    assert chosen.host != alternate.host


def test_a_new_topology_may_not_drop_what_instances_hold(fleet: Fleet) -> None:
    from allotment.scheduler.errors import Conflict

    add_numa_host(fleet, "cn1")
    s = scheduler(fleet)
    result = s.select_destinations(boot_spec(flavor(vcpus=1, memory_mb=512, extra_specs={
        "hw:cpu_policy": "dedicated", "pci_passthrough:alias": "gpu:1"})))
    fit = fleet.registry.topology_claims_of(result.instance_uuids[0])["cn1"]
    smaller = topology(gpus_on=())
    with pytest.raises(Conflict, match="drops .* that instances hold"):
        fleet.registry.set_topology("cn1", HostTopology.from_dict(smaller))
    pinned = next(iter(fit.taken_cpus))
    for cell in smaller["cells"]:
        cell["pcpus"] = ",".join(str(c) for c in range(2 + 6 * cell["id"], 6 + 6 * cell["id"]) if c != pinned)
    with pytest.raises(Conflict) as info:
        fleet.registry.set_topology("cn1", HostTopology.from_dict({**topology(), "cells": smaller["cells"]}))
    assert info.value.code == "scheduler.topology.in_use"


def test_an_alias_may_name_devices_by_resource_class(fleet: Fleet) -> None:
    doc = topology(gpus_on=())
    doc["pci_devices"].append({"address": "0000:3b:00.0", "vendor_id": "10de", "product_id": "20b0",
                               "resource_class": "CUSTOM_GPU_A100", "numa_node": 1})
    fleet.add_host("cn1", vcpus=4, memory_mb=16384)
    register_topology(fleet.placement, fleet.registry, "cn1", HostTopology.from_dict(doc))
    _, inventory = fleet.placement.get_inventories(pci_provider_uuid(fleet.roots["cn1"], "0000:3b:00.0"))
    assert list(inventory) == ["CUSTOM_GPU_A100"]
    s = fleet.scheduler(enabled_filters=FILTERS, pci_alias=[{"name": "a100", "resource_class": "CUSTOM_GPU_A100"}])
    result = s.select_destinations(boot_spec(flavor(extra_specs={"pci_passthrough:alias": "a100:1"})))
    assert fleet.registry.topology_claims_of(result.instance_uuids[0])["cn1"].devices == ("0000:3b:00.0",)
