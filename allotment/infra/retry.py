"""Which database errors mean "run the whole transaction again", and the loop that does it.

Lock conflicts (SQLite busy), deadlocks and serialization failures say nothing
about the transaction itself: run again from the start, it can commit.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

__all__ = ["ATTEMPTS", "is_retryable", "retrying"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 20
_FIRST_DELAY = 0.005
_MAX_DELAY = 0.5
_MYSQL_CODES = (1213, 1205)  # deadlock, lock wait timeout
_SQLSTATES = ("40001", "40P01")  # serialization failure, deadlock (PostgreSQL)


def is_retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text or "busy" in text:
        return True
    args = getattr(orig, "args", None) or [None]
    if args[0] in _MYSQL_CODES:
        return True
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    return sqlstate in _SQLSTATES


def retrying(fn: Callable[[], T], *, attempts: int = ATTEMPTS, what: str = "transaction") -> T:
    """Call ``fn`` until it returns; a retryable error calls it again after a jittered, growing pause."""
    delay = _FIRST_DELAY
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DBAPIError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            LOG.debug("%s retried (attempt %d): %s", what, attempt, exc.orig)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, _MAX_DELAY)
    raise AssertionError("unreachable")
