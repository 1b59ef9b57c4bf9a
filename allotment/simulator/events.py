"""Host failures and maintenance windows, written ``AT:COUNT[:DURATION]`` in simulated seconds."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["EventError", "HostEvent", "parse_event"]

KINDS = ("failure", "maintenance")


class EventError(ValueError):
    """A host event that cannot be read; the message says why."""


@dataclass(frozen=True)
class HostEvent:
    """At ``at``, ``count`` hosts (drawn from the seed among those in service) fail or go into maintenance.

    A failure forces the host down and its instances are lost, then rescheduled elsewhere
    (evacuated) at the same moment; a maintenance disables the host (no new instances, the
    running ones stay). After ``duration`` seconds (None: never) the hosts come back.
    """

    kind: str
    at: float
    count: int
    duration: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_event(kind: str, text: str) -> HostEvent:
    if kind not in KINDS:
        raise EventError(f"unknown host event kind {kind!r}")
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise EventError(f"{kind} {text!r}: expected AT:COUNT[:DURATION] (simulated seconds)")
    try:
        at, count = float(parts[0]), int(parts[1])
        duration = float(parts[2]) if len(parts) == 3 else None
    except ValueError as exc:
        raise EventError(f"{kind} {text!r}: {exc}") from None
    if not (math.isfinite(at) and at >= 0) or count < 1 or (duration is not None and not (duration > 0 and
                                                                                          math.isfinite(duration))):
        raise EventError(f"{kind} {text!r}: AT must be >= 0, COUNT >= 1 and DURATION > 0")
    if kind == "maintenance" and duration is None:
        raise EventError(f"maintenance {text!r}: give its DURATION (AT:COUNT:DURATION)")
    return HostEvent(kind, at, count, duration)
