"""Record the SQL statements an engine sends, for tests that count a code path's statements."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa


@contextlib.contextmanager
def recorded_statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The statements ``engine`` sends while the block runs, in order (BEGINs sent to the driver directly are not seen)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
