"""AvailabilityZoneFilter: the host must be in the requested availability zone."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.filters.aggregate_metadata import values_of
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["AvailabilityZoneFilter", "host_zones"]


class AvailabilityZoneFilter(HostFilter):
    """A host's zones come from its aggregates' ``availability_zone`` metadata; with none it is in the default zone."""

    run_filter_once_per_request: ClassVar[bool] = True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if not spec.availability_zone:
            return True
        return spec.availability_zone in host_zones(host, self.config.default_availability_zone)


def host_zones(host: HostState, default_zone: str) -> set[str]:
    return values_of(host, "availability_zone") or {default_zone}
