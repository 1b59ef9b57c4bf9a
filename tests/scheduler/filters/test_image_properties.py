"""ImagePropertiesFilter."""

from __future__ import annotations

import pytest

from allotment.scheduler.filters import FilterError
from allotment.scheduler.filters.image_properties import (
    ImagePropertiesFilter,
    hypervisor_version_text,
    version_predicate,
)
from tests.scheduler.filters.factories import config, host, spec

X86_QEMU = [("x86_64", "qemu", "hvm")]
F = ImagePropertiesFilter(config())


def passes(h: object, props: dict[str, str], f: ImagePropertiesFilter = F) -> bool:
    s = spec(image_props=props)
    single = f.host_passes(h, s)  # type: ignore[arg-type]
    assert f.filter_all([h], s) == ([h] if single else [])  # type: ignore[list-item]
    return single


def test_image_without_relevant_properties_passes_any_host() -> None:
    assert passes(host(), {})
    assert passes(host(), {"hw_disk_bus": "scsi"})


def test_matching_triple_passes() -> None:
    h = host(supported_instances=X86_QEMU)
    assert passes(h, {"hw_architecture": "x86_64", "img_hv_type": "qemu", "hw_vm_mode": "hvm"})
    assert passes(h, {"hw_architecture": "x86_64"})
    assert passes(h, {"img_hv_type": "qemu"})
    assert passes(h, {"hw_vm_mode": "hvm"})


def test_any_mismatch_fails() -> None:
    h = host(supported_instances=X86_QEMU)
    assert not passes(h, {"hw_architecture": "aarch64"})
    assert not passes(h, {"img_hv_type": "xen"})
    assert not passes(h, {"hw_vm_mode": "exe"})
    assert not passes(h, {"hw_architecture": "x86_64", "img_hv_type": "ironic"})


def test_properties_must_match_one_tuple_together() -> None:
    h = host(supported_instances=[("x86_64", "qemu", "hvm"), ("aarch64", "qemu", "hvm"), ("x86_64", "xen", "xen")])
    assert passes(h, {"hw_architecture": "aarch64", "img_hv_type": "qemu"})
    assert not passes(h, {"hw_architecture": "aarch64", "img_hv_type": "xen"})


def test_host_advertising_nothing_fails_when_the_image_asks() -> None:
    assert not passes(host(), {"hw_architecture": "x86_64"})


def test_old_spellings_are_canonicalised_on_both_sides() -> None:
    assert passes(host(supported_instances=X86_QEMU), {"hw_architecture": "AMD64", "hw_vm_mode": "HV"})
    assert passes(host(supported_instances=[("i686", "xen", "xen")]), {"hw_architecture": "i386",
                                                                          "img_hv_type": "xapi", "hw_vm_mode": "pv"})
    assert passes(host(supported_instances=[("amd64", "QEMU", "hvm")]), {"hw_architecture": "x86_64"})


def test_default_architecture_applies_when_the_image_names_none() -> None:
    arm_default = ImagePropertiesFilter(config(image_properties_default_architecture="aarch64"))
    assert not passes(host(supported_instances=X86_QEMU), {}, arm_default)
    assert passes(host(supported_instances=[("aarch64", "qemu", "hvm")]), {}, arm_default)
    # the image's own property still wins over the default
    assert passes(host(supported_instances=X86_QEMU), {"hw_architecture": "x86_64"}, arm_default)


def test_requested_hypervisor_version() -> None:
    h = host(supported_instances=X86_QEMU, hypervisor_version=8002000)  # 8.2.0
    assert passes(h, {"img_hv_type": "qemu", "img_hv_requested_version": ">=6.0"})
    assert passes(h, {"img_hv_type": "qemu", "img_hv_requested_version": ">= 8.2"})
    assert not passes(h, {"img_hv_type": "qemu", "img_hv_requested_version": ">=9.0"})
    assert not passes(h, {"img_hv_type": "qemu", "img_hv_requested_version": ">=6.0, <8.2"})
    assert passes(h, {"img_hv_type": "qemu", "img_hv_requested_version": ">=6.0, <8.3"})
    # a host that reports no version is not held to the predicate
    assert passes(host(supported_instances=X86_QEMU), {"img_hv_type": "qemu", "img_hv_requested_version": ">=99"})


def test_malformed_version_predicate_is_an_error() -> None:
    h = host(supported_instances=X86_QEMU, hypervisor_version=8002000)
    for bad in ("6.0", ">=six", "=>6.0", ">=6.0,"):
        with pytest.raises(FilterError, match="img_hv_requested_version"):
            F.filter_all([h], spec(image_props={"img_hv_type": "qemu", "img_hv_requested_version": bad}))


def test_maxphysaddr_bits() -> None:
    h = host(supported_instances=X86_QEMU, cpu_info={"maxphysaddr": {"bits": 46}})
    assert passes(h, {"hw_architecture": "x86_64", "hw_maxphysaddr_bits": "42"})
    assert not passes(h, {"hw_architecture": "x86_64", "hw_maxphysaddr_bits": "48"})
    # unknown on the host: not held against it
    assert passes(host(supported_instances=X86_QEMU), {"hw_architecture": "x86_64", "hw_maxphysaddr_bits": "48"})
    with pytest.raises(FilterError):
        passes(h, {"hw_architecture": "x86_64", "hw_maxphysaddr_bits": "many"})


def test_version_helpers() -> None:
    assert hypervisor_version_text(8002000) == "8.2.0"
    assert hypervisor_version_text(1000001) == "1.0.1"
    assert version_predicate("==8.2")((8, 2, 0))
    assert version_predicate("!=8.2")((8, 2, 1))
    assert version_predicate("<9")((8, 99))
    assert not version_predicate(">8.2.0")((8, 2))


def test_runs_once_per_request() -> None:
    assert ImagePropertiesFilter.run_filter_once_per_request
