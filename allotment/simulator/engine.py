"""One simulation: a fleet, one scheduler configuration, the workload played on a simulated clock.

The simulator keeps its own ledger of what it placed where (from the claimed allocation
requests) to sample utilisation and stranded capacity without asking placement every
step; ``verify_usages`` checks that ledger against placement's usages.
"""

from __future__ import annotations

import heapq
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from allotment.client import PlacementClient
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import Flavor, Image, RequestSpec
from allotment.simulator.configs import SimConfig
from allotment.simulator.events import HostEvent
from allotment.simulator.fleet import FleetSpec, Host, build_fleet
from allotment.simulator.workload import Arrival, SimFlavor

__all__ = ["RunResult", "Simulation", "reason_kind"]

# Heap order for events at the same instant: free capacity first, then host changes, then arrivals.
_DEPART, _RECOVER, _HOST_EVENT = 0, 1, 2
_IMAGE = Image(id="00000000-0000-4000-8000-000000000001", disk_format="qcow2")
_NUMBER = re.compile(r"\d+")


def reason_kind(reason: str) -> str:
    """A NoValidHost reason with its numbers replaced by N, so refusals of one kind count together."""
    return _NUMBER.sub("N", reason)


@dataclass
class RunResult:
    label: str
    config: dict[str, Any]
    summary: dict[str, Any]
    refusals: dict[str, int]
    samples: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "config": self.config, "summary": self.summary,
                "refusals": self.refusals, "samples": self.samples}


@dataclass
class _Live:
    host: int
    flavor: SimFlavor
    departs: float | None


@dataclass
class _Counters:
    arrivals: int = 0
    placed: int = 0
    refused: int = 0
    departures: int = 0
    host_failures: int = 0
    host_maintenances: int = 0
    instances_lost: int = 0  # on a host that failed
    evacuated: int = 0  # of those, placed again elsewhere
    evacuation_refused: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    schedule_s: list[float] = field(default_factory=list)


class Simulation:
    """Build with ``build()`` (placement providers and registry hosts), then ``run()`` once."""

    def __init__(self, placement: PlacementClient, registry: Registry, sim_config: SimConfig, fleet: FleetSpec,
                 flavors: Sequence[SimFlavor], arrivals: Sequence[Arrival], events: Sequence[HostEvent] = (), *,
                 seed: int = 1, sample_every: float | None = None, prefix: str = "sim-host-",
                 uuid_salt: str = "") -> None:
        self.placement = placement
        self.registry = registry
        self.sim_config = sim_config
        self.fleet = fleet
        self.flavors = {f.name: f for f in flavors}
        self.arrivals = list(arrivals)
        self.events = sorted(events, key=lambda e: e.at)
        self.seed = seed
        self.prefix = prefix
        self.end = self.arrivals[-1].time if self.arrivals else max((e.at for e in self.events), default=0.0)
        self.sample_every = sample_every if sample_every and sample_every > 0 else max(self.end / 200.0, 1.0)
        self.capacity = fleet.capacity()
        self.smallest_vcpus = min(f.vcpus for f in flavors)
        self.smallest_memory_mb = min(f.memory_mb for f in flavors)
        self.hosts: list[Host] = []
        self.by_name: dict[str, int] = {}
        self.live: dict[str, _Live] = {}
        self.on_host: dict[int, set[str]] = {}
        self.c = _Counters()
        self.samples: list[dict[str, Any]] = []
        self.setup_s = 0.0
        # Separate streams so that a change in one (say, more failures) leaves the others as they were.
        self._uuids = random.Random(f"allotment-sim:uuids:{seed}:{uuid_salt}")
        self._events_rng = random.Random(f"allotment-sim:events:{seed}")
        self.scheduler = Scheduler(placement, registry, sim_config.config,
                                   rng=random.Random(f"allotment-sim:scheduler:{seed}"))
        self._flavor_objs = {f.name: Flavor(f.name, vcpus=f.vcpus, memory_mb=f.memory_mb, root_gb=f.disk_gb)
                             for f in flavors}

    # ---- set-up ------------------------------------------------------------------------------

    def build(self) -> None:
        start = time.perf_counter()
        self.hosts = build_fleet(self.fleet, self.placement, self.registry, prefix=self.prefix, rng=self._uuids)
        self.by_name = {h.name: i for i, h in enumerate(self.hosts)}
        self.on_host = {i: set() for i in range(len(self.hosts))}
        self.setup_s = time.perf_counter() - start

    # ---- the loop ------------------------------------------------------------------------------

    def run(self, progress: Callable[[str], None] | None = None) -> RunResult:
        """Play the workload to its last arrival; ``progress`` hears about every tenth of the arrivals."""
        step = max(len(self.arrivals) // 10, 1)
        heap: list[tuple[float, int, int, Any]] = []
        seq = 0
        for ev in self.events:
            if ev.at <= self.end:
                heapq.heappush(heap, (ev.at, _HOST_EVENT, seq, ev))
                seq += 1
        next_sample = 0.0
        i = 0
        wall = time.perf_counter()
        while i < len(self.arrivals) or heap:
            arrival = self.arrivals[i] if i < len(self.arrivals) else None
            if heap and (arrival is None or heap[0][0] <= arrival.time):
                t, kind, _, data = heapq.heappop(heap)
                if t > self.end:
                    break
            else:
                assert arrival is not None
                t, kind, data = arrival.time, -1, arrival
                i += 1
                if progress is not None and i % step == 0:
                    progress(f"{i}/{len(self.arrivals)} arrivals, {self.c.placed + self.c.evacuated} placed, "
                             f"{self.c.refused} refused, {time.perf_counter() - wall:.0f} s")
            while next_sample <= t:
                self._sample(next_sample)
                next_sample += self.sample_every
            if kind == _DEPART:
                self._depart(data)
            elif kind == _RECOVER:
                self._recover(data)
            elif kind == _HOST_EVENT:
                for back in self._host_event(data, t):
                    heapq.heappush(heap, (back[0], _RECOVER, seq, back[1]))
                    seq += 1
            else:
                departs = self._arrive(data.flavor, data.lifetime, t)
                if departs is not None:
                    heapq.heappush(heap, (departs[0], _DEPART, seq, departs[1]))
                    seq += 1
        wall = time.perf_counter() - wall
        self._sample(self.end)
        return self._result(wall)

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._uuids.getrandbits(128), version=4))

    def _schedule(self, flavor: SimFlavor, instance: str) -> int | None:
        """The host index the scheduler claimed for ``instance``, or None (the refusal counted)."""
        spec = RequestSpec.from_flavor(self._flavor_objs[flavor.name], _IMAGE, project_id="sim-project",
                                       user_id="sim-user", instance_uuids=[instance])
        start = time.perf_counter()
        try:
            result = self.scheduler.select_destinations(spec, return_alternates=False)
        except NoValidHost as exc:
            self.c.schedule_s.append(time.perf_counter() - start)
            self.c.refusals[reason_kind(exc.reason)] += 1
            return None
        self.c.schedule_s.append(time.perf_counter() - start)
        index = self.by_name[result.selections[0][0].host]
        host = self.hosts[index]
        host.used_vcpus += flavor.vcpus
        host.used_memory_mb += flavor.memory_mb
        host.used_disk_gb += flavor.disk_gb
        self.on_host[index].add(instance)
        return index

    def _arrive(self, flavor_name: str, lifetime: float | None, t: float) -> tuple[float, str] | None:
        self.c.arrivals += 1
        flavor = self.flavors[flavor_name]
        instance = self._new_uuid()
        index = self._schedule(flavor, instance)
        if index is None:
            self.c.refused += 1
            return None
        self.c.placed += 1
        departs = None if lifetime is None else t + lifetime
        self.live[instance] = _Live(index, flavor, departs)
        return None if departs is None else (departs, instance)

    def _release(self, instance: str) -> _Live:
        """Free the instance's resources: placement, the registry and the ledger."""
        live = self.live.pop(instance)
        self.placement.delete_allocations(instance)
        self.registry.remove_instance(instance)
        host = self.hosts[live.host]
        host.used_vcpus -= live.flavor.vcpus
        host.used_memory_mb -= live.flavor.memory_mb
        host.used_disk_gb -= live.flavor.disk_gb
        self.on_host[live.host].discard(instance)
        return live

    def _depart(self, instance: str) -> None:
        if instance in self.live:  # an instance lost with its host and not evacuated has gone already
            self._release(instance)
            self.c.departures += 1

    def _host_event(self, ev: HostEvent, t: float) -> list[tuple[float, tuple[str, int]]]:
        """Fail or disable ``ev.count`` hosts in service; the (time, (kind, host)) recoveries to schedule."""
        candidates = [i for i, h in enumerate(self.hosts) if h.in_service]
        chosen = sorted(self._events_rng.sample(candidates, min(ev.count, len(candidates))))
        for index in chosen:
            host = self.hosts[index]
            if ev.kind == "failure":
                self.c.host_failures += 1
                host.failed = True
                self.registry.set_host_status(host.name, forced_down=True)
                for instance in sorted(self.on_host[index]):
                    self._evacuate(instance)
            else:
                self.c.host_maintenances += 1
                host.disabled = True
                self.registry.set_host_status(host.name, disabled=True, disabled_reason="simulated maintenance")
        if ev.duration is None:
            return []
        return [(t + ev.duration, (ev.kind, index)) for index in chosen]

    def _evacuate(self, instance: str) -> None:
        """The instance's host failed: drop it there and schedule it again now, its departure time unchanged."""
        live = self._release(instance)
        self.c.instances_lost += 1
        index = self._schedule(live.flavor, instance)
        if index is None:
            self.c.evacuation_refused += 1
            return
        self.c.evacuated += 1
        self.live[instance] = _Live(index, live.flavor, live.departs)

    def _recover(self, data: tuple[str, int]) -> None:
        kind, index = data
        host = self.hosts[index]
        if kind == "failure":
            host.failed = False
            self.registry.set_host_status(host.name, forced_down=False)
        else:
            host.disabled = False
            self.registry.set_host_status(host.name, disabled=False)

    # ---- figures -----------------------------------------------------------------------------

    def _sample(self, t: float) -> None:
        cap_v, cap_m, cap_d = self.capacity
        up = [h for h in self.hosts if not h.failed]
        serving = [h for h in up if not h.disabled]
        used_v = sum(h.used_vcpus for h in up)
        used_m = sum(h.used_memory_mb for h in up)
        used_d = sum(h.used_disk_gb for h in up)
        stranded_v = stranded_m = free_v = free_m = 0
        for h in serving:
            fv, fm = cap_v - h.used_vcpus, cap_m - h.used_memory_mb
            free_v += fv
            free_m += fm
            if fm < self.smallest_memory_mb:
                stranded_v += fv
            if fv < self.smallest_vcpus:
                stranded_m += fm
        serving_v, serving_m = cap_v * len(serving), cap_m * len(serving)
        self.samples.append({
            "t": round(t, 3),
            "alive": len(self.live),
            "arrivals": self.c.arrivals,
            "placed": self.c.placed,
            "refused": self.c.refused,
            "util_vcpu": _ratio(used_v, cap_v * len(up)),
            "util_memory": _ratio(used_m, cap_m * len(up)),
            "util_disk": _ratio(used_d, cap_d * len(up)),
            "free_vcpu": free_v,
            "free_memory_mb": free_m,
            "stranded_vcpu": stranded_v,
            "stranded_memory_mb": stranded_m,
            "stranded_vcpu_pct": 100.0 * _ratio(stranded_v, serving_v),
            "stranded_memory_pct": 100.0 * _ratio(stranded_m, serving_m),
            "hosts_in_service": len(serving),
            "hosts_failed": len(self.hosts) - len(up),
            "hosts_disabled": len(up) - len(serving),
            "hosts_empty": sum(1 for h in serving if h.used_vcpus == 0),
        })

    def _result(self, wall: float) -> RunResult:
        c = self.c
        calls = sorted(c.schedule_s)
        placements = c.placed + c.evacuated
        samples = self.samples

        def mean(key: str) -> float:
            return sum(s[key] for s in samples) / len(samples) if samples else 0.0

        summary = {
            "hosts": len(self.hosts),
            "arrivals": c.arrivals,
            "placed": c.placed,
            "refused": c.refused,
            "refusal_pct": 100.0 * _ratio(c.refused, c.arrivals),
            "departures": c.departures,
            "alive_at_end": len(self.live),
            "host_failures": c.host_failures,
            "host_maintenances": c.host_maintenances,
            "instances_lost": c.instances_lost,
            "evacuated": c.evacuated,
            "evacuation_refused": c.evacuation_refused,
            "simulated_s": round(self.end, 3),
            "sample_every_s": self.sample_every,
            "setup_s": round(self.setup_s, 3),
            "wall_s": round(wall, 3),
            "placements_per_s": round(placements / wall, 2) if wall > 0 else None,
            "decisions_per_s": round(len(calls) / wall, 2) if wall > 0 else None,
            "schedule_p50_ms": round(_pct(calls, 50) * 1000, 2) if calls else None,
            "schedule_p99_ms": round(_pct(calls, 99) * 1000, 2) if calls else None,
            "mean_util_vcpu": mean("util_vcpu"),
            "peak_util_vcpu": max((s["util_vcpu"] for s in samples), default=0.0),
            "mean_util_memory": mean("util_memory"),
            "final_util_vcpu": samples[-1]["util_vcpu"] if samples else 0.0,
            "final_util_memory": samples[-1]["util_memory"] if samples else 0.0,
            "mean_stranded_vcpu_pct": mean("stranded_vcpu_pct"),
            "mean_stranded_memory_pct": mean("stranded_memory_pct"),
            "final_stranded_vcpu_pct": samples[-1]["stranded_vcpu_pct"] if samples else 0.0,
            "final_stranded_memory_pct": samples[-1]["stranded_memory_pct"] if samples else 0.0,
            "final_hosts_empty": samples[-1]["hosts_empty"] if samples else 0,
        }
        return RunResult(self.sim_config.label, self.sim_config.describe(), summary,
                         dict(c.refusals.most_common()), samples)

    # ---- checks and clean-up ------------------------------------------------------------------

    def verify_usages(self) -> list[str]:
        """Hosts whose usages in placement differ from the ledger (one line each); [] when all agree."""
        wrong = []
        for h in self.hosts:
            got = self.placement.provider_usages(h.uuid)
            want = {"VCPU": h.used_vcpus, "MEMORY_MB": h.used_memory_mb, "DISK_GB": h.used_disk_gb}
            if {k: got.get(k, 0) for k in want} != want:
                wrong.append(f"{h.name}: placement {got}, simulator {want}")
        return wrong

    def cleanup(self) -> None:
        """Remove what the run wrote to placement: the live instances' allocations, then the providers."""
        for instance in list(self.live):
            self.placement.delete_allocations(instance)
        self.live.clear()
        for h in self.hosts:
            self.placement.delete_provider(h.uuid)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _pct(sorted_values: list[float], q: float) -> float:
    k = min(len(sorted_values) - 1, max(0, round(q / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]
