"""Small helpers shared by the domain modules."""

from __future__ import annotations

import datetime as dt

__all__ = ["MAX_INT", "now"]

# Largest value of a 32-bit signed column; upstream bounds inventory fields by it.
MAX_INT = 2147483647
# Largest float a single-precision SQL column holds; bounds allocation_ratio.
SQL_SP_FLOAT_MAX = 3.40282e38


def now() -> dt.datetime:
    """The current UTC time, naive, as stored in the timestamp columns."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
