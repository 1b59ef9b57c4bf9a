"""A spec's topology request as the scheduler uses it: PCI request groups for placement, and back from a candidate.

Each device of a PCI request is one placement request group (suffix ``_PCI<r>_<n>``) asking
one unit of ``CUSTOM_PCI_<VENDOR>_<PRODUCT>`` (Nova's PCI-in-placement class), so devices of
one request may come from different providers. After placement answers, a candidate's
``mappings`` say which device providers each request may use (``allowed_devices``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.errors import InvalidRequestSpec
from allotment.scheduler.host_state import HostState
from allotment.scheduler.spec import RequestGroup, RequestSpec
from allotment.scheduler.topology.fit import Limits
from allotment.scheduler.topology.host import pci_resource_class
from allotment.scheduler.topology.request import PciAlias, TopologyRequest, parse_pci_aliases

__all__ = ["aliases_of", "allowed_addresses", "allowed_devices", "limits_of", "pci_suffix", "request_of", "with_pci_groups"]


def pci_suffix(request_index: int, device_index: int) -> str:
    return f"_PCI{request_index}_{device_index}"


def aliases_of(config: SchedulerConfig) -> list[PciAlias]:
    """The configured PCI aliases, parsed once per configuration object."""
    found = _ALIASES.get(id(config))
    if found is None or found[0] is not config or found[1] != config.pci_alias:
        found = _ALIASES[id(config)] = (config, list(config.pci_alias), parse_pci_aliases(config.pci_alias))
    return found[2]


_ALIASES: dict[int, tuple[SchedulerConfig, list[Any], list[PciAlias]]] = {}


def request_of(spec: RequestSpec, config: SchedulerConfig) -> TopologyRequest:
    """The spec's topology request with the configured PCI aliases (InvalidRequestSpec for an unknown alias)."""
    return spec.topology_request(aliases_of(config))


def with_pci_groups(spec: RequestSpec, config: SchedulerConfig) -> RequestSpec:
    """``spec`` plus one placement request group per requested PCI device (``spec`` unchanged if none)."""
    request = request_of(spec, config)
    if not request.pci:
        return spec
    groups = []
    for r, pci in enumerate(request.pci):
        classes = {s.resource_class or pci_resource_class(s.vendor_id or "", s.product_id or "") for s in pci.specs}
        if len(classes) != 1:
            raise InvalidRequestSpec(f"flavor.extra_specs.pci_passthrough:alias: alias {pci.alias!r} names devices of "
                                     f"several resource classes ({', '.join(sorted(classes))}); placement can ask "
                                     "for one class per device")
        rc = classes.pop()
        groups += [RequestGroup(suffix=pci_suffix(r, n), resources={rc: 1}, requester_id=f"pci:{pci.alias}")
                   for n in range(pci.count)]
    return dataclasses.replace(spec, requested_resources=[*spec.requested_resources, *groups])


def allowed_devices(request: TopologyRequest, candidate: Mapping[str, Any]) -> list[set[str] | None] | None:
    """Per PCI request, the provider uuids the candidate's mappings give its groups (None: no mappings)."""
    mappings = candidate.get("mappings")
    if not request.pci or not mappings:
        return None
    out: list[set[str] | None] = []
    for r, pci in enumerate(request.pci):
        providers: set[str] = set()
        for n in range(pci.count):
            providers.update(mappings.get(pci_suffix(r, n), ()))
        out.append(providers)
    return out


def limits_of(host: HostState) -> Limits:
    """The host's overcommit of shared CPUs and memory, applied per NUMA cell as Nova does."""
    return Limits(cpu_allocation_ratio=host.cpu_allocation_ratio or 1.0,
                  ram_allocation_ratio=host.ram_allocation_ratio or 1.0)


def allowed_addresses(host: HostState, allowed: list[set[str] | None] | None) -> tuple[frozenset[str] | None, ...] | None:
    """``allowed_devices`` as device provider addresses of the host: the same on hosts built alike."""
    if allowed is None:
        return None
    by_provider = host.numa_topology.address_of_provider if host.numa_topology is not None else {}
    return tuple(None if providers is None else frozenset(by_provider.get(p, p) for p in providers)
                 for providers in allowed)
