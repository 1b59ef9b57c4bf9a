"""update_from_provider_tree: converges from any starting state, minimally, and reshapes safely."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allotment.client import Allocations, Inventory, PlacementClient, direct
from allotment.client.provider_tree import ProviderTree, ReshapeNeeded, update_from_provider_tree

CLASSES = ["VCPU", "MEMORY_MB", "DISK_GB", "VGPU", "CUSTOM_FPGA_X"]
TRAITS = ["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE2", "CUSTOM_GOLD", "CUSTOM_SILVER"]
AGGS = [str(uuid.UUID(int=i + 1)) for i in range(3)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlacementClient]:
    with direct(f"sqlite:///{tmp_path_factory.mktemp('tree')}/p.sqlite") as c:
        yield c


inventories = st.dictionaries(
    st.sampled_from(CLASSES),
    st.builds(lambda total, reserved: Inventory(total=total, reserved=min(reserved, total - 1)),
              st.integers(1, 64), st.integers(0, 8)),
    max_size=3,
)
shape = st.lists(  # provider i's parent is one of the earlier ones (or none for a root)
    st.tuples(st.integers(0, 10), inventories, st.sets(st.sampled_from(TRAITS)), st.sets(st.sampled_from(AGGS))),
    min_size=1,
    max_size=5,
)


def build(spec: list[Any], uuids: list[str], prefix: str) -> ProviderTree:
    tree = ProviderTree()
    root = tree.new_root(f"{prefix}-0", uuids[0])
    root.inventory, root.traits, root.aggregates = spec[0][1], spec[0][2], spec[0][3]
    for i, (parent, inv, traits, aggs) in enumerate(spec[1:], start=1):
        node = tree.new_child(f"{prefix}-{i}", uuids[parent % i], uuids[i])
        node.inventory, node.traits, node.aggregates = inv, traits, aggs
    return tree


def observed(client: PlacementClient, tree: ProviderTree) -> dict[str, Any]:
    root = tree.roots()[0].uuid
    out = {}
    for p in client.list_providers(in_tree=root):
        _, inv = client.get_inventories(p.uuid)
        _, traits = client.get_provider_traits(p.uuid)
        _, aggs = client.get_aggregates(p.uuid)
        out[p.uuid] = (p.name, p.parent_provider_uuid, inv, set(traits), set(aggs))
    return out


def expected(tree: ProviderTree) -> dict[str, Any]:
    return {p.uuid: (p.name, p.parent_uuid, p.inventory, p.traits, p.aggregates) for p in tree}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=shape, target=shape)
def test_converges_from_any_state_and_then_writes_nothing(client: PlacementClient, start: Any, target: Any) -> None:
    uuids = [str(uuid.uuid4()) for _ in range(6)]
    prefix = uuids[0][:8]
    first = build(start, uuids, prefix + "a")
    update_from_provider_tree(client, first)
    assert observed(client, first) == expected(first)
    # Someone else changes placement behind the host's back: the next sync must still converge.
    gen, _ = client.get_provider_traits(uuids[0])
    client.set_provider_traits(uuids[0], gen, ["HW_CPU_X86_SSE2"])
    second = build(target, uuids, prefix + "b")
    update_from_provider_tree(client, second)
    assert observed(client, second) == expected(second)
    again = update_from_provider_tree(client, second)
    assert again.writes == 0


def test_generation_conflict_is_refreshed_and_retried(client: PlacementClient) -> None:
    tree = ProviderTree()
    root = tree.new_root("conflict-host", str(uuid.uuid4()))
    update_from_provider_tree(client, tree)
    stale_report_target = ProviderTree()
    stale = stale_report_target.new_root("conflict-host", root.uuid)
    stale.inventory = {"VCPU": Inventory(total=4)}
    # A writer bumps the generation between our read and our write.
    original = client.set_inventories

    def racing(uuid_: str, generation: int, invs: Any) -> int:
        gen, _ = client.get_provider_traits(uuid_)
        client.set_provider_traits(uuid_, gen, ["CUSTOM_GOLD"] if "CUSTOM_GOLD" in client.list_traits() else [])
        client.set_inventories = original  # type: ignore[method-assign]
        return original(uuid_, generation, invs)

    client.ensure_trait("CUSTOM_GOLD")
    client.set_inventories = racing  # type: ignore[method-assign]
    try:
        report = update_from_provider_tree(client, stale_report_target)
    finally:
        client.set_inventories = original  # type: ignore[method-assign]
    assert report.conflicts_retried >= 1
    assert client.get_inventories(root.uuid)[1] == {"VCPU": Inventory(total=4)}


def test_vgpu_reshape_into_child_providers_keeps_allocations(client: PlacementClient) -> None:
    host, gpu0, gpu1, vm = (str(uuid.uuid4()) for _ in range(4))
    before = ProviderTree()
    root = before.new_root("reshape-host", host)
    root.inventory = {"VCPU": Inventory(total=8), "VGPU": Inventory(total=4)}
    update_from_provider_tree(client, before)
    client.put_allocations(vm, Allocations({host: {"VCPU": 2, "VGPU": 2}}, "proj", "user", None, "INSTANCE"))

    after = ProviderTree()
    root = after.new_root("reshape-host", host)
    root.inventory = {"VCPU": Inventory(total=8)}
    for name, u in (("reshape-gpu0", gpu0), ("reshape-gpu1", gpu1)):
        after.new_child(name, host, u).inventory = {"VGPU": Inventory(total=2)}
    with pytest.raises(ReshapeNeeded) as needed:
        update_from_provider_tree(client, after)
    assert needed.value.moves == {host: {"VGPU": 2}}
    assert client.get_allocations(vm).allocations == {host: {"VCPU": 2, "VGPU": 2}}  # nothing touched

    current = client.get_allocations(vm)
    moved = Allocations({host: {"VCPU": 2}, gpu0: {"VGPU": 2}}, "proj", "user", current.consumer_generation,
                        "INSTANCE")
    report = update_from_provider_tree(client, after, allocations={vm: moved})
    assert report.reshaped
    assert client.get_allocations(vm).allocations == {host: {"VCPU": 2}, gpu0: {"VGPU": 2}}
    assert client.provider_usages(gpu0) == {"VGPU": 2}
    assert client.get_inventories(host)[1] == {"VCPU": Inventory(total=8)}
    assert update_from_provider_tree(client, after).writes == 0
