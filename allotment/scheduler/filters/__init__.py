"""The filters that ship with allotment, one module per family (see the entry points in pyproject.toml)."""

from allotment.scheduler.errors import FilterError

__all__ = ["FilterError"]
