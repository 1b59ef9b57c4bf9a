"""Small helpers shared by the registry's operation modules."""

from __future__ import annotations

import datetime as dt
import re
import uuid as uuidlib
from typing import Any, Final

from sqlalchemy.engine import CursorResult

from allotment.scheduler.errors import InvalidInput

__all__ = ["UNSET", "check_name", "check_uuid", "new_id", "now"]


# Control characters and "/": a regular expression instead of a Python loop per character (every
# recorded instance checks its names).
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f/]")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final[Any] = _Unset()  # "leave this field as it is" (None means "clear it")


def now() -> dt.datetime:
    """Current UTC time, naive, as the timestamp columns hold it."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def check_uuid(value: object, what: str) -> str:
    """The canonical (lower-case, dashed) form of a uuid, or InvalidInput."""
    if isinstance(value, str):
        try:
            parsed = uuidlib.UUID(value)
        except ValueError:
            parsed = None
        # Only the dashed 36-character spelling: the others are ambiguous in URLs and logs.
        if parsed is not None and len(value) == 36:
            return str(parsed)
    raise InvalidInput(f"{what} {value!r} is not a valid UUID")


def check_name(value: object, what: str, max_len: int = 255) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(value) > max_len:
        raise InvalidInput(f"{what} is longer than {max_len} characters")
    if _FORBIDDEN.search(value):
        raise InvalidInput(f"{what} {value!r} contains a control character or '/'")
    return value


def new_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT just made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
