"""AggregateImagePropertiesIsolation: image properties named like aggregate metadata keys must match their values."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.filters.aggregate_metadata import metadata_by_key
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["AggregateImagePropertiesIsolation"]


class AggregateImagePropertiesIsolation(HostFilter):
    """For every metadata key of the host's aggregates that the image also sets, the image's value must be listed.

    An image that does not set the key passes; so the filter keeps tagged images in, not others out.
    """

    run_filter_once_per_request: ClassVar[bool] = True

    def applies(self, spec: RequestSpec) -> bool:
        return bool(spec.image.properties)

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        properties = spec.image.properties
        if not properties or not host.aggregates:
            return True
        for key, allowed in metadata_by_key(host).items():
            value = properties.get(key)
            if value and str(value) not in allowed:
                return False
        return True
