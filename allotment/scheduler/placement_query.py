"""A RequestSpec as placement's GET /allocation_candidates query (at ``PLACEMENT_MICROVERSION``), and back.

``to_placement_query`` is the one place that decides what a spec asks placement for;
``apply_mappings`` records, after a claim, which providers satisfied the spec's extra
request groups.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from allotment.client import DEFAULT_MICROVERSION
from allotment.scheduler.errors import NoSuchHost, PlacementQueryError
from allotment.scheduler.spec import RequestGroup, RequestSpec, parse_flavor_request

__all__ = [
    "PLACEMENT_MICROVERSION",
    "HostToRoot",
    "NoSuchHost",
    "PlacementQueryError",
    "apply_mappings",
    "request_groups",
    "required_traits",
    "to_placement_query",
]

# The scheduler speaks the client's microversion (1.39: any-of traits; 1.38 consumer types;
# 1.34 mappings): the one constant, so queries, claims and Selections never disagree.
PLACEMENT_MICROVERSION = DEFAULT_MICROVERSION

# Maps a compute host name (or, when only a node is given, a node name) to the uuid of its
# root resource provider; None when the registry does not know it.
HostToRoot = Callable[[str], str | None]

# Hints whose filters need every candidate host, not the first N placement returns.
_UNLIMITED_HINTS = ("group", "same_host", "different_host")


def to_placement_query(
    spec: RequestSpec, *, limit: int | None, host_to_root: HostToRoot | None = None
) -> list[tuple[str, str]]:
    """The GET /allocation_candidates parameters for one instance of ``spec``, sorted, at ``PLACEMENT_MICROVERSION``.

    What goes in, following Nova's semantics:

    * The unsuffixed group gets ``VCPU`` (``PCPU`` when ``hw:cpu_policy`` is ``dedicated``
      in the flavor or the image, plus one with ``hw:emulator_threads_policy=isolate``; with
      ``mixed``, ``PCPU`` for the ``hw:cpu_dedicated_mask`` CPUs and ``VCPU`` for the rest),
      ``MEMORY_MB`` and ``DISK_GB`` (root + ephemeral + swap in GiB rounded up; no root when
      booting from volume) from the flavor, unless a ``resources[S]:CLASS`` extra spec names
      the class in any group; an amount of 0 removes the class.
    * ``resources[S]:CLASS=N`` and ``trait[S]:NAME=required|forbidden`` extra specs make
      request groups, ``S`` being any suffix placement accepts; ``group_policy`` is passed on
      and defaults to ``none`` when there are two or more suffixed groups.
    * ``hw:cpu_thread_policy`` ``require``/``isolate`` requires/forbids ``HW_CPU_HYPERTHREADING``;
      image properties ``trait:NAME=required`` require the trait in the unsuffixed group.
    * ``requested_resources`` groups are added as they are (resources, traits, ``in:`` any-of
      traits, aggregates, forbidden aggregates, ``in_tree``).
    * ``request_level_params`` give ``root_required`` (forbidden ones with ``!``) and one
      ``same_subtree`` per entry; ``requested_destination`` gives one ``member_of=in:...``
      per aggregate OR-list and one ``member_of=!in:...`` for the forbidden aggregates.
    * A forced host (``force_hosts``/``force_nodes``, or ``requested_destination`` host or
      node, which wins) gives ``in_tree=<root provider>`` through ``host_to_root``.
    * ``limit`` is sent unless the spec has a ``group``, ``same_host`` or
      ``different_host`` hint, a server group or a target host: their filters need to see
      every candidate.

    ``spec`` is expected to be valid (``RequestSpec.validate``); it is not modified.
    Raises ``PlacementQueryError`` when the spec cannot make a valid query (nothing to
    allocate, conflicting traits, constraints on an unsuffixed group without resources,
    ...), ``NoSuchHost`` when ``host_to_root`` does not know the target host.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    groups, group_policy = request_groups(spec)
    unsuffixed = groups[0] if groups and groups[0].suffix == "" else RequestGroup()
    destination = spec.requested_destination
    if destination is not None:
        _extend_unique(unsuffixed.member_of, destination.aggregates)
        _extend_unique(unsuffixed.forbidden_aggregates, destination.forbidden_aggregates)
    target = _target_host(spec)
    if target is not None:
        with_tree = dataclasses.replace(unsuffixed, in_tree=_root_of(target, host_to_root))
        if groups and groups[0] is unsuffixed:
            groups[0] = with_tree
        unsuffixed = with_tree
    if unsuffixed.asks_anything() and (not groups or groups[0] is not unsuffixed):
        groups.insert(0, unsuffixed)
    _check_groups(spec, groups)

    params: list[tuple[str, str]] = []
    if limit is not None and not _needs_every_candidate(spec, target):
        params.append(("limit", str(limit)))
    if group_policy is None and sum(1 for g in groups if g.suffix) >= 2:
        group_policy = "none"
    if group_policy is not None:
        params.append(("group_policy", group_policy))
    level = spec.request_level_params
    root = _traits_value(level.root_required, level.root_forbidden)
    if root:
        params.append(("root_required", root))
    params += [("same_subtree", ",".join(sorted(set(names)))) for names in level.same_subtree]
    for group in groups:
        params += _group_params(group)
    return sorted(params)


def request_groups(spec: RequestSpec) -> tuple[list[RequestGroup], str | None]:
    """The request groups of ``spec`` from its flavor, image and ``requested_resources``, and the group policy.

    The unsuffixed group comes first, then the others by suffix. Zero amounts and groups
    asking for nothing are dropped. The destination's aggregates and target host are not
    included (``to_placement_query`` adds them). The groups are copies: editing them does
    not change the spec.
    """
    flavor_request = parse_flavor_request(spec.flavor.extra_specs)
    by_suffix = flavor_request.groups
    unsuffixed = by_suffix.setdefault("", RequestGroup())
    for key, value in sorted(spec.image.properties.items()):
        if key.startswith("trait:") and value == "required":
            _extend_unique(unsuffixed.required_traits, [key.removeprefix("trait:")])

    topology = spec.topology_request()
    cpu_policy, thread_policy = topology.cpu_policy, topology.thread_policy
    if cpu_policy in ("dedicated", "mixed") and not {"VCPU", "PCPU"} & _classes(by_suffix.values()):
        unsuffixed.resources["PCPU"] = topology.dedicated_count
        if cpu_policy == "mixed":
            unsuffixed.resources["VCPU"] = spec.flavor.vcpus - sum(len(c.pcpus) for c in topology.cells or ())
    hyperthreading = {"require": unsuffixed.required_traits, "isolate": unsuffixed.forbidden_traits}
    if thread_policy in hyperthreading:
        _extend_unique(hyperthreading[thread_policy], ["HW_CPU_HYPERTHREADING"])
    if topology.pci_numa_policy == "socket":
        _extend_unique(unsuffixed.required_traits, ["COMPUTE_SOCKET_PCI_NUMA_AFFINITY"])

    for group in spec.requested_resources:
        if group.suffix in by_suffix:
            raise PlacementQueryError(f"request group suffix {group.suffix!r} is used twice")
        by_suffix[group.suffix] = copy.deepcopy(group)

    asked = _classes(by_suffix.values())
    flavor = spec.flavor
    if not {"VCPU", "PCPU"} & asked:
        unsuffixed.resources["VCPU"] = flavor.vcpus
    if "MEMORY_MB" not in asked:
        unsuffixed.resources["MEMORY_MB"] = flavor.memory_mb
    if "DISK_GB" not in asked:
        root = 0 if spec.is_bfv else flavor.root_gb
        unsuffixed.resources["DISK_GB"] = root + flavor.ephemeral_gb + math.ceil(flavor.swap / 1024)

    groups = []
    for suffix in sorted(by_suffix):
        group = by_suffix[suffix]
        for rc in [rc for rc, n in group.resources.items() if not n]:
            del group.resources[rc]
        if group.asks_anything():
            groups.append(group)
    return groups, flavor_request.group_policy


def required_traits(spec: RequestSpec) -> set[str]:
    """Every trait some request group of ``spec`` requires (request-level root traits excluded)."""
    groups, _ = request_groups(spec)
    return {t for g in groups for t in g.required_traits}


def apply_mappings(spec: RequestSpec, mappings: Mapping[str, Sequence[str]]) -> list[RequestGroup]:
    """The spec's ``requested_resources`` with ``provider_uuids`` from a claimed allocation request's ``mappings``.

    ``mappings`` is placement's (1.34+): request group suffix -> provider uuids. A group
    the mappings do not mention is an error: the claim did not satisfy the spec.
    """
    missing = [g.suffix for g in spec.requested_resources if g.suffix not in mappings]
    if missing:
        raise ValueError(f"the allocation request maps no provider to request group(s) {', '.join(missing)}")
    return [dataclasses.replace(group, provider_uuids=list(mappings[group.suffix]))
            for group in spec.requested_resources]


def _target_host(spec: RequestSpec) -> str | None:
    destination = spec.requested_destination
    host = (destination.host if destination else None) or next(iter(spec.force_hosts), None)
    node = (destination.node if destination else None) or next(iter(spec.force_nodes), None)
    return host or node


def _root_of(target: str, host_to_root: HostToRoot | None) -> str:
    if host_to_root is None:
        raise PlacementQueryError(f"the spec targets host {target!r}: building its query needs host_to_root")
    root = host_to_root(target)
    if root is None:
        raise NoSuchHost(target)
    return root


def _needs_every_candidate(spec: RequestSpec, target: str | None) -> bool:
    return (
        target is not None
        or spec.instance_group is not None
        or any(hint in spec.scheduler_hints for hint in _UNLIMITED_HINTS)
    )


def _check_groups(spec: RequestSpec, groups: list[RequestGroup]) -> None:
    if not any(g.resources for g in groups):
        raise PlacementQueryError("the spec asks placement for no resources at all")
    named = {s for names in spec.request_level_params.same_subtree for s in names}
    for group in groups:
        label = f"request group {group.suffix!r}" if group.suffix else "the unsuffixed request group"
        if not group.resources:
            if not group.suffix:
                raise PlacementQueryError(
                    f"{label} has traits, aggregates or a target host but no resources to apply them to"
                )
            if group.suffix not in named:
                raise PlacementQueryError(f"{label} has no resources and is not named in same_subtree")
        conflicts = set(group.required_traits) & set(group.forbidden_traits)
        conflicts |= {t for any_of in group.any_traits if set(any_of) <= set(group.forbidden_traits) for t in any_of}
        if conflicts:
            raise PlacementQueryError(f"{label} both requires and forbids {', '.join(sorted(conflicts))}")


def _group_params(group: RequestGroup) -> list[tuple[str, str]]:
    s = group.suffix
    out: list[tuple[str, str]] = []
    if group.resources:
        out.append((f"resources{s}", ",".join(f"{rc}:{n}" for rc, n in sorted(group.resources.items()))))
    traits = _traits_value(group.required_traits, group.forbidden_traits)
    if traits:
        out.append((f"required{s}", traits))
    out += [(f"required{s}", "in:" + ",".join(sorted(set(any_of)))) for any_of in group.any_traits]
    out += [(f"member_of{s}", "in:" + _sorted_csv(ors.split(","))) for ors in _unique(group.member_of)]
    if group.forbidden_aggregates:
        out.append((f"member_of{s}", "!in:" + _sorted_csv(group.forbidden_aggregates)))
    if group.in_tree:
        out.append((f"in_tree{s}", group.in_tree))
    return out


def _traits_value(required: Iterable[str], forbidden: Iterable[str]) -> str:
    return ",".join(sorted(set(required)) + ["!" + t for t in sorted(set(forbidden))])


def _sorted_csv(values: Iterable[str]) -> str:
    return ",".join(sorted(set(values)))


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _extend_unique(target: list[str], values: Iterable[str]) -> None:
    target.extend(v for v in values if v not in target)


def _classes(groups: Iterable[RequestGroup]) -> set[str]:
    return {rc for g in groups for rc in g.resources}

