"""``allotment candidate list`` with the flags of ``openstack allocation candidate list``."""

from __future__ import annotations

import pytest

from allotment.client import Inventory, PlacementClient
from tests.cli._support import failed, ok, ok_json
from tests.cli.conftest import Run

CN1 = "11111111-1111-4111-8111-111111111111"
GPU_A = "11111111-1111-4111-8111-1111111111aa"
GPU_B = "11111111-1111-4111-8111-1111111111bb"
CN2 = "22222222-2222-4222-8222-222222222222"
AGG = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"


@pytest.fixture
def cloud(placement: PlacementClient) -> PlacementClient:
    """cn1 (AVX2, in AGG) with two GPU children (one with NVLINK); cn2 with more CPU and no GPU."""
    c = placement
    c.ensure_trait("CUSTOM_NVLINK")
    cn1 = c.create_provider("cn1", uuid=CN1)
    gen = c.set_inventories(CN1, cn1.generation, {"VCPU": Inventory(total=8), "MEMORY_MB": Inventory(total=4096)})
    gen = c.set_provider_traits(CN1, gen, ["HW_CPU_X86_AVX2"])
    c.set_aggregates(CN1, gen, [AGG])
    for uuid, traits in ((GPU_A, ["CUSTOM_NVLINK"]), (GPU_B, [])):
        gpu = c.create_provider(f"cn1-{uuid[-2:]}", uuid=uuid, parent_uuid=CN1)
        gen = c.set_inventories(uuid, gpu.generation, {"VGPU": Inventory(total=1)})
        c.set_provider_traits(uuid, gen, traits)
    cn2 = c.create_provider("cn2", uuid=CN2)
    c.set_inventories(CN2, cn2.generation, {"VCPU": Inventory(total=32), "MEMORY_MB": Inventory(total=8192)})
    return c


def _candidates(rows: list[dict]) -> list[dict[str, str]]:
    """Rows grouped back into candidates: {provider: allocation} per candidate number."""
    found: dict[int, dict[str, str]] = {}
    for row in rows:
        found.setdefault(row["#"], {})[row["resource provider"]] = row["allocation"]
    return list(found.values())


def test_resources_and_traits(run: Run, cloud: PlacementClient) -> None:
    rows = ok_json(run("candidate", "list", "--resource", "VCPU=4", "--resource", "MEMORY_MB=1024", "-f", "json"))
    assert sorted(_candidates(rows), key=str) == [{CN1: "VCPU=4,MEMORY_MB=1024"}, {CN2: "VCPU=4,MEMORY_MB=1024"}]
    assert set(rows[0]) == {"#", "allocation", "resource provider", "inventory used/capacity", "traits"}
    cn1_row = next(r for r in rows if r["resource provider"] == CN1)
    assert cn1_row["inventory used/capacity"] == "VCPU=0/8,MEMORY_MB=0/4096"
    assert cn1_row["traits"] == "HW_CPU_X86_AVX2"

    only_avx = ok_json(run("candidate", "list", "--resource", "VCPU=1", "--required", "HW_CPU_X86_AVX2", "-f", "json"))
    assert _candidates(only_avx) == [{CN1: "VCPU=1"}]
    not_avx = ok_json(run("candidate", "list", "--resource", "VCPU=1", "--forbidden", "HW_CPU_X86_AVX2", "-f", "json"))
    assert _candidates(not_avx) == [{CN2: "VCPU=1"}]
    any_of = ok_json(run("candidate", "list", "--resource", "VCPU=1", "--required", "HW_CPU_X86_AVX2,HW_CPU_X86_SSE",
                         "-f", "json"))
    assert _candidates(any_of) == [{CN1: "VCPU=1"}]
    in_agg = ok_json(run("candidate", "list", "--resource", "VCPU=1", "--member-of", AGG, "-f", "json"))
    assert _candidates(in_agg) == [{CN1: "VCPU=1"}]
    too_big = ok_json(run("candidate", "list", "--resource", "VCPU=16", "-f", "json"))
    assert _candidates(too_big) == [{CN2: "VCPU=16"}]
    limited = ok_json(run("candidate", "list", "--resource", "VCPU=1", "--limit", "1", "-f", "json"))
    assert len(_candidates(limited)) == 1


def test_granular_groups(run: Run, cloud: PlacementClient) -> None:
    # Options after --group belong to it: the VGPU must come from the NVLINK GPU.
    rows = ok_json(run("candidate", "list", "--resource", "VCPU=2",
                       "--group", "1", "--resource", "VGPU=1", "--required", "CUSTOM_NVLINK", "-f", "json"))
    assert _candidates(rows) == [{CN1: "VCPU=2", GPU_A: "VGPU=1"}]
    # Two GPU groups: both GPUs, whichever way round (isolate keeps them on different providers).
    rows = ok_json(run("candidate", "list", "--group", "1", "--resource", "VGPU=1", "--group", "2",
                       "--resource", "VGPU=1", "--group-policy", "isolate", "-f", "json"))
    assert {frozenset(c.items()) for c in _candidates(rows)} == {frozenset({GPU_A: "VGPU=1", GPU_B: "VGPU=1"}.items())}
    # A trait before --group applies to the unnamed group only: cn2 has no AVX2, so only cn1 qualifies.
    rows = ok_json(run("candidate", "list", "--resource", "VCPU=1", "--required", "HW_CPU_X86_AVX2",
                       "--group", "g", "--resource", "VGPU=1", "-f", "json"))
    assert {frozenset(c) for c in _candidates(rows)} == {frozenset({CN1, GPU_A}), frozenset({CN1, GPU_B})}


def test_output_formats(run: Run, cloud: PlacementClient) -> None:
    table = ok(run("candidate", "list", "--resource", "VCPU=1", "--required", "HW_CPU_X86_AVX2")).stdout
    assert "inventory used/capacity" in table and CN1 in table and "VCPU=0/8" in table
    value = ok(run("candidate", "list", "--resource", "VCPU=1", "--required", "HW_CPU_X86_AVX2",
                   "-f", "value", "-c", "#", "-c", "resource provider")).stdout
    assert value == f"1 {CN1}\n"
    # Before 1.17 there are no traits in the summaries, and no traits column (and before 1.27 the
    # summaries hold only the requested classes).
    rows = ok_json(run("--microversion", "1.12", "candidate", "list", "--resource", "VCPU=16", "-f", "json"))
    assert rows == [{"#": 1, "allocation": "VCPU=16", "resource provider": CN2, "inventory used/capacity": "VCPU=0/32"}]
    # Before 1.12 allocation requests are lists; the rows are the same.
    old = ok_json(run("--microversion", "1.10", "candidate", "list", "--resource", "VCPU=16", "-f", "json"))
    assert old == rows


def test_errors(run: Run, cloud: PlacementClient) -> None:
    assert "at least one --resource" in failed(run("candidate", "list"), code=2)
    assert "needs at least one --resource" in failed(
        run("candidate", "list", "--resource", "VCPU=1", "--group", "1", "--required", "CUSTOM_NVLINK"), code=2)
    assert "RESOURCE_CLASS=AMOUNT" in failed(run("candidate", "list", "--resource", "VCPU:1"), code=2)
    assert "--limit" in failed(run("candidate", "list", "--resource", "VCPU=1", "--limit", "0"), code=2)
    assert "is not one of" in failed(run("candidate", "list", "--resource", "VCPU=1", "--group-policy", "x"), code=2)
    stderr = failed(run("candidate", "list", "--resource", "NOT_A_CLASS=1"))
    assert stderr.startswith("error:") and "NOT_A_CLASS" in stderr
    # A placement microversion refusal is placement's error, not a crash.
    assert "error:" in failed(run("--microversion", "1.16", "candidate", "list", "--resource", "VCPU=1",
                                  "--required", "HW_CPU_X86_AVX2"))
