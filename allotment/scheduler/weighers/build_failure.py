"""BuildFailureWeigher: pushes hosts whose recent builds failed to the back of the list."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostWeigher
from allotment.scheduler.spec import RequestSpec

__all__ = ["BuildFailureWeigher"]


class BuildFailureWeigher(HostWeigher):
    """Raw value: consecutive failed builds. The configured multiplier (large and positive) is applied negated."""

    multiplier_option: ClassVar[str] = "build_failure_weight_multiplier"
    raw_from_host_only: ClassVar[bool] = True
    default_multiplier: ClassVar[float] = 1000000.0
    # Tells weighing.py the override below still depends on config and aggregates only.
    multiplier_from_aggregates_only: ClassVar[bool] = True

    def weight_multiplier(self, host: HostState) -> float:
        # Negating the multiplier, not the raw value, keeps failure-free hosts at 0: only failures cost.
        return -super().weight_multiplier(host)

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return host.failed_builds

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return [h.failed_builds for h in hosts]
