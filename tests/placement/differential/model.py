"""What the generator knows of the server's state, learned from upstream's answers.

After each request the runner asks upstream (uncompared GETs, never sent to allotment)
for the current state of what the request touched, so the next request can carry
current generations and refer to things that exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Consumer", "Model", "Provider"]

LATEST = {"x-auth-token": "admin", "openstack-api-version": "placement latest", "accept": "application/json"}


@dataclass
class Provider:
    uuid: str
    name: str
    generation: int = 0
    parent: str | None = None
    root: str | None = None
    inventories: dict[str, dict[str, Any]] = field(default_factory=dict)
    traits: set[str] = field(default_factory=set)
    aggregates: set[str] = field(default_factory=set)


@dataclass
class Consumer:
    uuid: str
    generation: int | None = None
    project: str | None = None
    user: str | None = None
    consumer_type: str | None = None
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Model:
    providers: dict[str, Provider] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    custom_classes: set[str] = field(default_factory=set)
    custom_traits: set[str] = field(default_factory=set)
    # Called with every state read from upstream (path, answer): lets the runner read the
    # same from allotment and catch a divergence that no answer showed at the time.
    observer: Callable[[str, httpx.Response], None] | None = None

    def _get(self, client: httpx.Client, path: str) -> httpx.Response:
        resp = client.get(path, headers=LATEST)
        if self.observer is not None:
            self.observer(path, resp)
        return resp

    # -- derived views ------------------------------------------------------------------------

    def children(self, uuid: str) -> list[str]:
        return [p.uuid for p in self.providers.values() if p.parent == uuid]

    def subtree(self, uuid: str) -> list[str]:
        out = [uuid]
        for child in self.children(uuid):
            out += self.subtree(child)
        return out

    def usage(self, rp: str) -> dict[str, int]:
        used: dict[str, int] = {}
        for c in self.consumers.values():
            for rc, n in c.allocations.get(rp, {}).items():
                used[rc] = used.get(rc, 0) + n
        return used

    def free(self, rp: str, rc: str) -> int:
        inv = self.providers[rp].inventories.get(rc)
        if inv is None:
            return 0
        cap = int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])
        return cap - self.usage(rp).get(rc, 0)

    # -- learning from upstream ---------------------------------------------------------------

    def refresh_provider(self, client: httpx.Client, uuid: str) -> None:
        r = self._get(client, f"/resource_providers/{uuid}")
        if r.status_code != 200:
            self.providers.pop(uuid, None)
            return
        body = r.json()
        p = self.providers.get(uuid) or Provider(uuid=uuid, name=body["name"])
        self.providers[uuid] = p
        p.name, p.parent, p.root = body["name"], body["parent_provider_uuid"], body["root_provider_uuid"]
        inv = self._get(client, f"/resource_providers/{uuid}/inventories").json()
        p.inventories = inv["inventories"]
        p.traits = set(self._get(client, f"/resource_providers/{uuid}/traits").json()["traits"])
        agg = self._get(client, f"/resource_providers/{uuid}/aggregates").json()
        p.aggregates = set(agg["aggregates"])
        p.generation = agg["resource_provider_generation"]

    def refresh_consumer(self, client: httpx.Client, uuid: str) -> set[str]:
        """Refresh one consumer; return the providers it held or holds (their usage changed)."""
        old = self.consumers.get(uuid)
        touched = set(old.allocations) if old else set()
        body = self._get(client, f"/allocations/{uuid}").json()
        if not body["allocations"] and body.get("consumer_generation") is None:
            self.consumers.pop(uuid, None)
            return touched
        c = Consumer(
            uuid=uuid,
            generation=body.get("consumer_generation"),
            project=body.get("project_id"),
            user=body.get("user_id"),
            consumer_type=body.get("consumer_type"),
            allocations={rp: dict(a["resources"]) for rp, a in body["allocations"].items()},
        )
        self.consumers[uuid] = c
        return touched | set(c.allocations)

    def refresh_registry(self, client: httpx.Client) -> None:
        rcs = self._get(client, "/resource_classes").json()["resource_classes"]
        self.custom_classes = {r["name"] for r in rcs if r["name"].startswith("CUSTOM_")}
        traits = self._get(client, "/traits?name=startswith:CUSTOM_").json()["traits"]
        self.custom_traits = set(traits)

    def refresh_all(self, client: httpx.Client) -> None:
        listed = self._get(client, "/resource_providers").json()["resource_providers"]
        for gone in set(self.providers) - {p["uuid"] for p in listed}:
            del self.providers[gone]
        for p in listed:
            self.refresh_provider(client, p["uuid"])
        for uuid in list(self.consumers):
            self.refresh_consumer(client, uuid)
        self.refresh_registry(client)

    def refresh(self, client: httpx.Client, providers: set[str], consumers: set[str]) -> None:
        touched = set(providers)
        for c in sorted(consumers):
            touched |= self.refresh_consumer(client, c)
        for rp in sorted(touched):
            self.refresh_provider(client, rp)
