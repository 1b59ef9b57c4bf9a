"""The filters that ship with allotment, one module per family (see the entry points in pyproject.toml)."""

from allotment.scheduler.filters.errors import FilterError

__all__ = ["FilterError"]
