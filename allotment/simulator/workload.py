"""What arrives: flavors, the synthetic generator (seeded) and the CSV trace format."""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_FLAVORS",
    "TRACE_COLUMNS",
    "Arrival",
    "Lifetime",
    "SimFlavor",
    "TraceError",
    "WorkloadError",
    "parse_flavor",
    "parse_lifetime",
    "read_trace",
    "synthetic",
]

TRACE_COLUMNS = ("timestamp", "flavor", "lifetime")


class WorkloadError(ValueError):
    """A workload description (flavor, lifetime distribution) that cannot be used; the message says why."""


class TraceError(WorkloadError):
    """A trace file that cannot be read: the message names the file, the line and the field."""


@dataclass(frozen=True)
class SimFlavor:
    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int = 0
    weight: float = 1.0  # share of the synthetic mix

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# CPU-heavy (c1) and memory-heavy (r1) shapes beside the general ones make stranded capacity visible.
DEFAULT_FLAVORS: tuple[SimFlavor, ...] = (
    SimFlavor("m1.small", 1, 2048, 20, 40),
    SimFlavor("m1.medium", 2, 4096, 40, 25),
    SimFlavor("m1.large", 4, 8192, 80, 15),
    SimFlavor("c1.xlarge", 8, 8192, 80, 10),
    SimFlavor("r1.xlarge", 2, 32768, 80, 10),
)


@dataclass(frozen=True)
class Arrival:
    """An instance asked for at ``time`` (simulated seconds), living ``lifetime`` seconds (None: to the end)."""

    time: float
    flavor: str
    lifetime: float | None


def parse_flavor(text: str) -> SimFlavor:
    """``NAME:VCPUS:MEMORY_MB[:DISK_GB[:WEIGHT]]``."""
    parts = text.split(":")
    if len(parts) < 3 or len(parts) > 5 or not parts[0]:
        raise WorkloadError(f"flavor {text!r}: expected NAME:VCPUS:MEMORY_MB[:DISK_GB[:WEIGHT]]")
    try:
        vcpus, memory = int(parts[1]), int(parts[2])
        disk = int(parts[3]) if len(parts) > 3 else 0
        weight = float(parts[4]) if len(parts) > 4 else 1.0
    except ValueError as exc:
        raise WorkloadError(f"flavor {text!r}: {exc}") from None
    if vcpus < 1 or memory < 1 or disk < 0 or not weight > 0 or math.isinf(weight):
        raise WorkloadError(f"flavor {text!r}: VCPUS and MEMORY_MB must be >= 1, DISK_GB >= 0, WEIGHT > 0")
    return SimFlavor(parts[0], vcpus, memory, disk, weight)


@dataclass(frozen=True)
class Lifetime:
    """How long instances live (seconds), from ``parse_lifetime``: exp, lognormal, uniform, fixed or forever."""

    kind: str
    params: tuple[float, ...] = ()

    def draw(self, rng: random.Random) -> float | None:
        if self.kind == "forever":
            return None
        if self.kind == "fixed":
            return self.params[0]
        if self.kind == "exp":
            return rng.expovariate(1.0 / self.params[0])
        if self.kind == "uniform":
            return rng.uniform(*self.params)
        return rng.lognormvariate(math.log(self.params[0]), self.params[1])  # lognormal

    def __str__(self) -> str:
        return ":".join([self.kind, *(f"{p:g}" for p in self.params)])


_LIFETIME_ARITY = {"forever": 0, "fixed": 1, "exp": 1, "uniform": 2, "lognormal": 2}


def parse_lifetime(text: str) -> Lifetime:
    kind, *rest = text.split(":")
    if kind not in _LIFETIME_ARITY:
        raise WorkloadError(f"lifetime {text!r}: use exp:MEAN, lognormal:MEDIAN:SIGMA, uniform:LOW:HIGH, "
                            "fixed:SECONDS or forever")
    if len(rest) != _LIFETIME_ARITY[kind]:
        raise WorkloadError(f"lifetime {text!r}: {kind} takes {_LIFETIME_ARITY[kind]} number(s)")
    try:
        params = tuple(float(p) for p in rest)
    except ValueError as exc:
        raise WorkloadError(f"lifetime {text!r}: {exc}") from None
    if any(not (p >= 0 and math.isfinite(p)) for p in params) or (kind in ("exp", "lognormal") and params[0] <= 0):
        raise WorkloadError(f"lifetime {text!r}: the numbers must be finite, positive (a mean or median above 0)")
    if kind == "uniform" and params[0] > params[1]:
        raise WorkloadError(f"lifetime {text!r}: LOW is above HIGH")
    return Lifetime(kind, params)


def synthetic(count: int, rate: float, lifetime: Lifetime, flavors: Sequence[SimFlavor],
              rng: random.Random) -> list[Arrival]:
    """``count`` arrivals, a Poisson process of ``rate`` per simulated second, flavors drawn by weight."""
    if count < 0 or not rate > 0:
        raise WorkloadError("arrivals must be >= 0 and the rate above 0")
    names = [f.name for f in flavors]
    weights = [f.weight for f in flavors]
    out: list[Arrival] = []
    t = 0.0
    for _ in range(count):
        t += rng.expovariate(rate)
        out.append(Arrival(t, rng.choices(names, weights)[0], lifetime.draw(rng)))
    return out


def _number(path: Path, line: int, column: str, text: str, *, allow_empty: bool) -> float | None:
    text = text.strip()
    if not text and allow_empty:
        return None
    try:
        value = float(text)
    except ValueError:
        raise TraceError(f"{path}:{line}: {column} {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise TraceError(f"{path}:{line}: {column} {text!r} must be a finite number >= 0")
    return value


def read_trace(path: str | Path, flavors: Iterable[str]) -> list[Arrival]:
    """The arrivals of a CSV trace (header ``timestamp,flavor,lifetime``; extra columns and ``#`` lines ignored).

    Times are shifted so the first arrival is at 0; rows may come in any order (sorted, stably).
    """
    path = Path(path)
    known = set(flavors)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot read the trace: {exc}") from None
    lines = [(n, row) for n, row in enumerate(text.splitlines(), 1) if row.strip() and not row.lstrip().startswith("#")]
    if not lines:
        raise TraceError(f"{path}: the trace is empty (expected a header {','.join(TRACE_COLUMNS)})")
    reader = csv.reader([row for _, row in lines])
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in TRACE_COLUMNS if c not in header]
    if missing:
        raise TraceError(f"{path}:{lines[0][0]}: the header lacks {', '.join(missing)} "
                         f"(expected {','.join(TRACE_COLUMNS)}, got {','.join(header)})")
    at = {c: header.index(c) for c in TRACE_COLUMNS}
    out: list[Arrival] = []
    for (line, _), row in zip(lines[1:], reader, strict=True):
        if len(row) < len(header):
            raise TraceError(f"{path}:{line}: {len(row)} field(s), the header has {len(header)}")
        flavor = row[at["flavor"]].strip()
        if flavor not in known:
            raise TraceError(f"{path}:{line}: unknown flavor {flavor!r} (known: {', '.join(sorted(known))}; "
                             "add it with --flavor NAME:VCPUS:MEMORY_MB[:DISK_GB])")
        ts = _number(path, line, "timestamp", row[at["timestamp"]], allow_empty=False)
        life = _number(path, line, "lifetime", row[at["lifetime"]], allow_empty=True)
        assert ts is not None
        out.append(Arrival(ts, flavor, life))
    if not out:
        raise TraceError(f"{path}: the trace has a header and no rows")
    out.sort(key=lambda a: a.time)
    start = out[0].time
    return [Arrival(a.time - start, a.flavor, a.lifetime) for a in out]
