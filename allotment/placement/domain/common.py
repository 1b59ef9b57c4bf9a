"""Small helpers shared by the domain modules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import CursorResult

__all__ = ["MAX_INT", "inserted_id", "now"]

# Largest value of a 32-bit signed column; upstream bounds inventory fields by it.
MAX_INT = 2147483647
# Largest float a single-precision SQL column holds; bounds allocation_ratio.
SQL_SP_FLOAT_MAX = 3.40282e38


def now() -> dt.datetime:
    """The current UTC time, naive, as stored in the timestamp columns."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row a single-row INSERT just added."""
    key = result.inserted_primary_key
    if key is None:  # not a single-row INSERT: a programming error
        raise TypeError("no inserted primary key")
    return int(key[0])
