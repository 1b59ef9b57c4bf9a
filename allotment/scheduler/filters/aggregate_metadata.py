"""Reading host aggregate metadata the way the aggregate-aware filters need it."""

from __future__ import annotations

from collections.abc import Callable

from allotment.scheduler.host_state import HostState

__all__ = ["metadata_by_key", "min_override", "values_of"]


def metadata_by_key(host: HostState) -> dict[str, set[str]]:
    """Every metadata key of the host's aggregates -> the union of its values, comma lists split and stripped."""
    merged: dict[str, set[str]] = {}
    for agg in host.aggregates:
        for key, raw in agg.metadata.items():
            merged.setdefault(key, set()).update(part.strip() for part in raw.split(","))
    return merged


def values_of(host: HostState, key: str) -> set[str]:
    """The raw values of one metadata key across the host's aggregates (not split)."""
    return {agg.metadata[key] for agg in host.aggregates if key in agg.metadata}


def min_override(host: HostState, key: str, default: int, cast: Callable[[str], int] = int) -> int:
    """The smallest well-formed aggregate value of ``key``, else ``default``.

    A malformed value is skipped rather than failing the host: the config value stays the limit.
    """
    found = []
    for raw in values_of(host, key):
        try:
            found.append(cast(raw))
        except ValueError:
            continue
    return min(found) if found else default
