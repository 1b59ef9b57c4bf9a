"""The last scheduling decisions of this process, with their reasons: for ``GET /decisions`` and the dashboard.

A bounded in-memory ring (``[scheduler] decision_log_size`` entries, default 200, oldest dropped): each
worker process keeps its own, so behind several workers one answer shows that worker's.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DEFAULT_SIZE", "Decision", "DecisionLog"]

DEFAULT_SIZE = 200


@dataclass(frozen=True)
class Decision:
    id: int  # increasing within the process
    at: float  # unix time the call ended
    kind: str  # "boot" or "move"
    reservation_id: str
    outcome: str  # "placed", "no_valid_host" or "error"
    flavor: str
    num_instances: int
    hosts: list[str]  # chosen host per placed instance (empty when refused)
    alternates: int  # alternates returned, all instances together
    hosts_considered: int  # hosts placement offered
    reason: str | None  # why nothing (or not enough) fit, or the error
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DecisionLog:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._entries: deque[Decision] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, **fields: Any) -> Decision:
        with self._lock:
            decision = Decision(id=next(self._ids), at=time.time(), **fields)
            self._entries.append(decision)
        return decision

    def recent(self, limit: int | None = None, *, outcome: str | None = None) -> list[Decision]:
        """Newest first."""
        with self._lock:
            entries = list(self._entries)
        entries.reverse()
        if outcome is not None:
            entries = [d for d in entries if d.outcome == outcome]
        return entries[:limit] if limit is not None else entries
