"""ComputeCapabilitiesFilter: flavor extra specs ``capabilities:<path>`` (and bare host attribute names) vs the host."""

from __future__ import annotations

from typing import Any, ClassVar

from allotment.scheduler.filters import extra_specs_ops
from allotment.scheduler.filters.host_lookup import has_field, lookup
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["ComputeCapabilitiesFilter"]

_SCOPE = "capabilities"

# (path below the host, requirement, whether the key was unscoped)
_Check = tuple[list[str], str, bool]


class ComputeCapabilitiesFilter(HostFilter):
    """Each ``capabilities:a:b`` extra spec is matched against ``host.a.b`` (``a`` may be a stats key).

    An unscoped key (no ``:``) is checked only on hosts where it names an attribute or stats
    key, so flavors written for other filters still pass here; keys in any other scope are
    ignored. ``hw:maxphysaddr_bits`` asks for at least that many physical address bits in
    ``cpu_info``.
    """

    run_filter_once_per_request: ClassVar[bool] = True

    def applies(self, spec: RequestSpec) -> bool:
        return bool(_checks(spec.flavor.extra_specs))

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return _satisfies(host, _checks(spec.flavor.extra_specs))

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        checks = _checks(spec.flavor.extra_specs)
        if not checks:
            return list(hosts)
        return [h for h in hosts if _satisfies(h, checks)]


def _checks(extra_specs: dict[str, str]) -> list[_Check]:
    checks = []
    for key, requirement in extra_specs.items():
        if key == "hw:maxphysaddr_bits":
            checks.append((["cpu_info", "maxphysaddr", "bits"], f">= {requirement}", False))
            continue
        path = key.split(":")
        if len(path) == 1:
            checks.append((path, requirement, True))
        elif path[0] == _SCOPE:
            checks.append((path[1:], requirement, False))
    return checks


def _satisfies(host: HostState, checks: list[_Check]) -> bool:
    for path, requirement, unscoped in checks:
        if unscoped and not has_field(host, path[0]):
            continue
        if not extra_specs_ops.match(_as_matchable(lookup(host, path)), requirement):
            return False
    return True


def _as_matchable(value: Any) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(v) for v in value]
    return str(value)
