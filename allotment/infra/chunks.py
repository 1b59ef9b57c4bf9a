"""Ids in bounded slices, so an ``IN (...)`` list stays within every backend's limits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["IN_LIST_SIZE", "chunked"]

IN_LIST_SIZE = 500


def chunked(ids: Iterable[int], size: int = IN_LIST_SIZE) -> Iterator[list[int]]:
    """The distinct ``ids``, sorted, in lists of at most ``size``."""
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]
