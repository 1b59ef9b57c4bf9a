"""A real fleet for scheduler tests: compute hosts as providers in placement (through the client) and in the registry.

    with open_fleet(tmp_path) as fleet:
        fleet.add_host("h1", vcpus=8, memory_mb=8192)
        scheduler = fleet.scheduler(max_attempts=3)
        result = scheduler.select_destinations(boot_spec(flavor()))

Placement runs in-process (``allotment.client.direct``) unless a client is given; the
registry is a real database (SQLite in the temporary directory unless a URL is given).
Everything here is importable by ``spawn`` child processes.
"""

from __future__ import annotations

import contextlib
import random
import uuid as uuidlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allotment.client import Inventory, PlacementClient, PlacementError, direct
from allotment.scheduler.config import SchedulerConfig, load_scheduler_config
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import Flavor, Image, RequestSpec, ServerGroup

__all__ = ["PROJECT", "USER", "Fleet", "boot_spec", "flavor", "open_fleet"]

PROJECT = "fleet-project"
USER = "fleet-user"


def flavor(name: str = "small", *, vcpus: int = 1, memory_mb: int = 512, root_gb: int = 1,
           extra_specs: Mapping[str, str] | None = None) -> Flavor:
    return Flavor(name=name, vcpus=vcpus, memory_mb=memory_mb, root_gb=root_gb, extra_specs=dict(extra_specs or {}))


def boot_spec(fl: Flavor | None = None, *, num_instances: int = 1, group: ServerGroup | None = None,
              image: Image | None = None, **kwargs: Any) -> RequestSpec:
    return RequestSpec.from_flavor(fl or flavor(), image, project_id=PROJECT, user_id=USER,
                                   num_instances=num_instances, server_group=group, **kwargs)


@dataclass
class Fleet:
    placement: PlacementClient
    registry: Registry
    roots: dict[str, str] = field(default_factory=dict)  # host name -> root provider uuid
    children: dict[str, list[str]] = field(default_factory=dict)  # host name -> child provider uuids

    # ---- building ---------------------------------------------------------------------------

    def add_host(self, name: str, *, vcpus: int = 8, memory_mb: int = 8192, disk_gb: int = 100,
                 cell: str | None = None, facts: Mapping[str, Any] | None = None,
                 numa: Sequence[Mapping[str, int]] = ()) -> str:
        """A compute host: a root provider with VCPU/MEMORY_MB/DISK_GB (or, with ``numa``, DISK_GB only
        on the root and each mapping as the inventory of one child provider), registered in the registry."""
        root = self.placement.create_provider(name)
        inventories = {"DISK_GB": Inventory(total=disk_gb)} if disk_gb else {}
        if not numa:
            inventories.update({"VCPU": Inventory(total=vcpus), "MEMORY_MB": Inventory(total=memory_mb)})
        self.placement.set_inventories(root.uuid, root.generation, inventories)
        for i, inventory in enumerate(numa):
            child = self.placement.create_provider(f"{name}_numa{i}", parent_uuid=root.uuid)
            self.placement.set_inventories(child.uuid, child.generation,
                                           {rc: Inventory(total=n) for rc, n in inventory.items()})
            self.children.setdefault(name, []).append(child.uuid)
        self.registry.register_host(name, root.uuid, {**({"cell": cell} if cell else {}), **(facts or {})})
        self.roots[name] = root.uuid
        return root.uuid

    def add_hosts(self, count: int, *, prefix: str = "host", **kwargs: Any) -> list[str]:
        names = [f"{prefix}{i:05d}" for i in range(count)]
        for name in names:
            self.add_host(name, **kwargs)
        return names

    def add_group(self, policy: str, *, rules: Mapping[str, int] | None = None) -> ServerGroup:
        """A server group in the registry, in the form a RequestSpec carries it."""
        return self.registry.create_group(f"group-{policy}", policy, rules=rules, project_id=PROJECT).to_spec()

    def scheduler(self, *, seed: int = 1, **options: Any) -> Scheduler:
        return Scheduler(self.placement, self.registry, scheduler_config(**options), rng=random.Random(seed))

    # ---- looking ----------------------------------------------------------------------------

    def host_names(self) -> dict[str, str]:
        return {uuid: name for name, uuid in self.roots.items()}

    def providers(self, name: str) -> list[str]:
        return [self.roots[name], *self.children.get(name, [])]

    def usages(self, name: str) -> dict[str, int]:
        """Summed over the host's providers, zeros left out."""
        out: dict[str, int] = {}
        for rp in self.providers(name):
            for rc, used in self.placement.provider_usages(rp).items():
                if used:
                    out[rc] = out.get(rc, 0) + used
        return out

    def total_usage(self) -> dict[str, dict[str, int]]:
        return {name: self.usages(name) for name in self.roots}

    def over_capacity(self) -> list[str]:
        """Every provider and class where usage > (total - reserved) * allocation_ratio."""
        bad = []
        for name in self.roots:
            for rp in self.providers(name):
                _, inventories = self.placement.get_inventories(rp)
                usages = self.placement.provider_usages(rp)
                for rc, inv in inventories.items():
                    capacity = (inv.total - inv.reserved) * inv.allocation_ratio
                    if usages.get(rc, 0) > capacity:
                        bad.append(f"{name} {rp} {rc}: {usages[rc]} > {capacity}")
        return bad

    def allocations(self, consumer: str) -> dict[str, dict[str, int]]:
        return self.placement.get_allocations(consumer).allocations

    def host_of(self, consumer: str) -> str | None:
        """The host whose providers hold the consumer's allocations (None when it holds nothing)."""
        held = self.allocations(consumer)
        for name in self.roots:
            if set(held) & set(self.providers(name)):
                return name
        return None


def scheduler_config(**options: Any) -> SchedulerConfig:
    return load_scheduler_config(None, **options)


@contextlib.contextmanager
def open_fleet(tmp: Path, *, registry_url: str | None = None,
               placement: PlacementClient | None = None) -> Iterator[Fleet]:
    """An empty fleet over a fresh in-process placement and registry in ``tmp``."""
    with contextlib.ExitStack() as stack:
        if placement is None:
            placement = stack.enter_context(direct(f"sqlite:///{tmp}/placement.sqlite"))
        registry = Registry.open(registry_url or f"sqlite:///{tmp}/registry.sqlite", heartbeat_refresh=0)
        stack.callback(registry.close)
        yield Fleet(placement, registry)


def add_ram_graded_hosts(fleet: Fleet) -> None:
    """Hosts a, b and c with 16, 8 and 4 GiB of RAM: the RAM weigher prefers them in that order."""
    fleet.add_host("a", memory_mb=16384)
    fleet.add_host("b", memory_mb=8192)
    fleet.add_host("c", memory_mb=4096)


def new_uuid() -> str:
    return str(uuidlib.uuid4())


# ---- child processes (importable under the spawn start method) -------------------------------------


def scheduling_worker(placement_url: str, registry_url: str, specs: list[dict[str, Any]], seed: int,
                      barrier: Any, results: Any) -> None:
    """One scheduler process with its own clients: place each spec (RequestSpec.to_dict()) in turn.

    Reports (index, outcomes) where an outcome is ("placed", instance uuids, hosts),
    ("no_valid_host", instance uuids, reason) or ("error", instance uuids, traceback).
    """
    import traceback

    from allotment.client import connect
    from allotment.scheduler.errors import NoValidHost

    outcomes: list[tuple[str, list[str], Any]] = []
    try:
        with connect(placement_url, timeout=60) as placement, \
                Registry.open(registry_url, migrate=False, heartbeat_refresh=0) as registry:
            scheduler = Scheduler(placement, registry, scheduler_config(), rng=random.Random(seed))
            barrier.wait(120)
            for data in specs:
                spec = RequestSpec.from_dict(data)
                try:
                    result = scheduler.select_destinations(spec)
                    outcomes.append(("placed", result.instance_uuids, result.hosts))
                except NoValidHost as exc:
                    outcomes.append(("no_valid_host", spec.instance_uuids, exc.reason))
                except Exception:  # noqa: BLE001 - reported to the parent
                    outcomes.append(("error", spec.instance_uuids, traceback.format_exc()))
    except BaseException:  # noqa: BLE001 - reported to the parent
        outcomes.append(("error", [], traceback.format_exc()))
    results.put((seed, outcomes))


class RecordingPlacement(PlacementClient):
    """A real client that notes (method, path, status) of every call; an error's status is its HTTP status."""

    def __init__(self, inner: PlacementClient) -> None:
        super().__init__(inner.http, inner.microversion)
        self.calls: list[tuple[str, str, int]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            body = super().request(method, path, **kwargs)
        except PlacementError as exc:
            self.calls.append((method, path, exc.status))
            raise
        self.calls.append((method, path, 200 if body is not None else 204))
        return body


class CompetingPlacement(PlacementClient):
    """A real client that, once placement has answered GET /allocation_candidates, lets a competitor
    claim first: the scheduler then claims against a placement that has changed under it."""

    def __init__(self, inner: PlacementClient, competitor: Any) -> None:
        super().__init__(inner.http, inner.microversion)
        self.competitor = competitor

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        body = super().request(method, path, **kwargs)
        if method == "GET" and path == "/allocation_candidates" and self.competitor is not None:
            competitor, self.competitor = self.competitor, None
            competitor()
        return body
