"""Request filters: each one's gate, its edit of the spec, and the NoValidHost cases."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.host_state import AggregateInfo
from allotment.scheduler.placement_query import to_placement_query
from allotment.scheduler.request_filters import (
    REQUEST_FILTERS,
    Constraints,
    RequestFilterContext,
    RequestFilterFailed,
    compute_status_filter,
    isolate_aggregates,
    map_az_to_placement_aggregate,
    process_request_spec,
    require_image_type_support,
    require_tenant_aggregate,
    transform_image_metadata,
)
from allotment.scheduler.spec import Destination, Flavor, Image, RequestGroup, RequestSpec

A1, A2, A3, A4 = (str(uuid.UUID(int=i)) for i in range(1, 5))


def build(extra_specs: dict[str, str] | None = None, **kw: Any) -> RequestSpec:
    kw.setdefault("project_id", "tenant-a")
    kw.setdefault("user_id", "user")
    return RequestSpec.from_flavor(Flavor("m1", 1, 512, root_gb=1, extra_specs=extra_specs or {}),
                                   kw.pop("image", None), **kw)


def ctx(aggregates: list[AggregateInfo] | None = None, **config: Any) -> RequestFilterContext:
    return RequestFilterContext(SchedulerConfig(**config), aggregates or [])


def run(request_filter: Any, spec: RequestSpec, context: RequestFilterContext) -> tuple[bool, RequestSpec]:
    """Whether the filter ran, and the spec with what it added (the given spec is left as it was)."""
    before = copy.deepcopy(spec)
    added = Constraints()
    ran = request_filter(spec, context, added)
    assert spec == before
    return ran, added.apply(spec)


def aggs(spec: RequestSpec) -> tuple[list[str], list[str]] | None:
    d = spec.requested_destination
    return None if d is None else (d.aggregates, d.forbidden_aggregates)


# -- require_tenant_aggregate ---------------------------------------------------------------------

TENANT_AGGS = [
    AggregateInfo(A1, "a", {"filter_tenant_id": "tenant-a"}),
    AggregateInfo(A2, "b", {"filter_tenant_id": "tenant-b", "filter_tenant_id2": "tenant-a"}),
    AggregateInfo(A3, "c", {"filter_tenant_id": "tenant-b"}),
    AggregateInfo(A4, "d", {"owner": "tenant-a"}),
]


def test_tenant_aggregates_are_required_when_enabled() -> None:
    spec = build()
    ran, spec = run(require_tenant_aggregate, spec, ctx(TENANT_AGGS, limit_tenants_to_placement_aggregate=True))
    assert ran
    assert aggs(spec) == ([f"{A1},{A2}"], [])


def test_tenant_filter_is_off_by_default() -> None:
    spec = build()
    ran, spec = run(require_tenant_aggregate, spec, ctx(TENANT_AGGS, placement_aggregate_required_for_tenants=True))
    assert not ran
    assert spec == build()


def test_a_tenant_without_an_aggregate_goes_anywhere_unless_one_is_required() -> None:
    spec = build(project_id="tenant-z")
    ran, spec = run(require_tenant_aggregate, spec, ctx(TENANT_AGGS, limit_tenants_to_placement_aggregate=True))
    assert ran
    assert spec.requested_destination is None
    with pytest.raises(RequestFilterFailed, match="tenant-z"):
        run(require_tenant_aggregate, spec, ctx(TENANT_AGGS, limit_tenants_to_placement_aggregate=True,
                                           placement_aggregate_required_for_tenants=True))


# -- map_az_to_placement_aggregate ----------------------------------------------------------------

AZ_AGGS = [
    AggregateInfo(A1, "rack1", {"availability_zone": "az1"}),
    AggregateInfo(A2, "rack2", {"availability_zone": "az1"}),
    AggregateInfo(A3, "rack3", {"availability_zone": "az2"}),
]


def test_an_availability_zone_requires_one_of_its_aggregates() -> None:
    spec = build(availability_zone="az1", requested_destination=Destination(aggregates=[A4]))
    ran, spec = run(map_az_to_placement_aggregate, spec, ctx(AZ_AGGS))
    assert ran
    assert aggs(spec) == ([A4, f"{A1},{A2}"], [])


def test_no_zone_is_a_no_op_and_an_unmapped_zone_adds_nothing() -> None:
    spec = build()
    ran, spec = run(map_az_to_placement_aggregate, spec, ctx(AZ_AGGS))
    assert not ran
    spec = build(availability_zone="nova")
    ran, spec = run(map_az_to_placement_aggregate, spec, ctx(AZ_AGGS))
    assert ran
    assert spec.requested_destination is None


# -- require_image_type_support --------------------------------------------------------------------

def test_the_image_disk_format_becomes_a_root_trait() -> None:
    spec = build(image=Image(disk_format="qcow2"))
    ran, spec = run(require_image_type_support, spec, ctx(query_placement_for_image_type_support=True))
    assert ran
    assert spec.request_level_params.root_required == ["COMPUTE_IMAGE_TYPE_QCOW2"]


@pytest.mark.parametrize(
    ("spec_kw", "config"),
    [
        ({"image": Image(disk_format="qcow2")}, {}),
        ({"image": Image(disk_format="qcow2"), "is_bfv": True}, {"query_placement_for_image_type_support": True}),
        ({"image": Image(disk_format="floppy")}, {"query_placement_for_image_type_support": True}),
        ({"image": Image()}, {"query_placement_for_image_type_support": True}),
    ],
)
def test_image_type_support_is_skipped(spec_kw: dict[str, Any], config: dict[str, Any]) -> None:
    spec = build(**spec_kw)
    ran, spec = run(require_image_type_support, spec, ctx(**config))
    assert not ran
    assert spec.request_level_params.root_required == []


# -- compute_status_filter -------------------------------------------------------------------------

def test_disabled_computes_are_always_forbidden() -> None:
    spec = build()
    ran, spec = run(compute_status_filter, spec, ctx())
    assert ran
    ran, spec = run(compute_status_filter, spec, ctx())
    assert ran
    assert spec.request_level_params.root_forbidden == ["COMPUTE_STATUS_DISABLED"]


# -- isolate_aggregates ----------------------------------------------------------------------------

ISOLATING = [
    AggregateInfo(A1, "gpu", {"trait:CUSTOM_GPU": "required"}),
    AggregateInfo(A2, "gpu-ssd", {"trait:CUSTOM_GPU": "required", "trait:CUSTOM_SSD": "required"}),
    AggregateInfo(A3, "plain", {"availability_zone": "az1"}),
    AggregateInfo(A4, "odd", {"trait:CUSTOM_GPU": "forbidden"}),
]


@pytest.mark.parametrize(
    ("spec", "forbidden"),
    [
        (lambda: build(), [A1, A2]),
        (lambda: build({"trait:CUSTOM_GPU": "required"}), [A2]),
        (lambda: build({"trait1:CUSTOM_GPU": "required", "trait1:CUSTOM_SSD": "required", "resources1:VGPU": "1"}),
         []),
        (lambda: build(image=Image(properties={"trait:CUSTOM_GPU": "required"})), [A2]),
        (lambda: build({"trait:CUSTOM_SSD": "forbidden"}), [A1, A2]),
        (lambda: build(requested_resources=[RequestGroup("p", {"VGPU": 1}, required_traits=["CUSTOM_GPU"])]), [A2]),
    ],
)
def test_aggregates_reserved_for_unrequested_traits_are_forbidden(spec: Any, forbidden: list[str]) -> None:
    s = spec()
    ran, s = run(isolate_aggregates, s, ctx(ISOLATING, enable_isolated_aggregate_filtering=True))
    assert ran
    assert (aggs(s) or ([], []))[1] == forbidden


def test_isolation_is_off_by_default() -> None:
    spec = build()
    ran, spec = run(isolate_aggregates, spec, ctx(ISOLATING))
    assert not ran
    assert spec.requested_destination is None


# -- transform_image_metadata ----------------------------------------------------------------------

def test_image_properties_become_root_traits() -> None:
    image = Image(properties={
        "hw_disk_bus": "virtio", "hw_cdrom_bus": "sata", "hw_video_model": "virtio", "hw_vif_model": "spapr-vlan",
        "hw_architecture": "x86_64", "hw_emulation_architecture": "aarch64", "hw_viommu_model": "intel",
        "hw_rng_model": "virtio",
    })
    spec = build(image=image)
    ran, spec = run(transform_image_metadata, spec, ctx(image_metadata_prefilter=True))
    assert ran
    assert sorted(spec.request_level_params.root_required) == [
        "COMPUTE_ARCH_AARCH64", "COMPUTE_GRAPHICS_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_SPAPR_VLAN",
        "COMPUTE_STORAGE_BUS_SATA", "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_VIOMMU_MODEL_INTEL", "HW_ARCH_X86_64",
    ]


def test_values_without_a_standard_trait_are_skipped_and_the_rest_kept() -> None:
    spec = build(image=Image(properties={"hw_disk_bus": "carrier-pigeon", "hw_architecture": "x86_64"}))
    ran, spec = run(transform_image_metadata, spec, ctx(image_metadata_prefilter=True))
    assert ran
    assert spec.request_level_params.root_required == ["HW_ARCH_X86_64"]


def test_image_metadata_prefilter_is_off_by_default() -> None:
    spec = build(image=Image(properties={"hw_architecture": "x86_64"}))
    ran, spec = run(transform_image_metadata, spec, ctx())
    assert not ran
    assert spec.request_level_params.root_required == []


# -- process_request_spec --------------------------------------------------------------------------

EVERYTHING_ON = {
    "limit_tenants_to_placement_aggregate": True,
    "query_placement_for_image_type_support": True,
    "enable_isolated_aggregate_filtering": True,
    "image_metadata_prefilter": True,
}


def test_the_filters_run_in_nova_order() -> None:
    assert [f.__name__ for f in REQUEST_FILTERS] == [
        "require_tenant_aggregate", "map_az_to_placement_aggregate", "require_image_type_support",
        "compute_status_filter", "isolate_aggregates", "transform_image_metadata",
    ]


def test_by_default_only_the_compute_status_filter_runs() -> None:
    spec = build(image=Image(disk_format="raw", properties={"hw_architecture": "x86_64"}))
    added = process_request_spec(spec, ctx(TENANT_AGGS + ISOLATING))
    assert added.ran == ["compute_status_filter"]
    assert to_placement_query(added.apply(spec), limit=3) == [
        ("limit", "3"), ("resources", "DISK_GB:1,MEMORY_MB:512,VCPU:1"), ("root_required", "!COMPUTE_STATUS_DISABLED"),
    ]


def test_every_filter_on_gives_the_query_its_constraints_and_is_idempotent() -> None:
    aggregates = TENANT_AGGS[:1] + [AggregateInfo(A3, "rack", {"availability_zone": "az1"}),
                                    AggregateInfo(A4, "gpu", {"trait:CUSTOM_GPU": "required"})]
    spec = build(availability_zone="az1", image=Image(disk_format="raw", properties={"hw_architecture": "x86_64"}))
    original = copy.deepcopy(spec)
    added = process_request_spec(spec, ctx(aggregates, **EVERYTHING_ON))
    assert added.ran == [f.__name__ for f in REQUEST_FILTERS]
    assert spec == original
    filtered = added.apply(spec)
    assert spec == original
    once = copy.deepcopy(filtered)
    assert process_request_spec(filtered, ctx(aggregates, **EVERYTHING_ON)).apply(filtered) == once
    assert to_placement_query(filtered, limit=3) == [
        ("limit", "3"),
        ("member_of", f"!in:{A4}"),
        ("member_of", f"in:{A1}"),
        ("member_of", f"in:{A3}"),
        ("resources", "DISK_GB:1,MEMORY_MB:512,VCPU:1"),
        ("root_required", "COMPUTE_IMAGE_TYPE_RAW,HW_ARCH_X86_64,!COMPUTE_STATUS_DISABLED"),
    ]


def test_a_failing_filter_stops_processing() -> None:
    spec = build(project_id="nobody")
    original = copy.deepcopy(spec)
    config = {"limit_tenants_to_placement_aggregate": True, "placement_aggregate_required_for_tenants": True}
    later: list[str] = []

    def after(spec: RequestSpec, context: RequestFilterContext, added: Constraints) -> bool:
        later.append("ran")
        return compute_status_filter(spec, context, added)

    with pytest.raises(RequestFilterFailed):
        process_request_spec(spec, ctx(TENANT_AGGS, **config), [require_tenant_aggregate, after])
    assert later == []
    assert spec == original


def test_a_custom_filter_list() -> None:
    spec = build(availability_zone="az1")
    added = process_request_spec(spec, ctx(AZ_AGGS), [map_az_to_placement_aggregate])
    assert added.ran == ["map_az_to_placement_aggregate"]
    assert added.apply(spec).request_level_params.root_forbidden == []
