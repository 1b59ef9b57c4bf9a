"""Choosing PCI devices: PF/VF exclusion and the NUMA affinity policies (after Nova's PciDeviceStats tests)."""

from __future__ import annotations

from allotment.scheduler.topology.fit import fit_instance
from allotment.scheduler.topology.pci import free_devices, select_devices
from allotment.scheduler.topology.usage import HostUsage
from tests.scheduler.topology.helpers import SMALL_PAGES, cell, device, host, pci_request, request


def two_sockets(*devices):  # cells 0,1 on socket 0; cells 2,3 on socket 1
    return host(*(cell(i, cpus={i}, socket=i // 2) for i in range(4)), devices=devices)


def test_vfs_and_their_pf_exclude_each_other() -> None:
    h = host(cell(0, cpus={0}), devices=[
        device("0000:81:00.0", 0, product="1572", dev_type="type-PF"),
        device("0000:81:02.0", 0, product="154c", dev_type="type-VF", parent="0000:81:00.0"),
        device("0000:82:00.0", 0, product="1572", dev_type="type-PF")])
    # A PF with VFs listed is offered through them only; a lone PF is offered.
    assert [d.address for d in free_devices(h, ())] == ["0000:81:02.0", "0000:82:00.0"]
    assert [d.address for d in free_devices(h, {"0000:82:00.0"})] == ["0000:81:02.0"]
    # PFs go only to requests that ask for type-PF.
    assert select_devices(h, (), [pci_request("8086", "1572")], None) is None
    assert select_devices(h, (), [pci_request("8086", "1572", device_type="type-PF")], None) == ["0000:82:00.0"]


def test_required_takes_only_local_devices() -> None:
    h = two_sockets(device("0000:01:00.0", 1), device("0000:02:00.0", None))
    assert select_devices(h, (), [pci_request("8086", "1520", policy="required")], [0]) is None
    assert select_devices(h, (), [pci_request("8086", "1520", policy="required")], [1]) == ["0000:01:00.0"]


def test_legacy_falls_back_to_devices_without_a_node_only() -> None:
    h = two_sockets(device("0000:01:00.0", 1), device("0000:02:00.0", None))
    assert select_devices(h, (), [pci_request("8086", "1520", policy="legacy")], [0]) == ["0000:02:00.0"]
    assert select_devices(h, (), [pci_request("8086", "1520", count=2, policy="legacy")], [0]) is None


def test_preferred_takes_anything_local_first() -> None:
    h = two_sockets(device("0000:01:00.0", 1), device("0000:03:00.0", 3))
    assert select_devices(h, (), [pci_request("8086", "1520", policy="preferred")], [3]) == ["0000:03:00.0"]
    assert select_devices(h, (), [pci_request("8086", "1520", count=2, policy="preferred")], [3]) == [
        "0000:03:00.0", "0000:01:00.0"]


def test_socket_takes_devices_of_the_same_socket() -> None:
    h = two_sockets(device("0000:01:00.0", 1), device("0000:03:00.0", 3))
    assert select_devices(h, (), [pci_request("8086", "1520", policy="socket")], [0]) == ["0000:01:00.0"]
    assert select_devices(h, (), [pci_request("8086", "1520", policy="socket")], [2]) == ["0000:03:00.0"]
    assert select_devices(h, (), [pci_request("8086", "1520", count=2, policy="socket")], [0]) is None


def test_pci_requests_pull_the_instance_to_the_devices_cell() -> None:  # test_get_fitting_pci_avoided, reversed
    h = host(cell(0, cpus={0, 1}, pages=SMALL_PAGES), cell(1, cpus={2, 3}, pages=SMALL_PAGES),
             devices=[device("0000:01:00.0", 1)])
    plain = request(({0}, (), 1024), policy=None)
    assert [c.host_cell for c in fit_instance(h, HostUsage(), plain).cells] == [0]  # device cells last
    with_pci = request(({0}, (), 1024), policy=None, pci=[pci_request("8086", "1520", policy="required")])
    got = fit_instance(h, HostUsage(), with_pci)
    assert [c.host_cell for c in got.cells] == [1] and got.devices == ("0000:01:00.0",)


def test_allowed_providers_limit_the_choice() -> None:
    h = host(cell(0, cpus={0}), devices=[device("0000:01:00.0", 0), device("0000:02:00.0", 0)])
    h = type(h)(cells=h.cells, pci_devices=h.pci_devices, pci_providers={"0000:01:00.0": "p1", "0000:02:00.0": "p2"})
    assert select_devices(h, (), [pci_request("8086", "1520")], None, [{"p2"}]) == ["0000:02:00.0"]
    assert select_devices(h, {"0000:02:00.0"}, [pci_request("8086", "1520")], None, [{"p2"}]) is None
