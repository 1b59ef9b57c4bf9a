"""ComputeCapabilitiesFilter."""

from __future__ import annotations

import pytest

from allotment.scheduler.filters import FilterError
from allotment.scheduler.filters.compute_capabilities import ComputeCapabilitiesFilter
from allotment.scheduler.host_state import ServiceState
from tests.scheduler.filters.factories import config, host, spec

F = ComputeCapabilitiesFilter(config())


def passes(h: object, extra_specs: dict[str, str]) -> bool:
    s = spec(extra_specs=extra_specs)
    single = F.host_passes(h, s)  # type: ignore[arg-type]
    assert F.filter_all([h], s) == ([h] if single else [])  # type: ignore[list-item]
    return single


def test_no_extra_specs_passes() -> None:
    assert passes(host(), {})


def test_scoped_key_reads_a_host_attribute() -> None:
    h = host(hypervisor_type="QEMU", free_ram_mb=4096)
    assert passes(h, {"capabilities:hypervisor_type": "s== QEMU"})
    assert not passes(h, {"capabilities:hypervisor_type": "s== ironic"})
    assert passes(h, {"capabilities:free_ram_mb": ">= 2048"})
    assert not passes(h, {"capabilities:free_ram_mb": ">= 8192"})


def test_scoped_key_falls_back_to_stats() -> None:
    h = host(stats={"gpu_model": "A100"})
    assert passes(h, {"capabilities:gpu_model": "A100"})
    assert not passes(h, {"capabilities:gpu_model": "V100"})


def test_scoped_path_walks_into_cpu_info() -> None:
    h = host(cpu_info={"arch": "x86_64", "features": ["avx", "avx2"], "topology": {"cores": 8}})
    assert passes(h, {"capabilities:cpu_info:arch": "x86_64"})
    assert passes(h, {"capabilities:cpu_info:features": "<in> avx2"})
    assert not passes(h, {"capabilities:cpu_info:features": "<in> avx512f"})
    assert passes(h, {"capabilities:cpu_info:features": "<all-in> avx avx2"})
    assert passes(h, {"capabilities:cpu_info:topology:cores": ">= 8"})
    assert not passes(h, {"capabilities:cpu_info:topology:cores": ">= 16"})


def test_path_walks_into_nested_objects_and_json_stats() -> None:
    assert not passes(host(service=ServiceState(disabled=True)), {"capabilities:service:disabled": "False"})
    assert passes(host(), {"capabilities:service:disabled": "False"})
    h = host(stats={"numa": '{"nodes": 2}'})
    assert passes(h, {"capabilities:numa:nodes": "== 2"})
    assert not passes(host(stats={"numa": "not json"}), {"capabilities:numa:nodes": "== 2"})


def test_missing_capability_fails_the_host() -> None:
    assert not passes(host(), {"capabilities:gpu_model": "A100"})
    assert not passes(host(cpu_info={}), {"capabilities:cpu_info:arch": "x86_64"})
    # an attribute that exists but has no value is missing too
    assert not passes(host(hypervisor_type=None), {"capabilities:hypervisor_type": "QEMU"})


def test_unscoped_key_is_checked_only_when_the_host_has_it() -> None:
    # a key other filters use ("hw_rng_allowed") is not a host field: ignored
    assert passes(host(), {"hw_rng_allowed": "True"})
    assert passes(host(hypervisor_type="QEMU"), {"hypervisor_type": "QEMU"})
    assert not passes(host(hypervisor_type="QEMU"), {"hypervisor_type": "ironic"})
    assert passes(host(stats={"rack": "r1"}), {"rack": "r1"})
    assert not passes(host(stats={"rack": "r2"}), {"rack": "r1"})


def test_unscoped_key_naming_a_method_is_not_a_capability() -> None:
    assert passes(host(), {"consume": "anything"})


def test_other_scopes_are_ignored() -> None:
    assert passes(host(), {"hw:cpu_policy": "dedicated", "resources:VCPU": "2", "trait:CUSTOM_X": "required",
                           "aggregate_instance_extra_specs:ssd": "true"})


def test_properties_are_capabilities_too() -> None:
    h = host(instances=["i1", "i2"])
    assert passes(h, {"capabilities:num_instances": "== 2"})
    assert not passes(h, {"capabilities:num_instances": "<= 1"})


def test_maxphysaddr_bits_is_a_minimum_on_cpu_info() -> None:
    h = host(cpu_info={"maxphysaddr": {"bits": 46}})
    assert passes(h, {"hw:maxphysaddr_bits": "42"})
    assert passes(h, {"hw:maxphysaddr_bits": "46"})
    assert not passes(h, {"hw:maxphysaddr_bits": "48"})
    assert not passes(host(), {"hw:maxphysaddr_bits": "42"})


def test_every_requirement_must_hold() -> None:
    h = host(hypervisor_type="QEMU", stats={"rack": "r1"})
    assert passes(h, {"capabilities:hypervisor_type": "QEMU", "capabilities:rack": "r1"})
    assert not passes(h, {"capabilities:hypervisor_type": "QEMU", "capabilities:rack": "r2"})


def test_malformed_requirement_is_an_error() -> None:
    with pytest.raises(FilterError):
        F.host_passes(host(free_ram_mb=1), spec(extra_specs={"capabilities:free_ram_mb": ">= lots"}))


def test_runs_once_per_request() -> None:
    assert ComputeCapabilitiesFilter.run_filter_once_per_request
