"""Request filters: constraints added to a RequestSpec's placement query before it is built.

Each filter is a function ``(spec, ctx, added) -> bool`` that returns True when it ran (its
gate was open and it applied). It reads the spec and only ever adds to ``added``
(``Constraints``): request-level root traits (``root_required`` / ``root_forbidden``) and
destination aggregates (``aggregates`` / ``forbidden_aggregates``). ``Constraints.apply``
gives the spec with them merged in (a new spec: the caller's is never edited), which
``to_placement_query`` turns into ``root_required`` and ``member_of`` parameters. A filter
that finds no host can be valid raises ``RequestFilterFailed`` (a NoValidHost).

Applying the constraints to a spec that already has them adds nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

import os_traits

from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.errors import RequestFilterFailed
from allotment.scheduler.host_state import AggregateInfo
from allotment.scheduler.placement_query import required_traits
from allotment.scheduler.spec import Destination, RequestSpec

__all__ = [
    "REQUEST_FILTERS",
    "Constraints",
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


@dataclass
class RequestFilterContext:
    config: SchedulerConfig
    # Every host aggregate of the registry with its metadata; uuid = placement aggregate uuid.
    aggregates: Sequence[AggregateInfo] = ()


@dataclass
class Constraints:
    """What the request filters add to a spec's placement query, and which filters ran."""

    root_required: list[str] = field(default_factory=list)
    root_forbidden: list[str] = field(default_factory=list)
    aggregates: list[str] = field(default_factory=list)  # each entry a comma-separated OR list
    forbidden_aggregates: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)

    def apply(self, spec: RequestSpec) -> RequestSpec:
        """``spec`` with these constraints merged in (``spec`` itself is not changed)."""
        changes: dict[str, object] = {}
        if self.root_required or self.root_forbidden:
            level = spec.request_level_params
            changes["request_level_params"] = dataclasses.replace(
                level, root_required=_merged(level.root_required, self.root_required),
                root_forbidden=_merged(level.root_forbidden, self.root_forbidden))
        if self.aggregates or self.forbidden_aggregates:
            dest = spec.requested_destination or Destination()
            changes["requested_destination"] = dataclasses.replace(
                dest, aggregates=_merged(dest.aggregates, self.aggregates),
                forbidden_aggregates=_merged(dest.forbidden_aggregates, self.forbidden_aggregates))
        return dataclasses.replace(spec, **changes) if changes else spec  # type: ignore[arg-type]


RequestFilter = Callable[[RequestSpec, RequestFilterContext, Constraints], bool]


def require_tenant_aggregate(spec: RequestSpec, ctx: RequestFilterContext, added: Constraints) -> bool:
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
        _add_unique(added.aggregates, [",".join(uuids)])
    elif ctx.config.placement_aggregate_required_for_tenants:
        raise RequestFilterFailed(f"no host aggregate is available to tenant {spec.project_id!r}")
    return True


def map_az_to_placement_aggregate(spec: RequestSpec, ctx: RequestFilterContext, added: Constraints) -> bool:
    """Place the instance in one of the aggregates that make up its availability zone.

    A zone no aggregate names (the default zone) adds nothing: the AvailabilityZone filter decides.
    """
    if not spec.availability_zone:
        return False
    uuids = sorted({agg.uuid for agg in ctx.aggregates if agg.metadata.get(AZ_METADATA_KEY) == spec.availability_zone})
    if uuids:
        _add_unique(added.aggregates, [",".join(uuids)])
    return True


def require_image_type_support(spec: RequestSpec, ctx: RequestFilterContext, added: Constraints) -> bool:
    """Require ``COMPUTE_IMAGE_TYPE_<DISK FORMAT>`` on the root provider (not when booting from volume)."""
    if not ctx.config.query_placement_for_image_type_support or spec.is_bfv or not spec.image.disk_format:
        return False
    trait = f"COMPUTE_IMAGE_TYPE_{spec.image.disk_format.upper()}"
    if trait not in _standard_traits():
        log.warning("image disk format %r has no standard trait %s; not filtering on it", spec.image.disk_format, trait)
        return False
    _add_unique(added.root_required, [trait])
    return True


def compute_status_filter(spec: RequestSpec, ctx: RequestFilterContext, added: Constraints) -> bool:
    """Forbid ``COMPUTE_STATUS_DISABLED`` on the root provider: disabled computes take nothing new."""
    _add_unique(added.root_forbidden, ["COMPUTE_STATUS_DISABLED"])
    return True


def isolate_aggregates(spec: RequestSpec, ctx: RequestFilterContext, added: Constraints) -> bool:
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
        _add_unique(added.forbidden_aggregates, isolated)
    return True


def transform_image_metadata(spec: RequestSpec, ctx: RequestFilterContext, added: Constraints) -> bool:
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
    _add_unique(added.root_required, traits)
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
) -> Constraints:
    """Run ``filters`` in order on ``spec`` (not edited); what they add, ``ran`` naming those that ran.

    ``RequestFilterFailed`` propagates: no host is valid.
    """
    added = Constraints()
    for request_filter in filters:
        if request_filter(spec, ctx, added):
            added.ran.append(request_filter.__name__)
    log.debug("request filters applied: %s", ", ".join(added.ran))
    return added


@cache
def _standard_traits() -> frozenset[str]:
    return frozenset(os_traits.get_traits())


def _merged(current: list[str], added: list[str]) -> list[str]:
    return current + [v for v in added if v not in current]


def _add_unique(target: list[str], values: Sequence[str]) -> None:
    target.extend(v for v in values if v not in target)
