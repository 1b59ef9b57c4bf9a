"""What one scheduling request's phases hand each other, and how long each took.

``Context`` is what every request shares (placement, registry, configuration, plugins);
``CycleState`` belongs to one request: created by the service after validation, filled
phase by phase, and dropped after the answer is built. The request's ``spec`` is never
written to: per-instance values (the instance being placed, the server group as placed so
far, the providers its request groups got) live here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from allotment.client import PlacementClient
from allotment.scheduler.claims import Ledger
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter, HostWeigher
from allotment.scheduler.provider_graph import GraphCache
from allotment.scheduler.registry import Registry
from allotment.scheduler.request_filters import Constraints
from allotment.scheduler.selection import TIMING_KEYS
from allotment.scheduler.spec import RequestGroup, RequestSpec, ServerGroup
from allotment.scheduler.topology.usage import Fit
from allotment.scheduler.weighing import RequestWeighing

__all__ = ["Context", "CycleState", "GroupState", "Move", "Placed"]


@dataclass(frozen=True)
class Context:
    """What every request of one scheduler shares."""

    placement: PlacementClient
    registry: Registry
    config: SchedulerConfig
    rng: random.Random
    filters: list[HostFilter]
    weighers: list[HostWeigher]
    once_per_request: frozenset[str]  # names of the filters only the first instance runs
    graphs: GraphCache | None = None  # placement's provider graph between explanations


@dataclass(frozen=True)
class Move:
    instance: str
    migration: str
    source: str | None  # host name the instance leaves, when known


@dataclass
class GroupState:
    """The request's server group: the registry's record merged with the spec's, plus what this request placed."""

    uuid: str
    policy: str
    rules: dict[str, int]
    members: list[str]
    hosts: list[str]

    def as_spec(self) -> ServerGroup:
        """The group as filters and weighers see it now (a copy: later placements do not change it)."""
        return ServerGroup(uuid=self.uuid, policy=self.policy, rules=dict(self.rules), members=list(self.members),
                           hosts=list(self.hosts))


@dataclass
class Placed:
    instance: str
    host: HostState
    request: dict[str, Any]  # the claimed allocation request
    group: str | None = None  # server group the instance was added to (boot)
    recorded: bool = False  # the registry record was created by this call
    move_hold: bool = False  # a move's group hold was taken (undo with Registry.finish_move)
    mapped_groups: list[RequestGroup] = field(default_factory=list)  # requested_resources with provider uuids
    fit: Fit | None = None  # the NUMA cells, pinned CPUs, pages and devices recorded in the registry


@dataclass
class CycleState:
    # Validated, never written to; the request filters' phase replaces it with the spec plus
    # their constraints (a new object).
    spec: RequestSpec
    instance_uuids: tuple[str, ...]
    fields: dict[str, Any]  # what the registry records about each instance
    reservation: str
    return_alternates: bool = True
    move: Move | None = None
    group: GroupState | None = None
    # request filters -> placement query
    constraints: Constraints = field(default_factory=Constraints)
    query: list[tuple[str, str]] = field(default_factory=list)
    # placement query -> host states
    answer: dict[str, Any] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=lambda: Ledger({}))
    hosts: list[HostState] = field(default_factory=list)
    # select and claim, per instance
    placed: list[Placed] = field(default_factory=list)
    chosen: list[Placed] = field(default_factory=list)  # a batch's hosts, chosen but not claimed yet
    ranked: list[list[HostState]] = field(default_factory=list)  # per instance, its hosts best first
    refused: set[str] = field(default_factory=set)  # roots whose claim failed in this call
    # Instances a claim of this call was refused for as stale (a provider gone): placement may hold them as
    # consumers with nothing, at generation 0.
    stale: set[str] = field(default_factory=set)
    # What the instances' weighings share (aggregate groups, multipliers, raw values of unchanged hosts).
    weighing: RequestWeighing = field(default_factory=RequestWeighing)
    once: list[tuple[str, int, int]] = field(default_factory=list)  # what once-per-request filters removed
    refusing_filters: list[tuple[str, int, int]] = field(default_factory=list)  # the run that left no host
    dry_run: bool = False  # decide only: nothing claimed in placement, nothing written to the registry
    weights: list[list[dict[str, Any]]] = field(default_factory=list)  # dry run: per instance, hosts' weights
    filter_runs: list[list[tuple[str, int, int]]] = field(default_factory=list)  # dry run: per instance
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIMING_KEYS, 0.0))
    started: float = field(default_factory=perf_counter)
    _last: float = field(default_factory=perf_counter)

    def restart(self) -> None:
        """Forget what selecting and claiming found, to place the request again from a new query."""
        self.placed, self.chosen, self.ranked, self.refused = [], [], [], set()
        self.weighing = RequestWeighing()
        self.once, self.refusing_filters, self.weights, self.filter_runs = [], [], [], []

    def lap(self, phase: str) -> None:
        """Add the time since the last lap to ``phase``'s total."""
        now = perf_counter()
        self.timings[phase] += now - self._last
        self._last = now

    def finish(self) -> None:
        self.timings["total"] = perf_counter() - self.started
