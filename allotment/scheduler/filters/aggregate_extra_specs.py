"""AggregateInstanceExtraSpecsFilter: flavor extra specs must match the metadata of the host's aggregates."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.filters import extra_specs_ops
from allotment.scheduler.filters.aggregate_metadata import metadata_by_key
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["AggregateInstanceExtraSpecsFilter"]

_SCOPE = "aggregate_instance_extra_specs"


class AggregateInstanceExtraSpecsFilter(HostFilter):
    """Checks unscoped and ``aggregate_instance_extra_specs:`` keys; other scopes are left to other filters.

    The host passes a key when one of its aggregates carries it and any of the values (comma
    lists are split) matches the requirement; a host in no aggregate with the key fails.
    """

    run_filter_once_per_request: ClassVar[bool] = True

    def applies(self, spec: RequestSpec) -> bool:
        return bool(_requirements(spec.flavor.extra_specs))

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return _satisfies(host, _requirements(spec.flavor.extra_specs))

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        wanted = _requirements(spec.flavor.extra_specs)
        if not wanted:
            return list(hosts)
        return [h for h in hosts if _satisfies(h, wanted)]


def _satisfies(host: HostState, wanted: list[tuple[str, str]]) -> bool:
    if not wanted:
        return True
    metadata = metadata_by_key(host)
    for key, requirement in wanted:
        values = metadata.get(key)
        if not values or not any(extra_specs_ops.match(v, requirement) for v in values):
            return False
    return True


def _requirements(extra_specs: dict[str, str]) -> list[tuple[str, str]]:
    found = []
    for key, requirement in extra_specs.items():
        scope, sep, rest = key.partition(":")
        if not sep:
            found.append((key, requirement))
        elif scope == _SCOPE:
            found.append((rest, requirement))
    return found
