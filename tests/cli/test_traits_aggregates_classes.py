"""``allotment trait ...``, ``aggregate ...`` and ``class ...``."""

from __future__ import annotations

from allotment.client import PlacementClient
from tests.cli._support import failed, ok, ok_json
from tests.cli.conftest import Run

U1 = "11111111-1111-4111-8111-111111111111"
AGG1 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
AGG2 = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


def test_trait_catalogue(run: Run, placement: PlacementClient) -> None:
    everything = ok(run("trait", "list", "-f", "value")).stdout.split()
    assert "HW_CPU_X86_AVX2" in everything and len(everything) > 100
    ok(run("trait", "create", "CUSTOM_RACK_A"))
    assert ok(run("trait", "list", "--name", "startswith:CUSTOM_", "-f", "value")).stdout == "CUSTOM_RACK_A\n"
    assert ok_json(run("trait", "list", "--name", "in:CUSTOM_RACK_A,HW_CPU_X86_SSE", "-f", "json")) == [
        {"name": "CUSTOM_RACK_A"}, {"name": "HW_CPU_X86_SSE"},
    ]
    assert ok_json(run("trait", "list", "--associated", "-f", "json")) == []
    ok(run("trait", "delete", "CUSTOM_RACK_A"))
    assert ok(run("trait", "list", "--name", "startswith:CUSTOM_", "-f", "value")).stdout == ""
    assert "(placement.undefined_code)" in failed(run("trait", "delete", "CUSTOM_RACK_A"))


def test_provider_traits(run: Run, placement: PlacementClient) -> None:
    placement.create_provider("cn1", uuid=U1)
    placement.ensure_trait("CUSTOM_RACK_A")
    out = ok_json(run("trait", "set", U1, "--trait", "HW_CPU_X86_AVX2", "--trait", "CUSTOM_RACK_A", "-f", "json"))
    assert out == [{"name": "CUSTOM_RACK_A"}, {"name": "HW_CPU_X86_AVX2"}]
    assert sorted(placement.get_provider_traits(U1)[1]) == ["CUSTOM_RACK_A", "HW_CPU_X86_AVX2"]
    assert ok(run("trait", "list", "--provider", U1, "-f", "value")).stdout == "CUSTOM_RACK_A\nHW_CPU_X86_AVX2\n"
    assert ok(run("trait", "list", "--associated", "-f", "value")).stdout == "CUSTOM_RACK_A\nHW_CPU_X86_AVX2\n"
    # Setting replaces; no --trait clears.
    ok(run("trait", "set", U1, "--trait", "HW_CPU_X86_SSE"))
    assert placement.get_provider_traits(U1)[1] == ["HW_CPU_X86_SSE"]
    ok(run("trait", "set", U1))
    assert placement.get_provider_traits(U1)[1] == []
    assert "CUSTOM_UNKNOWN" in failed(run("trait", "set", U1, "--trait", "CUSTOM_UNKNOWN"))
    assert "do not apply with --provider" in failed(run("trait", "list", "--provider", U1, "--associated"), code=2)


def test_aggregates(run: Run, placement: PlacementClient) -> None:
    placement.create_provider("cn1", uuid=U1)
    out = ok_json(run("aggregate", "set", U1, "--aggregate", AGG2, "--aggregate", AGG1, "-f", "json"))
    assert out == [{"uuid": AGG1}, {"uuid": AGG2}]
    assert sorted(placement.get_aggregates(U1)[1]) == [AGG1, AGG2]
    assert ok(run("aggregate", "list", U1, "-f", "value")).stdout == f"{AGG1}\n{AGG2}\n"
    assert AGG1 in ok(run("aggregate", "list", U1)).stdout
    ok(run("aggregate", "set", U1))
    assert placement.get_aggregates(U1)[1] == []
    # Before 1.19 the body is a bare list; the command speaks that too.
    ok(run("--microversion", "1.1", "aggregate", "set", U1, "--aggregate", AGG1))
    assert placement.get_aggregates(U1)[1] == [AGG1]
    assert "error:" in failed(run("aggregate", "set", U1, "--aggregate", "not-a-uuid"))


def test_resource_classes(run: Run, placement: PlacementClient) -> None:
    names = ok(run("class", "list", "-f", "value")).stdout.split()
    assert {"VCPU", "MEMORY_MB", "DISK_GB"} <= set(names)
    assert ok_json(run("class", "create", "CUSTOM_GPU_A100", "-f", "json")) == {"name": "CUSTOM_GPU_A100"}
    assert "CUSTOM_GPU_A100" in placement.list_resource_classes()
    ok(run("class", "create", "CUSTOM_GPU_A100"))  # creating again is fine
    assert "CUSTOM_GPU_A100" in ok(run("class", "list")).stdout
    ok(run("class", "delete", "CUSTOM_GPU_A100"))
    assert "CUSTOM_GPU_A100" not in placement.list_resource_classes()
    stderr = failed(run("class", "create", "GPU"))
    assert stderr.startswith("error:") and "GPU" in stderr
    assert "error:" in failed(run("class", "delete", "VCPU"))
