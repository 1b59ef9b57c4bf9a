"""Keep placement in step with the registry: aggregate membership and the disabled trait.

Nova's aggregate API also puts the host's root provider into the placement aggregate of
the same uuid, and its compute service sets ``COMPUTE_STATUS_DISABLED`` on the root
provider while the service is disabled. The scheduler's request filters rely on both
(``member_of=in:<aggregates>``, ``root_required=!COMPUTE_STATUS_DISABLED``), so every
registry change to a host's aggregates or disabled flag is followed by a call here.

Every write is a read-modify-write of the provider's aggregates or traits under its
generation: a 409 ``placement.concurrent_update`` (someone else changed the provider in
between) is retried from a fresh read, and nothing is written when the provider already
agrees, so every call is idempotent.

``sync_host`` takes what it wants from the registry *after* reading the provider's
generation. Two requests changing one host at once (add to an aggregate, remove from it)
therefore cannot leave placement on the older registry state: the later registry write is
either seen by the earlier request's read, or its own placement write bumps the
generation and sends the earlier request round again.

Aggregates the registry does not know (a shared storage pool's, say) are never removed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import httpx

from allotment.client import GenerationConflict, NotFound, PlacementClient, PlacementError
from allotment.scheduler.errors import NotFound as HostNotFound
from allotment.scheduler.errors import PlacementSyncError, ProviderNotFound, SyncConflict
from allotment.scheduler.registry.models import Aggregate, Host

__all__ = [
    "DISABLED_TRAIT",
    "HostSync",
    "PlacementSync",
    "PlacementSyncError",
    "ProviderNotFound",
    "RegistryView",
    "SyncConflict",
]

DISABLED_TRAIT = "COMPUTE_STATUS_DISABLED"
DEFAULT_ATTEMPTS = 5

T = TypeVar("T")
_Change = Callable[[frozenset[str]], frozenset[str]]


class RegistryView(Protocol):
    """What the sync reads from the registry: ``Registry`` and ``SchedulerClient`` both fit."""

    def get_host(self, name: str) -> Host: ...

    def list_hosts(self) -> list[Host]: ...

    def list_aggregates(self) -> list[Aggregate]: ...


@dataclass
class HostSync:
    """What one host's sync changed in placement (or why it could not)."""

    host: str
    provider_uuid: str | None = None
    added: list[str] = field(default_factory=list)  # aggregate uuids
    removed: list[str] = field(default_factory=list)
    disabled: bool | None = None  # True: trait added, False: trait removed, None: left as it was
    error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.disabled is not None)


class PlacementSync:
    def __init__(self, placement: PlacementClient, *, attempts: int = DEFAULT_ATTEMPTS) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.placement = placement
        self.attempts = attempts

    # ---- single changes ------------------------------------------------------------------

    def add_host_to_aggregate(self, root_uuid: str, agg_uuid: str) -> bool:
        """Put the provider in the placement aggregate; True when placement changed."""
        return bool(self._update(root_uuid, "aggregates", lambda cur: cur | {agg_uuid})[0])

    def remove_host_from_aggregate(self, root_uuid: str, agg_uuid: str) -> bool:
        """Take the provider out of the placement aggregate; True when placement changed."""
        return bool(self._update(root_uuid, "aggregates", lambda cur: cur - {agg_uuid})[1])

    def set_disabled(self, root_uuid: str, disabled: bool) -> bool:
        """Add (disabled) or remove (enabled) COMPUTE_STATUS_DISABLED; True when placement changed."""
        added, removed = self._update(root_uuid, "traits", lambda cur: _with(cur, DISABLED_TRAIT, disabled))
        return bool(added or removed)

    # ---- from the registry ---------------------------------------------------------------

    def sync_aggregates(self, registry: RegistryView, name: str, managed: Collection[str]) -> HostSync:
        """Make the provider's membership of the ``managed`` aggregates match host ``name`` in the registry.

        Aggregates outside ``managed`` stay as they are, except that the host's own registry
        aggregates are always added.
        """
        out = HostSync(name)

        def change(current: frozenset[str], host: Host) -> frozenset[str]:
            return (current - frozenset(managed)) | frozenset(host.aggregates)

        added, removed = self._update_from_registry(registry, name, "aggregates", change, out)
        out.added, out.removed = sorted(added), sorted(removed)
        return out

    def sync_disabled(self, registry: RegistryView, name: str) -> HostSync:
        """Set or clear COMPUTE_STATUS_DISABLED as host ``name`` is disabled or not in the registry."""
        out = HostSync(name)
        added, removed = self._update_from_registry(
            registry, name, "traits", lambda cur, host: _with(cur, DISABLED_TRAIT, host.disabled), out)
        out.disabled = True if added else False if removed else None
        return out

    def sync_host(self, registry: RegistryView, name: str, managed: Collection[str]) -> HostSync:
        """Both: the host's aggregates (among ``managed``) and its disabled trait.

        Raises the registry's NotFound when the host is not registered, ProviderNotFound when
        its root provider is missing from placement.
        """
        out = self.sync_aggregates(registry, name, managed)
        out.disabled = self.sync_disabled(registry, name).disabled
        return out

    def sync_all(self, registry: RegistryView, hosts: Iterable[str] | None = None) -> list[HostSync]:
        """Reconcile every registered host (or those named): a repair after failed or missed syncs.

        Every registry aggregate is managed: a provider in one its host is not in leaves it.
        A host whose provider is missing from placement, or that cannot be written for
        concurrent changes, gets an ``error`` and the others go on; placement unreachable or
        refusing raises PlacementSyncError.
        """
        managed = frozenset(a.uuid for a in registry.list_aggregates())
        roots = {h.name: h.provider_uuid for h in registry.list_hosts()}
        report = []
        for name in (roots if hosts is None else dict.fromkeys(hosts)):
            try:
                report.append(self.sync_host(registry, name, managed))
            except (HostNotFound, ProviderNotFound, SyncConflict) as exc:
                report.append(HostSync(name, roots.get(name), error=exc.detail))
        return report

    # ---- plumbing ------------------------------------------------------------------------

    def _update_from_registry(self, registry: RegistryView, name: str, kind: str,
                              change: Callable[[frozenset[str], Host], frozenset[str]],
                              out: HostSync) -> tuple[frozenset[str], frozenset[str]]:
        root = registry.get_host(name).provider_uuid
        for _ in range(self.attempts):
            moved: list[str] = []

            def fresh(current: frozenset[str], root: str = root) -> frozenset[str]:
                # Read after placement's generation: see the module docstring.
                host = registry.get_host(name)
                if host.provider_uuid != root:
                    moved.append(host.provider_uuid)
                    return current
                return change(current, host)

            result = self._update(root, kind, fresh)
            if not moved:
                out.provider_uuid = root
                return result
            root = moved[0]  # re-registered on another provider meanwhile: sync that one
        raise SyncConflict(f"host {name!r} kept moving to another root provider; try again")

    def _update(self, root_uuid: str, kind: str, change: _Change) -> tuple[frozenset[str], frozenset[str]]:
        """Read-modify-write the provider's ``kind`` (aggregates or traits); (added, removed)."""
        for _ in range(self.attempts):
            generation, current = self._read(root_uuid, kind)
            wanted = change(current)
            if wanted == current:
                return frozenset(), frozenset()
            try:
                self._write(root_uuid, kind, generation, wanted)
            except GenerationConflict:
                continue
            return wanted - current, current - wanted
        raise SyncConflict(f"the {kind} of resource provider {root_uuid} changed under every one of "
                           f"{self.attempts} attempts (placement.concurrent_update); try again")

    def _read(self, root_uuid: str, kind: str) -> tuple[int, frozenset[str]]:
        read = self.placement.get_aggregates if kind == "aggregates" else self.placement.get_provider_traits
        generation, values = self._call("GET", root_uuid, kind, lambda: read(root_uuid))
        return int(generation), frozenset(values)

    def _write(self, root_uuid: str, kind: str, generation: int, values: frozenset[str]) -> None:
        write = self.placement.set_aggregates if kind == "aggregates" else self.placement.set_provider_traits
        self._call("PUT", root_uuid, kind, lambda: write(root_uuid, generation, sorted(values)))

    def _call(self, method: str, root_uuid: str, kind: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except GenerationConflict:
            raise
        except NotFound as exc:
            raise ProviderNotFound(f"resource provider {root_uuid} does not exist in placement") from exc
        except PlacementError as exc:
            code = f" {exc.code}" if exc.code else ""
            raise PlacementSyncError(f"placement refused {method} /resource_providers/{root_uuid}/{kind}: "
                                     f"{exc.status}{code} {exc.detail}") from exc
        except httpx.HTTPError as exc:
            raise PlacementSyncError(f"cannot reach placement: {exc}") from exc


def _with(values: frozenset[str], item: str, present: bool) -> frozenset[str]:
    return values | {item} if present else values - {item}
