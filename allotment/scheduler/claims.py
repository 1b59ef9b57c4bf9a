"""Claiming allocation requests in placement, and tracking what one request has taken so far.

Placement's answer to one GET /allocation_candidates is a snapshot. While a request places
its instances one after the other, ``Ledger`` subtracts what it has already claimed from the
provider summaries, so instance 2 is not offered an allocation request that instance 1's
claim has just used up (a nested host may still fit through another candidate, say the other
NUMA node). The ledger only knows this request's own claims: another scheduler's are found
out by placement refusing the claim with a 409, which is never an overcommit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from allotment.client import Allocations, Conflict, GenerationConflict, NotFound, PlacementClient

__all__ = [
    "INSTANCE",
    "MIGRATION",
    "Ledger",
    "as_allocations",
    "claim",
    "delete_claim",
    "is_consumer_conflict",
]

# Consumer types (placement 1.38+).
INSTANCE = "INSTANCE"
MIGRATION = "MIGRATION"


class Ledger:
    """Free capacity per provider and resource class: the summaries' capacity - used - what we took."""

    def __init__(self, summaries: Mapping[str, Any]) -> None:
        self.summaries = summaries
        self.taken: dict[str, dict[str, int]] = {}

    def root_of(self, rp: str) -> str:
        summary = self.summaries.get(rp)
        return (summary.get("root_provider_uuid") if summary else None) or rp

    def fits(self, request: Mapping[str, Any]) -> bool:
        for rp, alloc in request["allocations"].items():
            summary = self.summaries.get(rp)
            if summary is None:
                continue  # not summarised: placement will judge the claim
            resources = summary.get("resources") or {}
            taken = self.taken.get(rp, {})
            for rc, amount in alloc["resources"].items():
                figures = resources.get(rc)
                if figures is not None and amount + taken.get(rc, 0) > figures["capacity"] - figures["used"]:
                    return False
        return True

    def take(self, request: Mapping[str, Any]) -> None:
        for rp, alloc in request["allocations"].items():
            taken = self.taken.setdefault(rp, {})
            for rc, amount in alloc["resources"].items():
                taken[rc] = taken.get(rc, 0) + amount

    def tree_resources(self, request: Mapping[str, Any], root: str) -> dict[str, int]:
        """The request's amounts per class on the providers of ``root``'s tree (sharing providers left out)."""
        out: dict[str, int] = {}
        for rp, alloc in request["allocations"].items():
            if self.root_of(rp) != root:
                continue
            for rc, amount in alloc["resources"].items():
                out[rc] = out.get(rc, 0) + amount
        return out


def as_allocations(
    allocations: Mapping[str, Any], *, project_id: str | None, user_id: str | None, consumer_type: str,
    generation: int | None = None,
) -> Allocations:
    """A consumer's ``Allocations`` from placement's shape (provider uuid -> {"resources": {class: amount}})."""
    return Allocations(allocations={rp: dict(a["resources"]) for rp, a in allocations.items()},
                       project_id=project_id, user_id=user_id, consumer_generation=generation,
                       consumer_type=consumer_type)


def claim(placement: PlacementClient, consumer: str, request: Mapping[str, Any], *, project_id: str, user_id: str,
          consumer_type: str = INSTANCE, maybe_empty: bool = False) -> None:
    """Claim ``request`` for a new consumer (generation None); placement's errors propagate.

    ``maybe_empty``: an earlier claim for the consumer was refused for naming a provider that
    no longer exists. Placement (as upstream) keeps the consumers such a write named, holding
    nothing at generation 0, so when generation None is refused as a consumer conflict the
    claim is made once more at generation 0.
    """
    def put(generation: int | None) -> None:
        placement.put_allocations(consumer, as_allocations(request["allocations"], project_id=project_id,
                                                           user_id=user_id, consumer_type=consumer_type,
                                                           generation=generation))
    try:
        put(None)
    except GenerationConflict:
        if not maybe_empty:
            raise
        put(0)


def delete_claim(placement: PlacementClient, consumer: str) -> None:
    """Drop every allocation of ``consumer``; one that holds none is fine."""
    try:
        placement.delete_allocations(consumer)
    except NotFound:
        pass


def is_consumer_conflict(exc: Conflict) -> bool:
    """The 409 says the consumer already exists or changed meanwhile, not that the host is full.

    Placement answers both with 409; only a consumer's generation mismatch carries the code
    ``placement.concurrent_update`` (a full provider carries none), which the client raises
    as GenerationConflict.
    """
    return isinstance(exc, GenerationConflict)
