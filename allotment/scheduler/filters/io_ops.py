"""IoOpsFilter: hosts with fewer I/O-heavy tasks in flight (builds, resizes, snapshots) than the limit."""

from __future__ import annotations

from allotment.scheduler.filters.aggregate_metadata import min_override
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["IoOpsFilter"]


class IoOpsFilter(HostFilter):
    """Limit: config ``max_io_ops_per_host``; aggregate metadata of that name overrides it (smallest wins)."""

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        limit = min_override(host, "max_io_ops_per_host", self.config.max_io_ops_per_host)
        return host.num_io_ops < limit
