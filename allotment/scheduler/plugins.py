"""Filters and weighers: small classes registered by name through entry points.

A filter class lives in the entry-point group ``allotment.scheduler.filters`` under its
class name (``ComputeFilter``), a weigher in ``allotment.scheduler.weighers``
(``RAMWeigher``). Config lists the enabled filters by name and gives each weigher a
multiplier; third-party packages add their own through the same groups.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from allotment.scheduler.config import SchedulerConfig
    from allotment.scheduler.host_state import HostState
    from allotment.scheduler.spec import RequestSpec

__all__ = ["FILTER_GROUP", "WEIGHER_GROUP", "HostFilter", "HostWeigher", "load_filters", "load_weighers"]

FILTER_GROUP = "allotment.scheduler.filters"
WEIGHER_GROUP = "allotment.scheduler.weighers"


class HostFilter:
    """Decides whether one host may take the instance being placed."""

    # True: in a multi-instance request, only the first instance runs it; the hosts it
    # removed stay removed for the rest.
    run_filter_once_per_request: ClassVar[bool] = False

    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    def applies(self, spec: RequestSpec) -> bool:
        """False when the filter can remove no host for ``spec`` (no group, no hint, ...): it is then not run.

        Checked once per instance, so a filter with nothing to check costs nothing instead of a
        call per host. The default (True) always runs the filter: a filter that overrides this
        must return False only when ``filter_all`` would keep every host.
        """
        return True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        raise NotImplementedError

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        return [h for h in hosts if self.host_passes(h, spec)]


class HostWeigher:
    """Scores hosts; the scheduler normalises each weigher's raw values to [0, 1]."""

    # Name of the SchedulerConfig.weights key holding the multiplier; an aggregate
    # metadata key of the same name overrides it per host (the smallest value wins).
    multiplier_option: ClassVar[str] = ""
    default_multiplier: ClassVar[float] = 1.0
    minval: ClassVar[float | None] = None
    maxval: ClassVar[float | None] = None
    # True: the raw value depends on the host alone (not on the spec), so the instances of one
    # request reuse it for every host not consumed meanwhile. Read from the class that sets it
    # only: a subclass must say it again.
    raw_from_host_only: ClassVar[bool] = False

    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    def weight_multiplier(self, host: HostState) -> float:
        values = []
        for agg in host.aggregates:
            raw = agg.metadata.get(self.multiplier_option)
            if raw is not None:
                try:
                    values.append(float(raw))
                except ValueError:
                    continue  # a malformed override is ignored, as Nova does
        if values:
            return min(values)
        return float(self.config.weights.get(self.multiplier_option, self.default_multiplier))

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        raise NotImplementedError


def _load(group: str, names: list[str], base: type) -> list[type]:
    found = {ep.name: ep for ep in entry_points(group=group)}
    classes = []
    for name in names:
        if name not in found:
            raise ValueError(f"unknown {group.rsplit('.', 1)[-1][:-1]} {name!r}; known: {', '.join(sorted(found))}")
        cls = found[name].load()
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ValueError(f"entry point {name!r} of {group} is not a {base.__name__}")
        classes.append(cls)
    return classes


def load_filters(config: SchedulerConfig) -> list[HostFilter]:
    return [cls(config) for cls in _load(FILTER_GROUP, config.enabled_filters, HostFilter)]


def load_weighers(config: SchedulerConfig) -> list[HostWeigher]:
    return [cls(config) for cls in _load(WEIGHER_GROUP, config.enabled_weighers, HostWeigher)]
