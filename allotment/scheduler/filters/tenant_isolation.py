"""AggregateMultiTenancyIsolation: hosts in aggregates with ``filter_tenant_id*`` metadata take only those projects."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.filters.aggregate_metadata import metadata_by_key
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["AggregateMultiTenancyIsolation"]

_PREFIX = "filter_tenant_id"


class AggregateMultiTenancyIsolation(HostFilter):
    """Keys ``filter_tenant_id``, ``filter_tenant_id_2``, ... (comma lists) name the projects allowed.

    A host with no such key anywhere in its aggregates is open to every project.
    """

    run_filter_once_per_request: ClassVar[bool] = True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        allowed: set[str] = set()
        for key, values in metadata_by_key(host).items():
            if key.startswith(_PREFIX):
                allowed |= values
        return not allowed or spec.project_id in allowed
