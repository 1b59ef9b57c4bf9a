"""Building provider trees for the workloads that need their own providers (race, nested, explode).

A tree is a list of :class:`ProviderSpec`, parents before children. Each provider
is created by one chain, ``POST`` (with its parent), then inventory, traits and
aggregates, each ``PUT`` only when there is something to set and each carrying
the generation the previous answer gave.

This is setup, not measurement: a step that fails (upstream on SQLite answers
some concurrent writes with 500 "database is locked") is retried from the
provider's current state a few times, so every server ends up with the same
providers. The status counts are kept for the record.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from allotment.bench.http import Client, Recorder, Response

__all__ = ["ProviderSpec", "SetupResult", "build_trees", "ensure_traits", "seeded_uuid"]

ATTEMPTS = 6


def seeded_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class ProviderSpec:
    uuid: str
    name: str
    parent: str | None = None
    inventories: dict[str, dict[str, Any]] = field(default_factory=dict)
    traits: tuple[str, ...] = ()
    aggregates: tuple[str, ...] = ()


@dataclass
class SetupResult:
    wall_s: float
    providers: int
    failed: list[str]
    recorder: Recorder

    def details(self) -> dict[str, Any]:
        return {"wall_s": self.wall_s, "providers": self.providers, "failed": self.failed[:10],
                **self.recorder.details()}


def _generation(resp: Response | None, key: str) -> int | None:
    if resp is None or not resp.content:
        return None
    try:
        value = resp.json().get(key)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _current_generation(c: Client, rec: Recorder, rp: str) -> int | None:
    """The provider's generation, or None when it does not exist (or the GET failed)."""
    return _generation(rec.request(c, "GET", f"/resource_providers/{rp}"), "generation")


def ensure_provider(c: Client, rec: Recorder, spec: ProviderSpec, attempts: int = ATTEMPTS) -> bool:
    """Create ``spec`` and set its inventory, traits and aggregates; retried step by step. True on success."""
    base = f"/resource_providers/{spec.uuid}"
    body: dict[str, Any] = {"uuid": spec.uuid, "name": spec.name}
    if spec.parent:
        body["parent_provider_uuid"] = spec.parent
    gen = _generation(rec.request(c, "POST", "/resource_providers", body), "generation")
    steps: list[tuple[str, Any]] = []
    if spec.inventories:
        steps.append(("inventories", spec.inventories))
    if spec.traits:
        steps.append(("traits", list(spec.traits)))
    if spec.aggregates:
        steps.append(("aggregates", list(spec.aggregates)))
    for attempt in range(attempts):
        if gen is None:
            if attempt:
                time.sleep(0.05 * attempt)
            gen = _current_generation(c, rec, spec.uuid)
            if gen is None:
                gen = _generation(rec.request(c, "POST", "/resource_providers", body), "generation")
                continue
        while steps:
            key, value = steps[0]
            resp = rec.request(c, "PUT", f"{base}/{key}", {"resource_provider_generation": gen, key: value})
            gen = _generation(resp, "resource_provider_generation")
            if resp is None or gen is None:
                gen = None  # re-read and retry this step
                break
            steps.pop(0)
        if not steps and gen is not None:
            return True
    return False


def ensure_traits(c: Client, rec: Recorder, traits: Iterable[str]) -> None:
    """Create the custom traits (PUT /traits/NAME answers 201 or 204)."""
    for name in traits:
        if name.startswith("CUSTOM_"):
            for _ in range(ATTEMPTS):
                if rec.request(c, "PUT", f"/traits/{name}") is not None:
                    break
                time.sleep(0.05)


def build_trees(url: str, trees: list[list[ProviderSpec]], concurrency: int, timeout: float = 300.0) -> SetupResult:
    """Create the trees, ``concurrency`` at a time (each tree's providers in order, parents first)."""
    rec = Recorder()
    custom = sorted({t for tree in trees for p in tree for t in p.traits if t.startswith("CUSTOM_")})
    with Client(url, timeout=timeout) as c:
        ensure_traits(c, rec, custom)
    lock = threading.Lock()
    pending = iter(trees)
    failed: list[str] = []

    def worker() -> None:
        with Client(url, timeout=timeout) as c:
            while True:
                with lock:
                    tree = next(pending, None)
                if tree is None:
                    return
                for spec in tree:
                    if not ensure_provider(c, rec, spec):
                        with lock:
                            failed.append(spec.uuid)
                        break  # its children cannot be created

    threads = [threading.Thread(target=worker, name=f"trees-{i}") for i in range(max(1, min(concurrency, len(trees))))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return SetupResult(wall_s=time.perf_counter() - start, providers=sum(len(t) for t in trees), failed=failed,
                       recorder=rec)
