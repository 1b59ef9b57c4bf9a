"""to_placement_query: each rule with the exact parameters, and one run against a real placement."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest

from allotment.scheduler.errors import InvalidRequestSpec

from allotment.client import direct
from allotment.client.models import Inventory
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.host_state import AggregateInfo
from allotment.scheduler.placement_query import (
    PLACEMENT_MICROVERSION,
    NoSuchHost,
    PlacementQueryError,
    apply_mappings,
    request_groups,
    required_traits,
    to_placement_query,
)
from allotment.scheduler.request_filters import RequestFilterContext, process_request_spec
from allotment.scheduler.spec import (
    Destination,
    Flavor,
    Image,
    RequestGroup,
    RequestLevelParams,
    RequestSpec,
    ServerGroup,
)

U1, U2, U3, U4, U5 = (str(uuid.UUID(int=i)) for i in range(1, 6))
ROOTS = {"host1": U4, "node9": U5}
BASE = ("resources", "DISK_GB:20,MEMORY_MB:2048,VCPU:2")


def build(flavor: Flavor | None = None, **kw: Any) -> RequestSpec:
    kw.setdefault("project_id", "proj")
    kw.setdefault("user_id", "user")
    return RequestSpec.from_flavor(flavor or Flavor("m1", 2, 2048, root_gb=20), kw.pop("image", None), **kw)


def xs(**extra_specs: str) -> Flavor:
    return Flavor("m1", 2, 2048, root_gb=20, extra_specs=extra_specs)


def query(spec: RequestSpec, limit: int | None = 5) -> list[tuple[str, str]]:
    return to_placement_query(spec, limit=limit, host_to_root=ROOTS.get)


def test_the_microversion_is_the_newest_placement_speaks() -> None:
    assert PLACEMENT_MICROVERSION == "1.39"


def test_a_plain_flavor_asks_for_vcpu_memory_and_disk() -> None:
    assert query(build()) == [("limit", "5"), BASE]
    assert query(build(), limit=None) == [BASE]


@pytest.mark.parametrize(
    ("flavor", "is_bfv", "resources"),
    [
        (Flavor("f", 1, 512, root_gb=20, ephemeral_gb=5, swap=1025), False, "DISK_GB:27,MEMORY_MB:512,VCPU:1"),
        (Flavor("f", 1, 512, root_gb=20, ephemeral_gb=5, swap=1024), False, "DISK_GB:26,MEMORY_MB:512,VCPU:1"),
        (Flavor("f", 1, 512, root_gb=20, ephemeral_gb=5, swap=1), True, "DISK_GB:6,MEMORY_MB:512,VCPU:1"),
        (Flavor("f", 1, 512, root_gb=20), True, "MEMORY_MB:512,VCPU:1"),
        (Flavor("f", 1, 512), False, "MEMORY_MB:512,VCPU:1"),
    ],
)
def test_disk_is_root_plus_ephemeral_plus_swap_rounded_up(flavor: Flavor, is_bfv: bool, resources: str) -> None:
    assert query(build(flavor, is_bfv=is_bfv), limit=None) == [("resources", resources)]


def test_resources_extra_specs_override_and_zero_removes() -> None:
    flavor = xs(**{
        "resources:VCPU": "0", "resources:DISK_GB": "0", "resources:MEMORY_MB": "4096",
        "resources:CUSTOM_BAREMETAL_GOLD": "1",
    })
    assert query(build(flavor), None) == [("resources", "CUSTOM_BAREMETAL_GOLD:1,MEMORY_MB:4096")]


def test_a_class_in_a_numbered_group_replaces_the_flavor_amount() -> None:
    flavor = xs(**{"resources1:VCPU": "1", "resources1:MEMORY_MB": "512"})
    assert query(build(flavor), None) == [("resources", "DISK_GB:20"), ("resources1", "MEMORY_MB:512,VCPU:1")]


def test_unsuffixed_traits_required_and_forbidden() -> None:
    flavor = xs(**{"trait:HW_CPU_X86_AVX2": "required", "trait:CUSTOM_SLOW": "forbidden", "trait:CUSTOM_A": "required"})
    assert query(build(flavor), None) == [("required", "CUSTOM_A,HW_CPU_X86_AVX2,!CUSTOM_SLOW"), BASE]


def test_granular_groups_with_string_suffixes_default_to_group_policy_none() -> None:
    flavor = xs(**{
        "resources_GPU:VGPU": "1", "trait_GPU:CUSTOM_FAST": "required", "trait_GPU:CUSTOM_OLD": "forbidden",
        "resources1:SRIOV_NET_VF": "2",
    })
    assert query(build(flavor), None) == [
        ("group_policy", "none"), ("required_GPU", "CUSTOM_FAST,!CUSTOM_OLD"), BASE,
        ("resources1", "SRIOV_NET_VF:2"), ("resources_GPU", "VGPU:1"),
    ]
    flavor.extra_specs["group_policy"] = "isolate"
    assert ("group_policy", "isolate") in query(build(flavor), None)


def test_one_numbered_group_needs_no_group_policy_but_a_given_one_is_passed_on() -> None:
    assert query(build(xs(**{"resources1:VGPU": "1"})), None) == [BASE, ("resources1", "VGPU:1")]
    spec = build(xs(**{"resources1:VGPU": "1", "group_policy": "isolate"}))
    assert query(spec, None) == [("group_policy", "isolate"), BASE, ("resources1", "VGPU:1")]


def test_a_zero_amount_group_disappears_and_does_not_count_for_group_policy() -> None:
    spec = build(xs(**{"resources1:VGPU": "1", "resources2:VGPU": "0"}))
    assert query(spec, None) == [BASE, ("resources1", "VGPU:1")]


@pytest.mark.parametrize(
    ("extra_specs", "image_props", "expected"),
    [
        ({"hw:cpu_policy": "dedicated"}, {}, [("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:2")]),
        ({}, {"hw_cpu_policy": "dedicated"}, [("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:2")]),
        ({"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate"}, {},
         [("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:3")]),
        ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0"}, {},
         [("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:1,VCPU:1")]),
        ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "1", "hw:emulator_threads_policy": "isolate"}, {},
         [("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:2,VCPU:1")]),
        ({"resources:PCPU": "2"}, {}, [("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:2")]),
        ({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"}, {},
         [("required", "!HW_CPU_HYPERTHREADING"), ("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:2")]),
        ({"hw:cpu_policy": "dedicated"}, {"hw_cpu_thread_policy": "require"},
         [("required", "HW_CPU_HYPERTHREADING"), ("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:2")]),
        ({"hw:cpu_policy": "dedicated", "hw:pci_numa_affinity_policy": "socket"}, {},
         [("required", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY"), ("resources", "DISK_GB:20,MEMORY_MB:2048,PCPU:2")]),
    ],
)
def test_cpu_pinning_asks_for_pcpu(extra_specs: dict[str, str], image_props: dict[str, str],
                                   expected: list[tuple[str, str]]) -> None:
    assert query(build(xs(**extra_specs), image=Image(properties=image_props)), None) == expected


@pytest.mark.parametrize(
    ("extra_specs", "message"),
    [
        ({"hw:cpu_policy": "shared", "hw:emulator_threads_policy": "isolate"}, "needs the 'dedicated' or 'mixed'"),
        ({"hw:cpu_policy": "dedicated", "resources:PCPU": "1"}, "cannot be combined with 'hw:cpu_policy'"),
        ({"hw:cpu_thread_policy": "prefer"}, "a CPU thread policy needs the 'dedicated' or 'mixed'"),
        ({"resources:PCPU": "1"}, "resources:PCPU=1 but the flavor needs exactly 2"),
    ],
)
def test_pinning_combinations_nova_refuses_are_refused(extra_specs: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidRequestSpec, match=message):
        build(xs(**extra_specs))


def test_image_traits_are_required_in_the_unsuffixed_group() -> None:
    image = Image(properties={
        "trait:CUSTOM_IMG": "required", "trait:HW_CPU_X86_AVX2": "required", "trait:CUSTOM_NO": "forbidden",
        "hw_disk_bus": "virtio",
    })
    spec = build(xs(**{"trait:HW_CPU_X86_AVX2": "required"}), image=image)
    assert query(spec, None) == [("required", "CUSTOM_IMG,HW_CPU_X86_AVX2"), BASE]


def test_requested_resource_groups_keep_every_constraint() -> None:
    port = RequestGroup(
        "port-1",
        resources={"NET_BW_EGR_KILOBIT_PER_SEC": 1000, "NET_BW_IGR_KILOBIT_PER_SEC": 0},
        required_traits=["CUSTOM_PHYSNET_A"],
        forbidden_traits=["CUSTOM_X"],
        any_traits=[["CUSTOM_VNIC_TYPE_NORMAL", "CUSTOM_VNIC_TYPE_DIRECT"]],
        member_of=[f"{U2},{U1}", U3],
        forbidden_aggregates=[U5, U4],
        in_tree=U4,
        requester_id="a-port",
    )
    spec = build(requested_resources=[port])
    assert query(spec, None) == [
        ("in_treeport-1", U4),
        ("member_ofport-1", f"!in:{U4},{U5}"),
        ("member_ofport-1", f"in:{U1},{U2}"),
        ("member_ofport-1", f"in:{U3}"),
        ("requiredport-1", "CUSTOM_PHYSNET_A,!CUSTOM_X"),
        ("requiredport-1", "in:CUSTOM_VNIC_TYPE_DIRECT,CUSTOM_VNIC_TYPE_NORMAL"),
        BASE,
        ("resourcesport-1", "NET_BW_EGR_KILOBIT_PER_SEC:1000"),
    ]
    assert spec.requested_resources[0].resources["NET_BW_IGR_KILOBIT_PER_SEC"] == 0  # the spec is not edited


def test_a_port_group_beside_one_flavor_group_brings_group_policy_none() -> None:
    spec = build(xs(**{"resources1:VGPU": "1"}), requested_resources=[RequestGroup("p", {"SRIOV_NET_VF": 1})])
    assert query(spec, None) == [
        ("group_policy", "none"), BASE, ("resources1", "VGPU:1"), ("resourcesp", "SRIOV_NET_VF:1"),
    ]


def test_request_level_params() -> None:
    spec = build(
        xs(**{"resources_GPU:VGPU": "1", "trait_ACCEL:CUSTOM_FPGA": "required", "group_policy": "none"}),
        requested_resources=[RequestGroup("port", {"SRIOV_NET_VF": 1})],
        request_level_params=RequestLevelParams(
            root_required=["HW_CPU_X86_AVX2", "COMPUTE_IMAGE_TYPE_RAW"], root_forbidden=["COMPUTE_STATUS_DISABLED"],
            same_subtree=[["port", "_GPU", "_ACCEL"]],
        ),
    )
    assert query(spec, None) == [
        ("group_policy", "none"),
        ("required_ACCEL", "CUSTOM_FPGA"),
        BASE,
        ("resources_GPU", "VGPU:1"),
        ("resourcesport", "SRIOV_NET_VF:1"),
        ("root_required", "COMPUTE_IMAGE_TYPE_RAW,HW_CPU_X86_AVX2,!COMPUTE_STATUS_DISABLED"),
        ("same_subtree", "_ACCEL,_GPU,port"),
    ]


def test_destination_aggregates_become_member_of() -> None:
    spec = build(requested_destination=Destination(aggregates=[f"{U2},{U1}", U3, U3], forbidden_aggregates=[U5, U4]))
    assert query(spec) == [
        ("limit", "5"), ("member_of", f"!in:{U4},{U5}"), ("member_of", f"in:{U1},{U2}"), ("member_of", f"in:{U3}"),
        BASE,
    ]


@pytest.mark.parametrize(
    ("kw", "root"),
    [
        ({"force_hosts": ["host1"]}, U4),
        ({"availability_zone": "az1:host1"}, U4),
        ({"force_nodes": ["node9"]}, U5),
        ({"force_hosts": ["nope"], "requested_destination": Destination(host="host1")}, U4),
        ({"requested_destination": Destination(node="node9")}, U5),
    ],
)
def test_a_target_host_becomes_in_tree_and_drops_the_limit(kw: dict[str, Any], root: str) -> None:
    assert query(build(**kw)) == [("in_tree", root), BASE]


def test_an_unknown_target_host_is_no_such_host() -> None:
    with pytest.raises(NoSuchHost) as info:
        query(build(force_hosts=["ghost"]))
    assert info.value.host == "ghost"
    assert "no such host: ghost" in str(info.value)
    with pytest.raises(PlacementQueryError, match="needs host_to_root"):
        to_placement_query(build(force_hosts=["host1"]), limit=5)


@pytest.mark.parametrize(
    ("kw", "limited"),
    [
        ({"hints": {"same_host": U1}}, False),
        ({"hints": {"different_host": [U1, U2]}}, False),
        ({"hints": {"group": U1}}, False),
        ({"server_group": ServerGroup(U1, "soft-anti-affinity")}, False),
        ({"hints": {"query": "[]", "build_near_host_ip": "10.0.0.1"}}, True),
        ({"ignore_hosts": ["host1"]}, True),
    ],
)
def test_the_limit_is_dropped_when_filters_need_every_candidate(kw: dict[str, Any], limited: bool) -> None:
    assert (("limit", "5") in query(build(**kw))) is limited


@pytest.mark.parametrize("limit", [0, -1, True, "5", 2.5])
def test_a_bad_limit_is_refused(limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        to_placement_query(build(), limit=limit)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (lambda: build(Flavor("f", 0, 0)), "no resources at all"),
        (lambda: build(xs(**{"resources:VCPU": "0", "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"})),
         "no resources at all"),
        (lambda: build(xs(**{
            "resources:VCPU": "0", "resources:MEMORY_MB": "0", "resources:DISK_GB": "0",
            "resources1:VGPU": "1", "trait:CUSTOM_A": "required"})), "unsuffixed request group has traits"),
        (lambda: build(xs(**{"resources:VCPU": "0", "resources:MEMORY_MB": "0", "resources:DISK_GB": "0",
                             "resources1:VGPU": "1"}),
                       requested_destination=Destination(aggregates=[U1])), "unsuffixed request group has traits"),
        (lambda: build(xs(**{"trait1:CUSTOM_A": "required"})), "request group '1' has no resources"),
        (lambda: build(xs(**{"trait:CUSTOM_A": "forbidden"}), image=Image(properties={"trait:CUSTOM_A": "required"})),
         "the unsuffixed request group both requires and forbids CUSTOM_A"),
        (lambda: build(requested_resources=[RequestGroup(
            "p", {"VGPU": 1}, forbidden_traits=["CUSTOM_A", "CUSTOM_B"], any_traits=[["CUSTOM_A", "CUSTOM_B"]])]),
         "request group 'p' both requires and forbids CUSTOM_A, CUSTOM_B"),
    ],
)
def test_specs_placement_would_refuse_are_refused_with_the_reason(spec: Any, message: str) -> None:
    with pytest.raises(PlacementQueryError) as info:
        query(spec())
    assert message in str(info.value)


def test_a_resourceless_group_named_in_same_subtree_is_allowed() -> None:
    spec = build(
        xs(**{"resources1:VGPU": "1", "trait2:CUSTOM_NUMA": "required", "group_policy": "none"}),
        request_level_params=RequestLevelParams(same_subtree=[["1", "2"]]),
    )
    assert query(spec, None) == [
        ("group_policy", "none"), ("required2", "CUSTOM_NUMA"), BASE, ("resources1", "VGPU:1"), ("same_subtree", "1,2"),
    ]


def test_building_the_query_leaves_the_spec_alone_and_is_repeatable() -> None:
    spec = build(
        xs(**{"resources1:VGPU": "1", "hw:cpu_policy": "dedicated"}),
        image=Image(properties={"trait:CUSTOM_IMG": "required"}),
        requested_resources=[RequestGroup("p", {"SRIOV_NET_VF": 1})],
        requested_destination=Destination(aggregates=[U1]),
        force_hosts=["host1"],
    )
    before = copy.deepcopy(spec)
    first = query(spec)
    assert query(spec) == first
    assert spec == before
    assert first == sorted(first)


def test_request_groups_and_required_traits() -> None:
    spec = build(
        xs(**{"trait:CUSTOM_A": "required", "trait1:CUSTOM_B": "required", "resources1:VGPU": "1",
              "trait:CUSTOM_NO": "forbidden"}),
        image=Image(properties={"trait:CUSTOM_IMG": "required"}),
        requested_resources=[RequestGroup("p", {"SRIOV_NET_VF": 1}, required_traits=["CUSTOM_PHYSNET"])],
        request_level_params=RequestLevelParams(root_required=["CUSTOM_ROOT"]),
    )
    groups, policy = request_groups(spec)
    assert policy is None
    assert [g.suffix for g in groups] == ["", "1", "p"]
    assert required_traits(spec) == {"CUSTOM_A", "CUSTOM_B", "CUSTOM_IMG", "CUSTOM_PHYSNET"}


def test_apply_mappings_fills_the_requested_groups() -> None:
    spec = build(requested_resources=[RequestGroup("p1", {"SRIOV_NET_VF": 1}), RequestGroup("p2", {"VGPU": 1})])
    before = copy.deepcopy(spec)
    groups = apply_mappings(spec, {"": [U1], "p1": [U2], "p2": [U3]})
    assert [g.provider_uuids for g in groups] == [[U2], [U3]]
    assert [g.suffix for g in groups] == ["p1", "p2"]
    assert spec == before
    with pytest.raises(ValueError, match="no provider to request group"):
        apply_mappings(spec, {"p1": [U2]})


# -- against a real placement ---------------------------------------------------------------------

def _provider(client: Any, name: str, inventory: dict[str, int], *, parent: str | None = None,
              traits: tuple[str, ...] = (), aggregates: tuple[str, ...] = ()) -> str:
    rp = client.create_provider(name, parent_uuid=parent)
    gen = client.set_inventories(rp.uuid, rp.generation, {rc: Inventory(total=n) for rc, n in inventory.items()})
    if traits:
        gen = client.set_provider_traits(rp.uuid, gen, list(traits))
    if aggregates:
        client.set_aggregates(rp.uuid, gen, list(aggregates))
    return str(rp.uuid)


def test_the_query_means_what_we_intend_to_a_real_placement(tmp_path: Path) -> None:
    az1, az2, special = (str(uuid.uuid4()) for _ in range(3))
    compute = {"VCPU": 8, "MEMORY_MB": 8192, "DISK_GB": 100}
    with direct(f"sqlite:///{tmp_path}/p.sqlite") as client:
        for trait in ("CUSTOM_GPU_FAST", "CUSTOM_SPECIAL", "CUSTOM_PHYSNET_A"):
            client.ensure_trait(trait)
        roots: dict[str, str] = {}
        children: dict[str, dict[str, str]] = {}

        def host(name: str, traits: tuple[str, ...], aggs: tuple[str, ...], gpu_traits: tuple[str, ...],
                 nic: bool = True) -> None:
            roots[name] = _provider(client, name, compute, traits=traits, aggregates=aggs)
            children[name] = {"gpu": _provider(client, f"{name}-gpu", {"VGPU": 2}, parent=roots[name],
                                               traits=gpu_traits)}
            if nic:
                children[name]["nic"] = _provider(client, f"{name}-nic", {"NET_BW_EGR_KILOBIT_PER_SEC": 10000},
                                                  parent=roots[name], traits=("CUSTOM_PHYSNET_A",))

        avx, fast = ("HW_CPU_X86_AVX2",), ("CUSTOM_GPU_FAST",)
        host("good", avx, (az1,), fast)
        host("no-avx", (), (az1,), fast)
        host("other-az", avx, (az2,), fast)
        host("disabled", avx + ("COMPUTE_STATUS_DISABLED",), (az1,), fast)
        host("slow-gpu", avx, (az1,), ())
        host("isolated", avx, (az1, special), fast)
        host("no-nic", avx, (az1,), fast, nic=False)

        spec = build(
            xs(**{"trait:HW_CPU_X86_AVX2": "required", "resources_GPU:VGPU": "1",
                  "trait_GPU:CUSTOM_GPU_FAST": "required"}),
            availability_zone="az1",
            requested_resources=[RequestGroup("port-a", {"NET_BW_EGR_KILOBIT_PER_SEC": 1000},
                                              required_traits=["CUSTOM_PHYSNET_A"])],
        )
        ctx = RequestFilterContext(
            SchedulerConfig(enable_isolated_aggregate_filtering=True),
            [AggregateInfo(az1, "az1", {"availability_zone": "az1"}),
             AggregateInfo(az2, "az2", {"availability_zone": "az2"}),
             AggregateInfo(special, "special", {"trait:CUSTOM_SPECIAL": "required"})],
        )
        filtered = process_request_spec(spec, ctx).apply(spec)
        params = to_placement_query(filtered, limit=10)
        result = client.allocation_candidates(params)
        requests = result["allocation_requests"]
        assert len(requests) == 1
        chosen = requests[0]
        assert set(chosen["allocations"]) == {roots["good"], children["good"]["gpu"], children["good"]["nic"]}
        assert chosen["allocations"][children["good"]["gpu"]]["resources"] == {"VGPU": 1}
        assert set(result["provider_summaries"]) >= {roots["good"]}

        assert apply_mappings(filtered, chosen["mappings"])[0].provider_uuids == [children["good"]["nic"]]
        assert chosen["mappings"]["_GPU"] == [children["good"]["gpu"]]

        # Without the request filters, the disabled, other-zone and isolated hosts qualify too.
        result = client.allocation_candidates(to_placement_query(spec, limit=None))
        found = {name for name, root in roots.items()
                 for r in result["allocation_requests"] if root in r["allocations"]}
        assert found == {"good", "other-az", "disabled", "isolated"}

        # A forced host narrows to its tree, whatever else would fit.
        forced = build(xs(**{"resources_GPU:VGPU": "1"}), force_hosts=["no-avx"])
        result = client.allocation_candidates(to_placement_query(forced, limit=10, host_to_root=roots.get))
        assert {p for r in result["allocation_requests"] for p in r["allocations"]} == {
            roots["no-avx"], children["no-avx"]["gpu"],
        }
