"""Errors a filter raises when the request itself is malformed (not when a host merely fails)."""

from __future__ import annotations

__all__ = ["FilterError"]


class FilterError(ValueError):
    """A request the filter cannot evaluate: a malformed JsonFilter query, extra spec or version predicate."""
