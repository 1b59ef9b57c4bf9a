"""Request filters: edits to a RequestSpec, made before its placement query is built.

Each filter is a function ``(spec, ctx) -> bool`` that returns True when it ran (its gate
was open and it applied), and only ever edits the spec: request-level root traits
(``request_level_params.root_required`` / ``root_forbidden``) and the destination's
aggregates (``requested_destination.aggregates`` / ``forbidden_aggregates``), which
``to_placement_query`` turns into ``root_required`` and ``member_of`` parameters. A filter
that finds no host can be valid raises ``RequestFilterFailed`` (the manager reports
NoValidHost).

The manager runs ``process_request_spec`` on a deep copy of the caller's spec
(``copy.deepcopy``), so the added constraints never leak into what is stored or retried.
Running the filters twice on one spec adds nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import os_traits

from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.host_state import AggregateInfo
from allotment.scheduler.placement_query import required_traits
from allotment.scheduler.spec import Destination, RequestSpec

__all__ = [
    "REQUEST_FILTERS",
    "RequestFilter",
    "RequestFilterContext",
    "RequestFilterFailed",
    "compute_status_filter",
    "isolate_aggregates",
    "map_az_to_placement_aggregate",
    "process_request_spec",
    "require_image_type_support",
    "require_tenant_aggregate",
    "transform_image_metadata",
]

log = logging.getLogger(__name__)

TENANT_METADATA_PREFIX = "filter_tenant_id"  # filter_tenant_id, filter_tenant_id2, ...
AZ_METADATA_KEY = "availability_zone"

# Image property -> trait prefix; the trait is PREFIX_VALUE (upper case, '-' as '_').
IMAGE_PROPERTY_TRAITS = {
    "hw_cdrom_bus": "COMPUTE_STORAGE_BUS",
    "hw_disk_bus": "COMPUTE_STORAGE_BUS",
    "hw_video_model": "COMPUTE_GRAPHICS_MODEL",
    "hw_vif_model": "COMPUTE_NET_VIF_MODEL",
    "hw_architecture": "HW_ARCH",
    "hw_emulation_architecture": "COMPUTE_ARCH",
    "hw_viommu_model": "COMPUTE_VIOMMU_MODEL",
}


class RequestFilterFailed(Exception):
    """No host can satisfy the spec; the message says why (reported as NoValidHost)."""


@dataclass
class RequestFilterContext:
    config: SchedulerConfig
    # Every host aggregate of the registry with its metadata; uuid = placement aggregate uuid.
    aggregates: Sequence[AggregateInfo] = ()


RequestFilter = Callable[[RequestSpec, RequestFilterContext], bool]


def require_tenant_aggregate(spec: RequestSpec, ctx: RequestFilterContext) -> bool:
    """Place the tenant's instances only in aggregates whose ``filter_tenant_id*`` metadata names the tenant.

    Tenants no aggregate names go anywhere, unless ``placement_aggregate_required_for_tenants``.
    """
    if not ctx.config.limit_tenants_to_placement_aggregate:
        return False
    uuids = sorted({
        agg.uuid for agg in ctx.aggregates
        if any(k.startswith(TENANT_METADATA_PREFIX) and v == spec.project_id for k, v in agg.metadata.items())
    })
    if uuids:
        _require_any_of(spec, uuids)
    elif ctx.config.placement_aggregate_required_for_tenants:
        raise RequestFilterFailed(f"no host aggregate is available to tenant {spec.project_id!r}")
    return True


def map_az_to_placement_aggregate(spec: RequestSpec, ctx: RequestFilterContext) -> bool:
    """Place the instance in one of the aggregates that make up its availability zone.

    A zone no aggregate names (the default zone) adds nothing: the AvailabilityZone filter decides.
    """
    if not spec.availability_zone:
        return False
    uuids = sorted({agg.uuid for agg in ctx.aggregates if agg.metadata.get(AZ_METADATA_KEY) == spec.availability_zone})
    if uuids:
        _require_any_of(spec, uuids)
    return True


def require_image_type_support(spec: RequestSpec, ctx: RequestFilterContext) -> bool:
    """Require ``COMPUTE_IMAGE_TYPE_<DISK FORMAT>`` on the root provider (not when booting from volume)."""
    if not ctx.config.query_placement_for_image_type_support or spec.is_bfv or not spec.image.disk_format:
        return False
    trait = f"COMPUTE_IMAGE_TYPE_{spec.image.disk_format.upper()}"
    if trait not in _standard_traits():
        log.warning("image disk format %r has no standard trait %s; not filtering on it", spec.image.disk_format, trait)
        return False
    _require_on_root(spec, [trait])
    return True


def compute_status_filter(spec: RequestSpec, ctx: RequestFilterContext) -> bool:
    """Forbid ``COMPUTE_STATUS_DISABLED`` on the root provider: disabled computes take nothing new."""
    _add_unique(spec.request_level_params.root_forbidden, ["COMPUTE_STATUS_DISABLED"])
    return True


def isolate_aggregates(spec: RequestSpec, ctx: RequestFilterContext) -> bool:
    """Keep the instance out of aggregates reserved (metadata ``trait:X=required``) for traits it does not require."""
    if not ctx.config.enable_isolated_aggregate_filtering:
        return False
    wanted = required_traits(spec)
    isolated = sorted({
        agg.uuid for agg in ctx.aggregates
        if any(
            k.startswith("trait:") and v == "required" and k.removeprefix("trait:") not in wanted
            for k, v in agg.metadata.items()
        )
    })
    if isolated:
        _add_unique(_destination(spec).forbidden_aggregates, isolated)
    return True


def transform_image_metadata(spec: RequestSpec, ctx: RequestFilterContext) -> bool:
    """Require on the root the traits that image properties such as ``hw_disk_bus`` or ``hw_architecture`` imply.

    A value with no standard trait (a typo, a newer model) is skipped with a warning.
    """
    if not ctx.config.image_metadata_prefilter:
        return False
    traits = []
    for prop, prefix in IMAGE_PROPERTY_TRAITS.items():
        value = spec.image.properties.get(prop)
        if not value:
            continue
        trait = f"{prefix}_{value.replace('-', '_').upper()}"
        if trait in _standard_traits():
            traits.append(trait)
        else:
            log.warning("image property %s=%r has no standard trait %s; not filtering on it", prop, value, trait)
    _require_on_root(spec, traits)
    return True


REQUEST_FILTERS: tuple[RequestFilter, ...] = (
    require_tenant_aggregate,
    map_az_to_placement_aggregate,
    require_image_type_support,
    compute_status_filter,
    isolate_aggregates,
    transform_image_metadata,
)


def process_request_spec(
    spec: RequestSpec, ctx: RequestFilterContext, filters: Sequence[RequestFilter] = REQUEST_FILTERS
) -> list[str]:
    """Run ``filters`` in order on ``spec`` (edited in place); the names of those that ran.

    Pass a deep copy of the caller's spec. ``RequestFilterFailed`` propagates: no host is valid.
    """
    ran = []
    for request_filter in filters:
        if request_filter(spec, ctx):
            ran.append(request_filter.__name__)
    log.debug("request filters applied: %s", ", ".join(ran))
    return ran


@cache
def _standard_traits() -> frozenset[str]:
    return frozenset(os_traits.get_traits())


def _destination(spec: RequestSpec) -> Destination:
    if spec.requested_destination is None:
        spec.requested_destination = Destination()
    return spec.requested_destination


def _require_any_of(spec: RequestSpec, aggregate_uuids: list[str]) -> None:
    _add_unique(_destination(spec).aggregates, [",".join(aggregate_uuids)])


def _require_on_root(spec: RequestSpec, traits: list[str]) -> None:
    _add_unique(spec.request_level_params.root_required, traits)


def _add_unique(target: list[str], values: Sequence[str]) -> None:
    target.extend(v for v in values if v not in target)
