"""Reading a topology request from flavor and image, with the refusals Nova documents (numa_get_constraints and friends)."""

from __future__ import annotations

from typing import Any

import pytest

from allotment.scheduler.errors import InvalidRequestSpec
from allotment.scheduler.topology.request import (
    PAGES_ANY,
    PAGES_LARGE,
    PAGES_SMALL,
    PciAlias,
    parse_pci_aliases,
    topology_request,
)

GPU = PciAlias("gpu", "10de", "1eb8", None, "preferred")


def read(extra: dict[str, str] | None = None, props: dict[str, str] | None = None, *, vcpus: int = 4,
         memory: int = 2048, aliases: list[PciAlias] | None = None) -> Any:
    return topology_request(vcpus, memory, extra or {}, props or {}, aliases)


def cells(req: Any) -> list[tuple[set[int], set[int], int]]:
    return [(set(c.cpus), set(c.pcpus), c.memory_mb) for c in req.cells]


# ---- policies (test_cpu_policy_constraint, test_cpu_thread_policy_constraint) --------------------

@pytest.mark.parametrize(("flavor", "image", "expected"), [
    ("dedicated", "dedicated", "dedicated"), ("dedicated", "shared", "dedicated"), ("dedicated", None, "dedicated"),
    ("mixed", "mixed", "mixed"), ("mixed", "shared", "mixed"), ("shared", "shared", "shared"),
    (None, "dedicated", "dedicated"), (None, "mixed", "mixed"), (None, "shared", "shared"), (None, None, None),
])
def test_cpu_policy_flavor_then_image(flavor: str | None, image: str | None, expected: str | None) -> None:
    extra = {"hw:cpu_policy": flavor} if flavor else {}
    if (flavor or image) == "mixed":
        extra["hw:cpu_dedicated_mask"] = "0"
    assert read(extra, {"hw_cpu_policy": image} if image else {}).cpu_policy == expected


@pytest.mark.parametrize(("flavor", "image"), [("mixed", "dedicated"), ("shared", "dedicated"), ("shared", "mixed")])
def test_the_image_may_not_pin_against_the_flavor(flavor: str, image: str) -> None:
    with pytest.raises(InvalidRequestSpec, match="the image may not override the flavor's CPU pinning policy"):
        read({"hw:cpu_policy": flavor, "hw:cpu_dedicated_mask": "0"}, {"hw_cpu_policy": image})


def test_invalid_policies_name_the_source() -> None:
    with pytest.raises(InvalidRequestSpec, match="flavor.extra_specs.hw:cpu_policy: invalid CPU policy 'invalid'"):
        read({"hw:cpu_policy": "invalid"})
    with pytest.raises(InvalidRequestSpec, match="image.properties.hw_cpu_thread_policy: invalid CPU thread policy"):
        read({"hw:cpu_policy": "dedicated"}, {"hw_cpu_thread_policy": "never"})


@pytest.mark.parametrize(("flavor", "image", "expected"), [
    ("prefer", "isolate", "prefer"), (None, "require", "require"), ("isolate", "isolate", "isolate"),
    ("isolate", None, "isolate"),
])
def test_thread_policy_from_the_flavor_else_the_image(flavor: str | None, image: str | None,
                                                         expected: str) -> None:
    extra = {"hw:cpu_policy": "dedicated", **({"hw:cpu_thread_policy": flavor} if flavor else {})}
    assert read(extra, {"hw_cpu_thread_policy": image} if image else {}).thread_policy == expected


def test_thread_policy_conflict_and_without_pinning() -> None:
    with pytest.raises(InvalidRequestSpec, match="may not override the flavor's CPU thread policy"):
        read({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"}, {"hw_cpu_thread_policy": "require"})
    with pytest.raises(InvalidRequestSpec, match="a CPU thread policy needs the 'dedicated' or 'mixed'"):
        read({"hw:cpu_thread_policy": "isolate"})
    with pytest.raises(InvalidRequestSpec, match="cannot be combined with 'hw:cpu_thread_policy'"):
        read({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate",
              "trait:HW_CPU_HYPERTHREADING": "forbidden"})
    assert read({"hw:cpu_policy": "dedicated", "trait:HW_CPU_HYPERTHREADING": "forbidden"}).thread_policy == "isolate"


def test_emulator_threads() -> None:
    req = read({"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate"})
    assert req.emulator_threads_isolated and req.dedicated_count == 5
    with pytest.raises(InvalidRequestSpec, match="'isolate' needs the 'dedicated' or 'mixed'"):
        read({"hw:emulator_threads_policy": "isolate"})
    with pytest.raises(InvalidRequestSpec, match="invalid CPU emulator threads policy"):
        read({"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "spread"})


# ---- mixed (get_dedicated_cpu_constraint, RequiredMixedInstancePolicy, ...) ----------------------

def test_mixed_mask_forms() -> None:
    assert cells(read({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-1"})) == [({0, 1}, {2, 3}, 2048)]
    assert cells(read({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0,3"})) == [({1, 2}, {0, 3}, 2048)]


@pytest.mark.parametrize(("extra", "message"), [
    ({"hw:cpu_policy": "mixed"}, "the 'mixed' CPU policy needs a dedicated CPU mask"),
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0-3"}, "at least one pinned and one unpinned"),
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-3"}, "at least one pinned and one unpinned"),
    ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "2-5"}, "CPU\\(s\\) 4-5 are not vCPUs of the flavor"),
    ({"hw:cpu_policy": "dedicated", "hw:cpu_dedicated_mask": "0"}, "needs the 'mixed' CPU policy"),
    ({"hw:cpu_dedicated_mask": "0"}, "needs the 'mixed' CPU policy"),
])
def test_mixed_mask_refusals(extra: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidRequestSpec, match=message):
        read(extra)


# ---- NUMA cells (test_topology_constraints, the ImageNUMATopology* refusals) ---------------------

def test_no_numa_request_means_no_cells() -> None:
    assert read().cells is None and not read().asks_anything


def test_automatic_cells_split_evenly() -> None:
    assert cells(read({"hw:numa_nodes": "2"})) == [({0, 1}, set(), 1024), ({2, 3}, set(), 1024)]
    assert cells(read({}, {"hw_numa_nodes": "2"}, vcpus=2)) == [({0}, set(), 1024), ({1}, set(), 1024)]
    assert cells(read({"hw:cpu_policy": "dedicated"})) == [(set(), {0, 1, 2, 3}, 2048)]


def test_manual_cells() -> None:
    extra = {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_mem.0": "512",
             "hw:numa_cpus.1": "1-3", "hw:numa_mem.1": "1536"}
    assert cells(read(extra)) == [({0}, set(), 512), ({1, 2, 3}, set(), 1536)]
    image = {"hw_numa_nodes": "2", "hw_numa_cpus.0": "0-2", "hw_numa_mem.0": "1024",
             "hw_numa_cpus.1": "3", "hw_numa_mem.1": "1024"}
    assert cells(read({}, image)) == [({0, 1, 2}, set(), 1024), ({3}, set(), 1024)]


@pytest.mark.parametrize(("extra", "message"), [
    ({"hw:numa_nodes": "3"}, "cannot be split evenly over 3 NUMA nodes"),
    ({"hw:numa_nodes": "0"}, "'0' is not a number of NUMA nodes greater than 0"),
    ({"hw:numa_nodes": "two"}, "is not a number of NUMA nodes"),
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_mem.0": "1024"}, "must be given for each of the 2"),
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_cpus.1": "2-3"}, "must be given for each"),
    ({"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-4", "hw:numa_mem.0": "2048"}, "CPU number 4 is larger than max 3"),
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-2", "hw:numa_mem.0": "1024", "hw:numa_cpus.1": "2-3",
      "hw:numa_mem.1": "1024"}, "CPU number 2 is assigned to two nodes"),
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_mem.0": "1024", "hw:numa_cpus.1": "1-2",
      "hw:numa_mem.1": "1024"}, "CPU number\\(s\\) 3 are not assigned to any node"),
    ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-1", "hw:numa_mem.0": "1024", "hw:numa_cpus.1": "2-3",
      "hw:numa_mem.1": "512"}, "1536 MB of memory assigned, but the flavor has 2048 MB"),
])
def test_cell_refusals(extra: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidRequestSpec, match=message):
        read(extra)


def test_the_image_may_not_override_the_flavors_numa_settings() -> None:
    with pytest.raises(InvalidRequestSpec, match="image.properties.hw_numa_nodes: the image may not override"):
        read({"hw:numa_nodes": "2"}, {"hw_numa_nodes": "1"})
    with pytest.raises(InvalidRequestSpec, match="image.properties.hw_numa_cpus: the image may not override"):
        read({"hw:numa_nodes": "1", "hw:numa_cpus.0": "0-3", "hw:numa_mem.0": "2048"},
             {"hw_numa_cpus.0": "0-3"})


# ---- pages (test_get_requested_mempages_pagesize_*) ---------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("small", PAGES_SMALL), ("large", PAGES_LARGE), ("any", PAGES_ANY), ("2048", 2048), ("2MB", 2048),
    ("1GB", 1048576), ("1G", 1048576), ("2048KB", 2048), ("4 KiB", 4),
])
def test_page_sizes(value: str, expected: int) -> None:
    req = read({"hw:mem_page_size": value})
    assert req.pagesize == expected and req.cells is not None


def test_page_size_refusals_and_image_choice() -> None:
    with pytest.raises(InvalidRequestSpec, match="invalid memory page size 'huge'"):
        read({"hw:mem_page_size": "huge"})
    with pytest.raises(InvalidRequestSpec, match="forbidden unless the flavor asks for a page size"):
        read({}, {"hw_mem_page_size": "2048"})
    with pytest.raises(InvalidRequestSpec, match="forbidden against the flavor's 'small'"):
        read({"hw:mem_page_size": "small"}, {"hw_mem_page_size": "2048"})
    assert read({"hw:mem_page_size": "any"}, {"hw_mem_page_size": "1GB"}).pagesize == 1048576
    assert read({"hw:mem_page_size": "large"}, {"hw_mem_page_size": "2048"}).pagesize == 2048


# ---- explicit PCPU/VCPU resources (numa_get_constraints' InvalidRequest cases) -------------------

def test_explicit_cpu_resources() -> None:
    assert read({"resources:PCPU": "4"}).cpu_policy == "dedicated"
    assert read({"resources:VCPU": "4"}).cpu_policy == "shared"
    assert read({"resources:PCPU": "5", "hw:emulator_threads_policy": "isolate"}).dedicated_count == 5
    with pytest.raises(InvalidRequestSpec, match="cannot both be given"):
        read({"resources:PCPU": "2", "resources:VCPU": "2"})
    with pytest.raises(InvalidRequestSpec, match="needs exactly 5"):
        read({"resources:PCPU": "4", "hw:emulator_threads_policy": "isolate"})


# ---- PCI (get_pci_numa_policy_constraint, aliases) --------------------------------------------

def test_pci_numa_policy() -> None:
    assert read({"hw:pci_numa_affinity_policy": "socket"}).pci_numa_policy == "socket"
    assert read({}, {"hw_pci_numa_affinity_policy": "required"}).pci_numa_policy == "required"
    with pytest.raises(InvalidRequestSpec, match="may not override the flavor's hw:pci_numa_affinity_policy"):
        read({"hw:pci_numa_affinity_policy": "legacy"}, {"hw_pci_numa_affinity_policy": "required"})
    with pytest.raises(InvalidRequestSpec, match="invalid PCI NUMA affinity policy 'nearby'"):
        read({"hw:pci_numa_affinity_policy": "nearby"})


def test_pci_alias_requests() -> None:
    req = read({"pci_passthrough:alias": "gpu:2"}, aliases=[GPU])
    assert [(r.alias, r.count, r.numa_policy) for r in req.pci] == [("gpu", 2, "preferred")]
    req = read({"pci_passthrough:alias": "gpu:1", "hw:pci_numa_affinity_policy": "required"}, aliases=[GPU])
    assert req.pci[0].numa_policy == "required"
    with pytest.raises(InvalidRequestSpec, match="PCI alias 'nic' is not defined"):
        read({"pci_passthrough:alias": "nic:1"}, aliases=[GPU])
    with pytest.raises(InvalidRequestSpec, match="'gpu' is not NAME:COUNT"):
        read({"pci_passthrough:alias": "gpu"}, aliases=[GPU])
    assert read({"pci_passthrough:alias": "nic:1"}).pci == ()  # aliases not resolved


def test_alias_configuration() -> None:
    assert parse_pci_aliases([{"name": "gpu", "vendor_id": "10DE", "product_id": "1eb8"}]) == [
        PciAlias("gpu", "10de", "1eb8")]
    for bad, message in (([{"name": "x"}], "vendor_id"), ([{"name": "a:b", "vendor_id": "1", "product_id": "1"}],
                                                          "name"),
                         ([{"name": "x", "vendor_id": "10de", "product_id": "0001", "numa_policy": "near"}],
                          "numa_policy"),
                         ([{"name": "x", "vendor_id": "10de", "product_id": "0001", "device_type": "type-VF"},
                           {"name": "x", "vendor_id": "10de", "product_id": "0002"}], "disagree")):
        with pytest.raises(ValueError, match=message):
            parse_pci_aliases(bad)
