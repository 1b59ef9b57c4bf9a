"""What ``Scheduler.select_destinations`` answers: a Selection per host tried, grouped per instance.

A ``ScheduleResult`` holds, for every instance of the request, the host whose resources are
already claimed in placement first, then the alternates: hosts that passed the filters for
that instance, each with an allocation request that is *not* claimed. A caller whose build
fails on the chosen host claims an alternate's ``allocation_request`` itself
(``PUT /allocations/{instance}``) instead of asking the scheduler again, as Nova's
conductor does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TIMING_KEYS", "ScheduleResult", "Selection"]

# Seconds spent per phase, summed over the instances of a request.
TIMING_KEYS = ("request_filters", "placement_query", "host_states", "filtering", "weighing", "claim", "total")


@dataclass
class Selection:
    host: str
    nodename: str
    compute_node_uuid: str  # the host's root resource provider
    cell: str | None
    allocation_request: dict[str, Any]  # placement's, with "allocations" and "mappings" (1.34+)
    allocation_request_version: str  # the placement microversion to claim it at
    availability_zone: str | None
    limits: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "nodename": self.nodename,
            "compute_node_uuid": self.compute_node_uuid,
            "cell": self.cell,
            "allocation_request": self.allocation_request,
            "allocation_request_version": self.allocation_request_version,
            "availability_zone": self.availability_zone,
            "limits": self.limits,
        }


@dataclass
class ScheduleResult:
    reservation_id: str
    selections: list[list[Selection]]  # per instance: the claimed host first, then alternates
    instance_uuids: list[str]
    timings: dict[str, float]  # seconds, keys TIMING_KEYS
    # Set for a move: the consumer holding the source allocations until confirm or revert.
    migration_uuid: str | None = None
    # A dry run: nothing was claimed or recorded; ``decision`` says, per instance, what the
    # filters removed and how the best hosts weighed (per weigher).
    dry_run: bool = False
    decision: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hosts(self) -> list[str]:
        """The chosen host of every instance, in instance order."""
        return [per_instance[0].host for per_instance in self.selections]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reservation_id": self.reservation_id,
            "instance_uuids": list(self.instance_uuids),
            "selections": [[s.to_dict() for s in per_instance] for per_instance in self.selections],
            "timings": dict(self.timings),
        }
        if self.migration_uuid is not None:
            out["migration_uuid"] = self.migration_uuid
        if self.dry_run:
            out["dry_run"] = True
            out["decision"] = self.decision
        return out
