"""AllHostsFilter: lets every host through (a placeholder when no filtering is wanted)."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["AllHostsFilter"]


class AllHostsFilter(HostFilter):
    run_filter_once_per_request: ClassVar[bool] = True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return True

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        return list(hosts)
