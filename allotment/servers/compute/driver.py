"""The driver seam: what a compute agent asks of a hypervisor. ``FakeDriver`` only pretends, like Nova's fake virt driver.

A real driver (libvirt, a container runtime) implements ``Driver``; the agent calls it from
its message handlers, one call per build, move or delete, and turns ``BuildFailed`` into a
reschedule.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["BuildFailed", "Driver", "FakeDriver"]


class BuildFailed(Exception):
    """The guest could not be spawned here; the message says why (it ends up in the server's fault)."""


class Driver(Protocol):
    def spawn(self, instance: str, flavor: Mapping[str, Any], image: Mapping[str, Any]) -> None:
        """Start the guest; raise BuildFailed when it cannot run on this host."""

    def destroy(self, instance: str) -> None:
        """Stop and remove the guest; one that is not here is fine."""

    def list_instances(self) -> list[str]:
        """The guests this host runs."""


class FakeDriver:
    """Guests are names in a set. ``spawn_time`` seconds per spawn; ``failure_rate`` of spawns raise BuildFailed."""

    def __init__(self, *, spawn_time: float = 0.0, failure_rate: float = 0.0, seed: int | None = None) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within 0..1, not {failure_rate}")
        if spawn_time < 0:
            raise ValueError(f"spawn_time must not be negative, not {spawn_time}")
        self.spawn_time = spawn_time
        self.failure_rate = failure_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._guests: set[str] = set()

    def spawn(self, instance: str, flavor: Mapping[str, Any], image: Mapping[str, Any]) -> None:
        if self.spawn_time:
            time.sleep(self.spawn_time)
        with self._lock:
            if self.failure_rate and self._rng.random() < self.failure_rate:
                raise BuildFailed(f"fake driver: spawn of {instance} failed (failure rate {self.failure_rate})")
            self._guests.add(instance)

    def destroy(self, instance: str) -> None:
        with self._lock:
            self._guests.discard(instance)

    def list_instances(self) -> list[str]:
        with self._lock:
            return sorted(self._guests)
