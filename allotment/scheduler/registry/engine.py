"""The registry's database engine and transactions: the shared ones of ``allotment.infra``."""

from __future__ import annotations

from allotment.infra.database import Database
from allotment.infra.urls import normalize_url

__all__ = ["Database", "normalize_url"]
