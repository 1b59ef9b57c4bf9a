"""Combining the weighers into one weight per host, and picking the host to try first."""

from __future__ import annotations

import random
from collections.abc import Sequence
from operator import attrgetter, is_

from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostWeigher
from allotment.scheduler.spec import RequestSpec

__all__ = ["RequestWeighing", "pick", "weigh_hosts"]

_RNG = random.Random()


_WEIGHT = attrgetter("weight")
_CONSUMED = attrgetter("consumed")


class RequestWeighing:
    """What the weighings of one request's instances share: groups, multipliers, unchanged raw values.

    Every instance of a multi-instance request weighs the same hosts (unless a filter removed
    some), and between two instances only the host that took one changed (``HostState.consume``
    counts its changes). Kept from one weighing to the next: the hosts grouped by aggregate
    set, each weigher's multiplier per group (aggregates do not change within a request),
    and the raw values of the weighers whose raw value depends on the host alone
    (``raw_from_host_only``), taken again only for the hosts consumed since. Any other host
    list starts afresh. One object serves one request. ``keep=False`` (a single weighing)
    skips the bookkeeping that only later weighings would use.
    """

    def __init__(self, *, keep: bool = True) -> None:
        self._keep = keep
        self._hosts: list[HostState] = []
        self._consumed: list[int] = []  # each host's HostState.consumed when last seen
        self._groups: list[tuple[HostState, list[int]]] = []
        self._multipliers: dict[int, list[tuple[float, list[int]]]] = {}  # by id() of a weigher
        self._raw: dict[int, tuple[list[float], set[int]]] = {}  # id() of a weigher -> values, stale positions

    def of(self, hosts: list[HostState]) -> list[tuple[HostState, list[int]]]:
        """``hosts`` grouped as ``_by_aggregates`` does (the same hosts in the same order reuse the last grouping)."""
        if not self._keep:
            self._hosts, self._groups, self._multipliers = list(hosts), _by_aggregates(hosts), {}
            return self._groups
        consumed = list(map(_CONSUMED, hosts))
        if len(hosts) != len(self._hosts) or not all(map(is_, hosts, self._hosts)):
            self._hosts = list(hosts)
            self._groups = _by_aggregates(hosts)
            self._multipliers = {}
            self._raw = {}
        elif consumed != self._consumed:
            changed = {i for i, (now, then) in enumerate(zip(consumed, self._consumed)) if now != then}
            for _, stale in self._raw.values():
                stale |= changed
        self._consumed = consumed
        return self._groups

    def multipliers(self, weigher: HostWeigher) -> list[tuple[float, list[int]]]:
        """Per group of the last ``of``: the weigher's multiplier (asked of one host of it) and the members."""
        found = self._multipliers.get(id(weigher))
        if found is None:
            found = self._multipliers[id(weigher)] = [
                (weigher.weight_multiplier(representative), members) for representative, members in self._groups]
        return found

    def raw_values(self, weigher: HostWeigher, spec: RequestSpec) -> list[float]:
        """The weigher's raw values over the hosts of the last ``of`` (a list the caller must not change)."""
        hosts = self._hosts
        if not self._keep or not _raw_from_host_only(weigher):
            return _raw_values(weigher, hosts, spec)
        kept = self._raw.get(id(weigher))
        if kept is None:
            values = _raw_values(weigher, hosts, spec)
            self._raw[id(weigher)] = (values, set())
            return values
        values, stale = kept
        for i in stale:
            values[i] = _raw_values(weigher, [hosts[i]], spec)[0]
        stale.clear()
        return values


def weigh_hosts(weighers: Sequence[HostWeigher], hosts: Sequence[HostState], spec: RequestSpec,
                shared: RequestWeighing | None = None) -> list[HostState]:
    """Set ``host.weight`` and return the hosts sorted by it, highest first (ties keep their input order).

    For each weigher the raw values over all hosts are clamped to the class's minval/maxval,
    scaled to [0, 1] between the smallest and largest value (or minval/maxval when set;
    all equal gives 0), multiplied by the host's multiplier and added up. ``shared`` keeps
    what does not change between the weighings of one request's instances (RequestWeighing).
    """
    ordered = list(hosts)
    totals = [0.0] * len(ordered)
    # With one host there is nothing to rank; skipping the weighers keeps its weight at 0.
    if len(ordered) > 1:
        shared = shared if shared is not None else RequestWeighing(keep=False)
        shared.of(ordered)
        for weigher in weighers:
            _add_weigher(weigher, ordered, spec, shared, totals)
    for host, total in zip(ordered, totals):
        host.weight = total
    # sorted() is stable with reverse=True too: equal weights keep placement's order.
    return sorted(ordered, key=_WEIGHT, reverse=True)


def pick(hosts: Sequence[HostState], config: SchedulerConfig, rng: random.Random | None = None) -> list[HostState]:
    """Reorder weighed hosts (highest first) so the one to try first is at the front.

    ``shuffle_best_same_weighed_hosts`` shuffles the hosts tied for the best weight, so
    concurrent schedulers spread over them instead of racing for the same one. Then one
    host, chosen at random among the first ``host_subset_size``, moves to the front; the
    rest keep their order for alternates.
    """
    ordered = list(hosts)
    if not ordered:
        return ordered
    rng = rng if rng is not None else _RNG
    if config.shuffle_best_same_weighed_hosts:
        best = ordered[0].weight
        tied = 1
        while tied < len(ordered) and ordered[tied].weight == best:
            tied += 1
        head = ordered[:tied]
        rng.shuffle(head)
        ordered[:tied] = head
    subset = min(max(1, config.host_subset_size), len(ordered))
    if subset > 1:
        chosen = ordered.pop(rng.randrange(subset))
        ordered.insert(0, chosen)
    return ordered


def _add_weigher(
    weigher: HostWeigher,
    hosts: list[HostState],
    spec: RequestSpec,
    shared: RequestWeighing,
    totals: list[float],
) -> None:
    by_group: list[tuple[float, list[int]]] | None = None
    if _multiplier_from_aggregates_only(weigher):
        # Hosts in the same aggregates share a multiplier: ask once per group, before the raw
        # values, so a weigher every host multiplies by 0 (NumInstancesWeigher by default)
        # costs nothing.
        by_group = shared.multipliers(weigher)
        if not any(multiplier for multiplier, _ in by_group):
            return
    values = shared.raw_values(weigher, spec)
    floor, ceiling = weigher.minval, weigher.maxval
    smallest, largest = min(values), max(values)
    # Clamping changes nothing when every value is already within the bounds (the usual case).
    if floor is not None and smallest < floor:
        values = [max(floor, v) for v in values]
        smallest, largest = max(floor, smallest), max(floor, largest)
    if ceiling is not None and largest > ceiling:
        values = [min(ceiling, v) for v in values]
        smallest, largest = min(ceiling, smallest), min(ceiling, largest)
    low = float(floor if floor is not None else smallest)
    high = float(ceiling if ceiling is not None else largest)
    if low == high:
        return  # every host normalises to 0: the multiplier cannot matter
    span = high - low
    if by_group is not None and len(by_group) == 1:
        multiplier = by_group[0][0]  # one group holds every host, in order
        totals[:] = [t + multiplier * ((v - low) / span) for t, v in zip(totals, values)]
        return
    normalised = [(v - low) / span for v in values]
    if by_group is not None:
        for multiplier, members in by_group:
            if multiplier:
                for i in members:
                    totals[i] += multiplier * normalised[i]
    else:
        for i, host in enumerate(hosts):
            multiplier = weigher.weight_multiplier(host)
            if multiplier:
                totals[i] += multiplier * normalised[i]


def _raw_values(weigher: HostWeigher, hosts: list[HostState], spec: RequestSpec) -> list[float]:
    # A weigher may offer raw_weights(hosts, spec), the same values in one call: over thousands
    # of hosts a call per host is most of the cost.
    batch = getattr(weigher, "raw_weights", None)
    if batch is not None:
        return list(batch(hosts, spec))
    raw = weigher.raw_weight
    return [raw(h, spec) for h in hosts]


def _by_aggregates(hosts: list[HostState]) -> list[tuple[HostState, list[int]]]:
    """Host positions grouped by the set of aggregates the host is in, each group with one of its hosts.

    Keyed by aggregate uuids: within one request an aggregate has one set of metadata.
    """
    groups: dict[tuple[str, ...], tuple[HostState, list[int]]] = {}
    for i, host in enumerate(hosts):
        key = tuple([a.uuid for a in host.aggregates]) if host.aggregates else ()
        group = groups.get(key)
        if group is None:
            groups[key] = (host, [i])
        else:
            group[1].append(i)
    return list(groups.values())


def _multiplier_from_aggregates_only(weigher: HostWeigher) -> bool:
    # The base class reads config plus aggregate metadata only; a subclass that overrides
    # weight_multiplier may look at anything, unless it declares otherwise.
    cls = type(weigher)
    return cls.weight_multiplier is HostWeigher.weight_multiplier or bool(
        getattr(cls, "multiplier_from_aggregates_only", False)
    )


def _raw_from_host_only(weigher: HostWeigher) -> bool:
    # Declared by the class itself: a subclass may read the spec in its own raw_weight.
    return bool(vars(type(weigher)).get("raw_from_host_only", False))
